//! The application layer: every decision about an order — placing it, a saga reply, a missed
//! deadline, a cancellation — is ONE transaction that loads the order's stream, lets the
//! domain decide, appends the events with the expected version, queues the saga messages
//! they send through the outbox, replaces the order's deadline and rewrites its read-model
//! row. A crash before the commit changes nothing; after it, the relay sends the messages.

mod deadlines;
mod queries;
mod step;
mod views;
mod watch;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use fleuve_mesh::ServiceError;
use fleuve_proto::order::v1 as pb;
use fleuve_store::Database;
use fleuve_store::event_store::EventMetadata;
use tokio::sync::broadcast;
use uuid::Uuid;

pub use queries::{ListFilter, Page, PageRequest};
pub use step::{Advanced, Finished, advance};
pub use views::order_to_pb;

use fleuve_aggregate::{Aggregate as _, Retries, repository};

use crate::domain::{DomainError, Orchestrator, OrderCommand, OrderContext, PlaceOrder, SagaInput, SagaTimeouts};
pub use fleuve_aggregate::AppError;

/// Names the order ids: UUID v5 of (customer id, idempotency key) in this namespace, so a
/// retried PlaceOrder lands on the same stream whichever replica takes it.
const ORDER_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5d0f_4c1e_8a57_4b9e_9f0e_6c2a_1b3d_7e41);

/// The `[order]` section of the configuration: the saga's step deadlines (a step without its
/// reply by then fails and compensates).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrderConfig {
    pub stock_check_timeout_seconds: u64,
    pub payment_timeout_seconds: u64,
    pub stock_release_timeout_seconds: u64,
    /// Releases sent before an order fails with its compensation unconfirmed.
    pub max_release_attempts: u32,
    /// How often due deadlines are looked for, in milliseconds.
    pub deadline_interval_ms: u64,
    /// WatchOrder streams one caller may hold open at once on this process; one more is
    /// refused with RESOURCE_EXHAUSTED.
    pub max_watches_per_caller: u32,
}

impl Default for OrderConfig {
    fn default() -> Self {
        OrderConfig {
            stock_check_timeout_seconds: 30,
            payment_timeout_seconds: 60,
            stock_release_timeout_seconds: 30,
            max_release_attempts: 5,
            deadline_interval_ms: 1000,
            max_watches_per_caller: 100,
        }
    }
}

impl fleuve_mesh::config::Section for OrderConfig {
    const NAME: &'static str = "order";
}

impl From<&OrderConfig> for Settings {
    fn from(o: &OrderConfig) -> Settings {
        let seconds = |s: u64| chrono::Duration::seconds(i64::try_from(s.max(1)).unwrap_or(i64::MAX));
        Settings {
            timeouts: SagaTimeouts {
                stock_check: seconds(o.stock_check_timeout_seconds),
                payment: seconds(o.payment_timeout_seconds),
                stock_release: seconds(o.stock_release_timeout_seconds),
                max_release_attempts: o.max_release_attempts.max(1),
            },
            deadline_interval: std::time::Duration::from_millis(o.deadline_interval_ms.max(10)),
            max_watches_per_caller: usize::try_from(o.max_watches_per_caller).unwrap_or(usize::MAX),
            ..Settings::default()
        }
    }
}

/// The order service's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub timeouts: SagaTimeouts,
    /// How often due saga deadlines are looked for.
    pub deadline_interval: std::time::Duration,
    /// How often a watch re-reads its order when no change notification arrives (changes
    /// made by another process).
    pub watch_poll: std::time::Duration,
    /// Open WatchOrder streams per caller (subject) on this process.
    pub max_watches_per_caller: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeouts: SagaTimeouts::default(),
            deadline_interval: std::time::Duration::from_secs(1),
            watch_poll: std::time::Duration::from_secs(1),
            max_watches_per_caller: 100,
        }
    }
}

/// The order service: commands, queries, the saga's transactions and the deadline ticker.
#[derive(Clone)]
pub struct Orders {
    db: Database,
    orchestrator: Orchestrator,
    settings: Settings,
    /// Orders whose transaction committed, for the watches of this process.
    changes: broadcast::Sender<Change>,
    /// Open watches per caller (subject).
    watches: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
}

/// An order whose transaction committed, with what it became when the committer knows it (a
/// watch then needs no read).
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub order_id: String,
    pub order: Option<Arc<pb::Order>>,
}

impl std::fmt::Debug for Orders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orders").field("settings", &self.settings).finish_non_exhaustive()
    }
}

pub use fleuve_aggregate::Caller;

/// Customers see their own orders; admins see every order. Others' orders do not exist.
fn can_see(caller: &Caller, customer_id: &str) -> bool {
    caller.is_admin() || caller.principal.subject == customer_id
}

/// An order as PlaceOrder left it, and whether this call created it.
#[derive(Debug, Clone)]
pub struct Placed {
    pub order: pb::Order,
    pub created: bool,
}

