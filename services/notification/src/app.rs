//! The application layer: the projection that turns events into notifications, the durable
//! reminder scheduler, the delivery worker and the queries behind ListNotifications and
//! WatchNotifications, all over one database.

mod delivery;
mod parties;
mod projection;
mod reminders;
mod store;
mod watch;

use std::sync::Arc;

use fleuve_aggregate::AppError;
use fleuve_store::Database;
use tokio::sync::watch as signal;

pub use delivery::DeliveryWorker;
pub use projection::{CERTIFICATE_TOPIC, DOSSIER_TOPIC, NotificationProjection};
pub use reminders::{FiredReminders, fire_due};
pub use store::Page;

use crate::domain::{NewNotification, Notification};
use crate::settings::Settings;

/// A stored notification or delivery the code cannot read: logged, never shown to a caller,
/// and a consumed event that meets one is parked (the mesh's one [`AppError`] mapping).
pub(crate) fn corrupt(notification_id: i64, reason: impl std::fmt::Display) -> AppError {
    AppError::internal(format!("stored notification {notification_id} cannot be read: {reason}"))
}

/// Wakes whoever waits for new notifications in this process (watch streams, the delivery
/// worker). Carries no data: the woken re-read the tables.
#[derive(Debug, Clone)]
pub(crate) struct Hub {
    sender: Arc<signal::Sender<u64>>,
}

impl Hub {
    fn new() -> Hub {
        Hub { sender: Arc::new(signal::Sender::new(0)) }
    }

    pub(crate) fn wake(&self) {
        self.sender.send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    pub(crate) fn subscribe(&self) -> signal::Receiver<u64> {
        self.sender.subscribe()
    }
}

/// The notification service over one database; cloning it shares the database and the hub.
#[derive(Debug, Clone)]
pub struct Notifications {
    db: Database,
    settings: Arc<Settings>,
    hub: Hub,
}

impl Notifications {
    pub fn new(db: Database, settings: Settings) -> Notifications {
        Notifications { db, settings: Arc::new(settings), hub: Hub::new() }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The projection the consumer runtime runs; its `applied` wakes this instance's watchers
    /// and delivery worker.
    pub fn projection(&self) -> NotificationProjection {
        NotificationProjection::new(self.settings.channels(), self.hub.clone())
    }

    /// Records a notification from another source than the homologation events (e.g. an order
    /// outcome), with a delivery per configured channel. `None` when `(source_id, kind)` was
    /// recorded before.
    pub async fn notify(&self, new: NewNotification) -> Result<Option<i64>, AppError> {
        let channels = self.settings.channels();
        let now = chrono::Utc::now();
        let id = self.db.transaction(move |conn| store::record(conn, &new, &channels, now)).await?;
        if id.is_some() {
            self.hub.wake();
        }
        Ok(id)
    }

    /// Fires the reminders due at `now` (see [`fire_due`]) and wakes this instance's watchers.
    pub async fn fire_due(&self, now: chrono::DateTime<chrono::Utc>) -> Result<FiredReminders, AppError> {
        let fired = fire_due(&self.db, &self.settings.channels(), now).await?;
        if !fired.notifications.is_empty() {
            self.hub.wake();
        }
        Ok(fired)
    }

    /// A page of `recipient`'s notifications, newest first, older than `before` when given.
    pub async fn list(
        &self,
        recipient: String,
        before: Option<i64>,
        size: i64,
    ) -> Result<Page<Notification>, AppError> {
        self.db.run(move |conn| store::page(conn, &recipient, before, size)).await
    }

    /// One notification with its deliveries.
    pub async fn get(&self, id: i64) -> Result<Option<Notification>, AppError> {
        self.db.run(move |conn| store::get(conn, id)).await
    }
}
