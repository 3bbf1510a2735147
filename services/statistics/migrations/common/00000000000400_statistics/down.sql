DROP TABLE stats_dossiers_rebuild;
DROP TABLE stats_dossiers;
