//! The reservation aggregate (one per order) and the two saga decisions that span it and the
//! products of its lines: [`check`] reserves every line or none, [`release`] gives everything
//! back. Both are idempotent per order: a redelivered or resent request gets the first
//! outcome again and changes nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use fleuve_aggregate::Aggregate;
use fleuve_proto::common::v1::{SagaStep, SagaStepKind};
use fleuve_proto::stock::v1 as pb;
use pb::reservation_event::Event;
use pb::stock_checked::Outcome;

use super::product::{self, Product};
use super::{DomainError, RESERVATION_AGGREGATE, timestamp};

/// Most lines a reservation may have.
pub const MAX_LINES: usize = 100;

/// An order's reservation, folded from its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reservation {
    /// Empty until the first request of the order is decided.
    pub order_id: String,
    /// `Unspecified` while nothing was decided for the order.
    pub status: pb::ReservationStatus,
    /// Held (reserved) or given back (released), by product id.
    pub lines: Vec<pb::StockLine>,
    pub shortages: Vec<pb::Shortage>,
    pub release_reason: String,
    pub created_at: Option<prost_types::Timestamp>,
    pub updated_at: Option<prost_types::Timestamp>,
    pub version: i64,
}

/// What a saga request decided: the events to append to the reservation's stream and to each
/// product's stream (in product id order, the order to lock them in), and the reply to publish
/// on `stock.checked`. Replaying a request yields no events and the same reply.
#[derive(Debug, Clone, PartialEq)]
pub struct StockDecision {
    pub reservation_events: Vec<pb::ReservationEvent>,
    pub product_events: Vec<(String, pb::ProductEvent)>,
    pub reply: pb::StockChecked,
}

/// A saga request about an order's reservation.
#[derive(Debug, Clone, PartialEq)]
pub enum ReservationCommand {
    Check(pb::StockCheckRequest),
    Release(pb::StockRelease),
}

/// What a reservation decides with: the products of the request that exist, and the time.
#[derive(Debug, Clone, Default)]
pub struct ReservationContext {
    pub products: BTreeMap<String, Product>,
    pub now: DateTime<Utc>,
}

impl Aggregate for Reservation {
    const KIND: &'static str = RESERVATION_AGGREGATE;
    type Event = pb::ReservationEvent;
    type Command = ReservationCommand;
    type Context = ReservationContext;
    type Error = DomainError;

    /// The reservation's part of [`check`] or [`release`]; the caller records the whole
    /// decision (the products' events and the reply too) through those.
    fn handle(
        &self,
        command: ReservationCommand,
        cx: &ReservationContext,
    ) -> Result<Vec<pb::ReservationEvent>, DomainError> {
        let decision = match command {
            ReservationCommand::Check(request) => check(self, &cx.products, &request, cx.now)?,
            ReservationCommand::Release(request) => release(self, &cx.products, &request, cx.now)?,
        };
        Ok(decision.reservation_events)
    }

    /// Folds one event into the state.
    fn apply(&mut self, event: &pb::ReservationEvent) {
        self.version += 1;
        self.updated_at = event.occurred_at;
        if self.created_at.is_none() {
            self.created_at = event.occurred_at;
        }
        let Some(event) = &event.event else { return };
        match event {
            Event::Made(e) => {
                self.order_id.clone_from(&e.order_id);
                self.status = pb::ReservationStatus::Reserved;
                self.lines.clone_from(&e.lines);
            }
            Event::Rejected(e) => {
                self.order_id.clone_from(&e.order_id);
                self.status = pb::ReservationStatus::Rejected;
                self.shortages.clone_from(&e.shortages);
            }
            Event::Released(e) => {
                self.order_id.clone_from(&e.order_id);
                self.status = pb::ReservationStatus::Released;
                self.lines.clone_from(&e.lines);
                self.release_reason.clone_from(&e.reason);
            }
        }
    }
}

