DROP TABLE certificate_view;
DROP TABLE dossier_view;
