//! WatchNotifications: a recipient's notifications after a cursor, then each new one as it is
//! committed, until the receiver goes away.

use fleuve_aggregate::AppError;
use tokio::sync::mpsc;

use super::{Notifications, store};
use crate::domain::Notification;

/// Notifications read per query; also the stream's buffer.
const CHUNK: i64 = 100;

impl Notifications {
    /// Streams `recipient`'s notifications with an id above `after_id`, oldest first, then the
    /// new ones. Woken in-process by the projection and the scheduler, and re-reading the table
    /// every `watch_poll` for notifications written by other processes. Ids are handed out in
    /// commit order, so the cursor never skips a notification committed late. The stream ends
    /// when the receiver is dropped, or after an error it carries.
    pub fn watch(&self, recipient: String, after_id: i64) -> mpsc::Receiver<Result<Notification, AppError>> {
        let (sender, receiver) = mpsc::channel(CHUNK as usize);
        let app = self.clone();
        tokio::spawn(async move {
            let mut wake = app.hub.subscribe();
            let mut cursor = after_id;
            loop {
                // Marked seen before reading, so a wake-up during the read is not lost.
                wake.borrow_and_update();
                let recipient_id = recipient.clone();
                let batch = app.db.run(move |conn| store::after(conn, &recipient_id, cursor, CHUNK)).await;
                let batch = match batch {
                    Ok(batch) => batch,
                    Err(error) => {
                        let _ = sender.send(Err(error)).await;
                        return;
                    }
                };
                let full = batch.len() as i64 == CHUNK;
                for notification in batch {
                    cursor = notification.id;
                    if sender.send(Ok(notification)).await.is_err() {
                        return;
                    }
                }
                if full {
                    continue;
                }
                tokio::select! {
                    () = sender.closed() => return,
                    () = async { if wake.changed().await.is_err() { std::future::pending::<()>().await } } => {}
                    () = tokio::time::sleep(app.settings.watch_poll) => {}
                }
            }
        });
        receiver
    }
}