/// A customer's order as the edge received it.
#[derive(Debug, Clone, Default)]
pub struct NewOrder {
    pub idempotency_key: String,
    /// Empty: the caller. Only an admin may order for someone else.
    pub customer_id: String,
    pub lines: Vec<pb::OrderLine>,
    pub currency: String,
    pub payment_token: String,
}

impl Orders {
    pub fn new(db: Database, settings: Settings) -> Orders {
        let (changes, _) = broadcast::channel(1024);
        Orders {
            orchestrator: Orchestrator::new(settings.timeouts.clone()),
            db,
            settings,
            changes,
            watches: Arc::default(),
        }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn orchestrator(&self) -> &Orchestrator {
        &self.orchestrator
    }

    /// Tells this process's watches that `order_id` changed (after its commit), and to what
    /// if `order` says so.
    pub(crate) fn changed(&self, order_id: &str, order: Option<pb::Order>) {
        // No receiver is fine: nobody watches.
        let _ = self.changes.send(Change { order_id: order_id.to_owned(), order: order.map(Arc::new) });
    }

    /// The order id PlaceOrder allocates for a customer's idempotency key.
    pub fn order_id_for(customer_id: &str, idempotency_key: &str) -> String {
        let name = format!("{}\n{}", customer_id.trim(), idempotency_key.trim());
        Uuid::new_v5(&ORDER_ID_NAMESPACE, name.as_bytes()).to_string()
    }

    /// Places an order: the first call creates it, queues `order.placed` and starts its saga
    /// (queues the stock check); a retry with the same idempotency key and content returns the
    /// same order; the key with another content is refused.
    pub async fn place_order(&self, caller: &Caller, new: NewOrder, now: DateTime<Utc>) -> Result<Placed, AppError> {
        let customer_id = new.customer_id.trim();
        let customer_id = if customer_id.is_empty() {
            caller.principal.subject.clone()
        } else if customer_id == caller.principal.subject || caller.is_admin() {
            customer_id.to_owned()
        } else {
            return Err(ServiceError::denied("only an admin may place an order for another customer").into());
        };
        if new.idempotency_key.trim().is_empty() {
            return Err(DomainError::Invalid("idempotency key is missing".into()).into());
        }
        let order_id = Orders::order_id_for(&customer_id, &new.idempotency_key);
        let command = OrderCommand::Place(PlaceOrder {
            order_id: order_id.clone(),
            customer_id,
            idempotency_key: new.idempotency_key,
            lines: new.lines,
            currency: new.currency,
            payment_token: new.payment_token,
        });
        let meta = caller.metadata();
        let cx = OrderContext { orchestrator: self.orchestrator.clone(), now };
        // A concurrent PlaceOrder with the same key loses the race on the stream; decided
        // again, it finds the order placed and returns it.
        let placed = repository::transact(&self.db, Retries::DEFAULT, move |conn| -> Result<Placed, AppError> {
            let order = step::load(conn, &order_id)?;
            let events = order.state.handle(command.clone(), &cx)?;
            if events.is_empty() {
                return Ok(Placed { order: order_to_pb(&order.state), created: false });
            }
            // The events start the saga too: the stock check is queued with the order, and
            // the row carries the stock check's deadline.
            let order = step::commit(conn, order, &events, &meta, Some(&meta.correlation_id))?;
            Ok(Placed { order: order_to_pb(&order), created: true })
        })
        .await?;
        if placed.created {
            self.changed(&placed.order.order_id, Some(placed.order.clone()));
        }
        Ok(placed)
    }

    /// Cancels an order whose payment was not requested yet (a cancellation while the stock
    /// is checked releases it first). Cancelling a cancelled order changes nothing.
    pub async fn cancel_order(
        &self,
        caller: &Caller,
        order_id: String,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<pb::Order, AppError> {
        self.get_order(caller, order_id.clone()).await?;
        // The saga may move meanwhile (a reply arrives): the cancellation is decided again.
        let input = SagaInput::Cancel { reason };
        let advanced = self.advance_with(order_id, input, caller.metadata(), now, Retries::DEFAULT).await?;
        Ok(order_to_pb(&advanced.order))
    }

    /// Feeds one input to the order's saga in its own transaction; notifies the watches.
    pub async fn advance(
        &self,
        order_id: String,
        input: SagaInput,
        meta: EventMetadata,
        now: DateTime<Utc>,
    ) -> Result<Advanced, AppError> {
        self.advance_with(order_id, input, meta, now, Retries::None).await
    }

    async fn advance_with(
        &self,
        order_id: String,
        input: SagaInput,
        meta: EventMetadata,
        now: DateTime<Utc>,
        retries: Retries,
    ) -> Result<Advanced, AppError> {
        let orchestrator = self.orchestrator.clone();
        let id = order_id.clone();
        let trace_context = meta.trace_context.clone();
        let advanced = repository::transact(&self.db, retries, move |conn| {
            step::advance(conn, &orchestrator, &id, input.clone(), &meta, now)
        })
        .await?;
        if advanced.changed() {
            if let Some(finished) = &advanced.finished {
                finished.report(trace_context.as_deref());
            }
            self.changed(&order_id, Some(order_to_pb(&advanced.order)));
        }
        Ok(advanced)
    }
}
