//! WatchOrder: the order now, then each change until it is confirmed, failed or cancelled.
//! Changes committed by this process wake the watch at once, most with the order as it became
//! (no read needed); changes committed elsewhere (another replica) are seen by re-reading every
//! `settings.watch_poll`. A caller holds at most `settings.max_watches_per_caller` watches at
//! once on a process; one more is RESOURCE_EXHAUSTED.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use fleuve_proto::order::v1 as pb;
use tokio::sync::{broadcast, mpsc};

use super::{AppError, Caller, Orders, views};

fn is_terminal(order: &pb::Order) -> bool {
    matches!(order.status(), pb::OrderStatus::Confirmed | pb::OrderStatus::Failed | pb::OrderStatus::Cancelled)
}

/// One open watch of a caller, counted while it lives.
struct WatchSlot {
    watches: Arc<Mutex<HashMap<String, usize>>>,
    subject: String,
}

impl WatchSlot {
    /// A slot for `subject`, or `None` when it already holds `max`.
    fn take(watches: &Arc<Mutex<HashMap<String, usize>>>, subject: &str, max: usize) -> Option<WatchSlot> {
        let mut open = watches.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(subject.to_owned()).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(WatchSlot { watches: watches.clone(), subject: subject.to_owned() })
    }
}

impl Drop for WatchSlot {
    fn drop(&mut self) {
        let mut open = self.watches.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.subject) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.subject);
            }
        }
    }
}

impl Orders {
    /// A watch of one order the caller may see (`NOT_FOUND` otherwise).
    pub async fn watch_order(
        &self,
        caller: &Caller,
        order_id: String,
    ) -> Result<mpsc::Receiver<Result<pb::Order, AppError>>, AppError> {
        let max = self.settings.max_watches_per_caller;
        let slot = WatchSlot::take(&self.watches, &caller.principal.subject, max).ok_or_else(|| {
            fleuve_mesh::ServiceError::ResourceExhausted(format!(
                "at most {max} WatchOrder streams per caller at once; close one first"
            ))
        })?;
        // Subscribed before the first read, so no change between the two is missed.
        let mut changes = self.changes.subscribe();
        let first = self.get_order(caller, order_id).await?;
        let (sender, receiver) = mpsc::channel(16);
        let orders = self.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let order_id = first.order_id.clone();
            let mut last_version = first.version;
            let done = is_terminal(&first);
            if sender.send(Ok(first)).await.is_err() || done {
                return;
            }
            loop {
                let known = tokio::select! {
                    () = sender.closed() => return,
                    change = changes.recv() => match change {
                        Ok(change) if change.order_id != order_id => continue,
                        Ok(change) => change.order,
                        Err(broadcast::error::RecvError::Lagged(_)) => None,
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    () = tokio::time::sleep(orders.settings.watch_poll) => None,
                };
                let order = match known {
                    Some(order) => Arc::unwrap_or_clone(order),
                    None => {
                        let id = order_id.clone();
                        let row = match orders.db.run(move |conn| views::find(conn, &id)).await {
                            Ok(row) => row,
                            Err(error) => {
                                let _ = sender.send(Err(error)).await;
                                return;
                            }
                        };
                        let Some(order) = row.map(|r| r.order()).transpose().unwrap_or(None) else { continue };
                        order
                    }
                };
                if order.version <= last_version {
                    continue;
                }
                last_version = order.version;
                let done = is_terminal(&order);
                if sender.send(Ok(order)).await.is_err() || done {
                    return;
                }
            }
        });
        Ok(receiver)
    }
}
