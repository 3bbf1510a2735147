//! Given/when/then tests of the stock domain: given past events, when a command or a saga
//! request, then these events and this reply (compared in full) or this refusal.

mod product;
mod reservation;

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use fleuve_proto::common::v1::{SagaStep, SagaStepKind};
use fleuve_proto::stock::v1 as pb;

use fleuve_aggregate::Aggregate as _;

use super::{DomainError, Product, Reservation, StockDecision, timestamp};

/// The fixed clock of every test.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 9, 30, 0).unwrap()
}

pub fn ts() -> Option<prost_types::Timestamp> {
    Some(timestamp(now()))
}

pub fn product_event(event: pb::product_event::Event) -> pb::ProductEvent {
    pb::ProductEvent { occurred_at: ts(), event: Some(event) }
}

pub fn reservation_event(event: pb::reservation_event::Event) -> pb::ReservationEvent {
    pb::ReservationEvent { occurred_at: ts(), event: Some(event) }
}

pub fn created(id: &str, quantity: u64) -> pb::ProductEvent {
    product_event(pb::product_event::Event::Created(pb::ProductCreated {
        product_id: id.into(),
        name: format!("product {id}"),
        quantity,
        price: None,
    }))
}

pub fn line(product_id: &str, quantity: u32) -> pb::StockLine {
    pb::StockLine { product_id: product_id.into(), quantity }
}

pub fn step(order_id: &str, kind: SagaStepKind, attempt: u32) -> SagaStep {
    SagaStep { saga_id: order_id.into(), kind: kind.into(), attempt }
}

pub fn check_request(order_id: &str, lines: Vec<pb::StockLine>) -> pb::StockCheckRequest {
    pb::StockCheckRequest {
        occurred_at: ts(),
        step: Some(step(order_id, SagaStepKind::StockCheck, 1)),
        lines,
        deadline: Some(timestamp(now() + chrono::Duration::seconds(30))),
    }
}

pub fn release_request(order_id: &str, attempt: u32) -> pb::StockRelease {
    pb::StockRelease {
        occurred_at: ts(),
        step: Some(step(order_id, SagaStepKind::StockRelease, attempt)),
        reason: "payment declined".into(),
        deadline: Some(timestamp(now() + chrono::Duration::seconds(30))),
    }
}

pub fn reply(step: SagaStep, outcome: pb::stock_checked::Outcome) -> pb::StockChecked {
    pb::StockChecked { occurred_at: ts(), step: Some(step), outcome: Some(outcome) }
}

/// A way to spoil a valid value, and the refusal it must cause.
pub type Spoil<T> = (fn(&mut T), &'static str);

pub use fleuve_aggregate::testing::{assert_refused, invalid, precondition};

/// Products and reservations as the store would hold them: decisions are applied to both, as
/// the service's transaction will.
#[derive(Default)]
pub struct Warehouse {
    pub products: BTreeMap<String, Product>,
    pub reservations: BTreeMap<String, Reservation>,
}

impl Warehouse {
    pub fn with(products: &[(&str, u64)]) -> Warehouse {
        let mut warehouse = Warehouse::default();
        for (id, quantity) in products {
            warehouse.products.insert((*id).into(), Product::replay(&[created(id, *quantity)]));
        }
        warehouse
    }

    pub fn reservation(&self, order_id: &str) -> Reservation {
        self.reservations.get(order_id).cloned().unwrap_or_default()
    }

    pub fn available(&self, product_id: &str) -> u64 {
        self.products[product_id].available
    }

    pub fn reserved(&self, product_id: &str) -> u64 {
        self.products[product_id].reserved
    }

    pub fn check(&mut self, request: &pb::StockCheckRequest) -> Result<StockDecision, DomainError> {
        let order_id = request.step.as_ref().map(|s| s.saga_id.clone()).unwrap_or_default();
        let decision = super::check(&self.reservation(&order_id), &self.products, request, now())?;
        self.record(&order_id, &decision);
        Ok(decision)
    }

    pub fn release(&mut self, request: &pb::StockRelease) -> Result<StockDecision, DomainError> {
        let order_id = request.step.as_ref().map(|s| s.saga_id.clone()).unwrap_or_default();
        let decision = super::release(&self.reservation(&order_id), &self.products, request, now())?;
        self.record(&order_id, &decision);
        Ok(decision)
    }

    fn record(&mut self, order_id: &str, decision: &StockDecision) {
        let reservation = self.reservations.entry(order_id.into()).or_default();
        for event in &decision.reservation_events {
            reservation.apply(event);
        }
        for (product_id, event) in &decision.product_events {
            self.products.get_mut(product_id).expect("events only for loaded products").apply(event);
        }
    }
}
