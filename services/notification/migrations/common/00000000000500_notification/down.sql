DROP TABLE notification_reminders;
DROP TABLE notification_deliveries;
DROP TABLE notifications;
DROP TABLE notification_certificates;
DROP TABLE notification_dossiers;