impl Reservation {
    /// The products whose streams a release of this reservation writes to.
    pub fn held_products(&self) -> Vec<String> {
        if self.status == pb::ReservationStatus::Reserved {
            self.lines.iter().map(|l| l.product_id.clone()).collect()
        } else {
            Vec::new()
        }
    }

    /// The reply the recorded outcome gives to a request of `step`; `None` while undecided.
    fn recorded_outcome(&self) -> Option<Outcome> {
        match self.status {
            pb::ReservationStatus::Unspecified => None,
            pb::ReservationStatus::Reserved => Some(Outcome::Reserved(pb::StockReserved { lines: self.lines.clone() })),
            pb::ReservationStatus::Rejected => {
                Some(Outcome::Insufficient(pb::StockInsufficient { shortages: self.shortages.clone() }))
            }
            pb::ReservationStatus::Released => Some(Outcome::Released(pb::StockReleased { lines: self.lines.clone() })),
        }
    }
}

/// Decides a `stock.check.request`: every line is reserved if each product has enough units
/// available, otherwise nothing is and the reply lists the shortages. `products` holds the
/// products of the request's lines that exist; a missing one is an unknown product.
pub fn check(
    reservation: &Reservation,
    products: &BTreeMap<String, Product>,
    request: &pb::StockCheckRequest,
    now: DateTime<Utc>,
) -> Result<StockDecision, DomainError> {
    let step = fleuve_aggregate::saga_step(request.step.as_ref(), SagaStepKind::StockCheck)?;
    ensure_same_order(reservation, &step)?;
    let wanted = merge_lines(&request.lines)?;
    if let Some(outcome) = reservation.recorded_outcome() {
        return Ok(StockDecision::replay(step, outcome, now));
    }
    let order_id = step.saga_id.clone();
    let shortages: Vec<pb::Shortage> = wanted
        .iter()
        .filter_map(|(id, &quantity)| match products.get(id).filter(|p| p.exists()) {
            None => {
                Some(pb::Shortage { product_id: id.clone(), requested: quantity, available: 0, unknown_product: true })
            }
            Some(p) if p.available < u64::from(quantity) => Some(pb::Shortage {
                product_id: id.clone(),
                requested: quantity,
                available: p.available,
                unknown_product: false,
            }),
            Some(_) => None,
        })
        .collect();
    if !shortages.is_empty() {
        let event = Event::Rejected(pb::ReservationRejected { order_id, shortages: shortages.clone() });
        return Ok(StockDecision {
            reservation_events: vec![event_at(event, now)],
            product_events: Vec::new(),
            reply: reply(step, Outcome::Insufficient(pb::StockInsufficient { shortages }), now),
        });
    }
    let lines: Vec<pb::StockLine> =
        wanted.iter().map(|(id, &quantity)| pb::StockLine { product_id: id.clone(), quantity }).collect();
    let product_events = lines
        .iter()
        .map(|line| {
            let event = pb::product_event::Event::Reserved(pb::QuantityReserved {
                order_id: order_id.clone(),
                quantity: line.quantity,
            });
            (line.product_id.clone(), product::event_at(event, now))
        })
        .collect();
    let event = Event::Made(pb::ReservationMade { order_id, lines: lines.clone() });
    Ok(StockDecision {
        reservation_events: vec![event_at(event, now)],
        product_events,
        reply: reply(step, Outcome::Reserved(pb::StockReserved { lines }), now),
    })
}

/// Decides a `stock.release`: a held reservation gives every unit back; a release of an order
/// that holds nothing yet is recorded, so that a check request arriving after it reserves
/// nothing. `products` holds the products of [`Reservation::held_products`].
pub fn release(
    reservation: &Reservation,
    products: &BTreeMap<String, Product>,
    request: &pb::StockRelease,
    now: DateTime<Utc>,
) -> Result<StockDecision, DomainError> {
    let step = fleuve_aggregate::saga_step(request.step.as_ref(), SagaStepKind::StockRelease)?;
    ensure_same_order(reservation, &step)?;
    let order_id = step.saga_id.clone();
    let reason = request.reason.trim().to_owned();
    match reservation.status {
        pb::ReservationStatus::Unspecified => {
            let event = Event::Released(pb::ReservationReleased { order_id, lines: Vec::new(), reason });
            Ok(StockDecision {
                reservation_events: vec![event_at(event, now)],
                product_events: Vec::new(),
                reply: reply(step, Outcome::Released(pb::StockReleased { lines: Vec::new() }), now),
            })
        }
        pb::ReservationStatus::Reserved => {
            let mut product_events = Vec::with_capacity(reservation.lines.len());
            for line in &reservation.lines {
                let held = products.get(&line.product_id).filter(|p| p.exists());
                if held.is_none_or(|p| p.reserved < u64::from(line.quantity)) {
                    return Err(DomainError::Precondition(format!(
                        "product {} does not hold the {} units reserved for order {order_id}",
                        line.product_id, line.quantity
                    )));
                }
                let event = pb::product_event::Event::Released(pb::QuantityReleased {
                    order_id: order_id.clone(),
                    quantity: line.quantity,
                });
                product_events.push((line.product_id.clone(), product::event_at(event, now)));
            }
            let lines = reservation.lines.clone();
            let event = Event::Released(pb::ReservationReleased { order_id, lines: lines.clone(), reason });
            Ok(StockDecision {
                reservation_events: vec![event_at(event, now)],
                product_events,
                reply: reply(step, Outcome::Released(pb::StockReleased { lines }), now),
            })
        }
        // A rejection holds nothing and already stops any later reservation.
        pb::ReservationStatus::Rejected | pb::ReservationStatus::Released => Ok(StockDecision::replay(
            step,
            Outcome::Released(pb::StockReleased { lines: reservation.held_or_released_lines() }),
            now,
        )),
    }
}

impl Reservation {
    fn held_or_released_lines(&self) -> Vec<pb::StockLine> {
        if self.status == pb::ReservationStatus::Rejected { Vec::new() } else { self.lines.clone() }
    }
}

impl StockDecision {
    fn replay(step: SagaStep, outcome: Outcome, now: DateTime<Utc>) -> StockDecision {
        StockDecision { reservation_events: Vec::new(), product_events: Vec::new(), reply: reply(step, outcome, now) }
    }
}

fn ensure_same_order(reservation: &Reservation, step: &SagaStep) -> Result<(), DomainError> {
    if reservation.order_id.is_empty() || reservation.order_id == step.saga_id {
        Ok(())
    } else {
        Err(DomainError::Precondition(format!(
            "reservation of order {} cannot answer saga {}",
            reservation.order_id, step.saga_id
        )))
    }
}

/// The request's lines by product id, duplicates added up.
fn merge_lines(lines: &[pb::StockLine]) -> Result<BTreeMap<String, u32>, DomainError> {
    if lines.is_empty() || lines.len() > MAX_LINES {
        return Err(DomainError::Invalid(format!("a reservation needs 1 to {MAX_LINES} lines")));
    }
    let mut merged = BTreeMap::new();
    for line in lines {
        let id = line.product_id.trim();
        if id.is_empty() {
            return Err(DomainError::Invalid("a line has no product id".into()));
        }
        if line.quantity == 0 {
            return Err(DomainError::Invalid(format!("the quantity of {id} must be positive")));
        }
        let total: &mut u32 = merged.entry(id.to_owned()).or_default();
        *total =
            total.checked_add(line.quantity).ok_or_else(|| DomainError::Invalid(format!("too many units of {id}")))?;
    }
    Ok(merged)
}

fn reply(step: SagaStep, outcome: Outcome, now: DateTime<Utc>) -> pb::StockChecked {
    pb::StockChecked { occurred_at: Some(timestamp(now)), step: Some(step), outcome: Some(outcome) }
}

fn event_at(event: Event, now: DateTime<Utc>) -> pb::ReservationEvent {
    pb::ReservationEvent { occurred_at: Some(timestamp(now)), event: Some(event) }
}
