//! The product aggregate: units available for reservation and units held by orders.

use chrono::{DateTime, Utc};
use fleuve_aggregate::{Aggregate, Snapshots};
use fleuve_proto::stock::v1 as pb;
use pb::product_event::Event;
use prost::Message as _;

use super::{DomainError, PRODUCT_AGGREGATE, timestamp};

/// Longest product id and name accepted.
pub const MAX_ID_LEN: usize = 64;
pub const MAX_NAME_LEN: usize = 200;

/// A product's state, folded from its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Product {
    /// Empty until the product is created.
    pub id: String,
    pub name: String,
    /// Units free for reservation.
    pub available: u64,
    /// Units held by reservations.
    pub reserved: u64,
    pub created_at: Option<prost_types::Timestamp>,
    pub updated_at: Option<prost_types::Timestamp>,
    /// The number of events applied.
    pub version: i64,
    /// The catalogue's unit price, when the product was created with one.
    pub price: Option<fleuve_proto::common::v1::Money>,
}

/// What staff ask of a product. Reservations go through [`super::reservation`].
#[derive(Debug, Clone, PartialEq)]
pub enum ProductCommand {
    Create { product_id: String, name: String, quantity: u64, price: Option<fleuve_proto::common::v1::Money> },
    Restock { quantity: u64, reference: String },
}

impl Product {
    pub fn exists(&self) -> bool {
        !self.id.is_empty()
    }

    pub(super) fn ensure_exists(&self) -> Result<(), DomainError> {
        if self.exists() { Ok(()) } else { Err(DomainError::NotFound("no such product".into())) }
    }

    /// The product as the API shows it, which is also its snapshot: a change of `pb::Product`
    /// that changes what a snapshot decodes to needs a new snapshot `schema_version`.
    pub fn to_pb(&self) -> pb::Product {
        pb::Product {
            product_id: self.id.clone(),
            name: self.name.clone(),
            available: self.available,
            reserved: self.reserved,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
            price: self.price.clone(),
        }
    }

    pub fn from_pb(p: pb::Product) -> Product {
        Product {
            id: p.product_id,
            name: p.name,
            available: p.available,
            reserved: p.reserved,
            created_at: p.created_at,
            updated_at: p.updated_at,
            version: p.version,
            price: p.price,
        }
    }
}

/// A product's stream gets an event from every order that reserves or releases it, so it is
/// loaded from a snapshot taken every [`PRODUCT_SNAPSHOT_EVERY`] events and the events after
/// (4: a tail of 1.5 events on average for an UPDATE of the snapshot every fourth append; at 64
/// a restock cost 10-15 % more CPU than reading the product row did).
pub const PRODUCT_SNAPSHOT_EVERY: i64 = 4;

impl Aggregate for Product {
    const KIND: &'static str = PRODUCT_AGGREGATE;
    const SNAPSHOTS: Option<Snapshots<Product>> = Some(Snapshots {
        schema_version: 1,
        every: PRODUCT_SNAPSHOT_EVERY,
        encode: |product| product.to_pb().encode_to_vec(),
        decode: |bytes| pb::Product::decode(bytes).map(Product::from_pb),
    });
    type Event = pb::ProductEvent;
    type Command = ProductCommand;
    type Context = DateTime<Utc>;
    type Error = DomainError;

    /// Decides a staff command: the events to append, or why it is refused. Reservations and
    /// releases are decided with the order's reservation ([`super::reservation`]).
    fn handle(&self, command: ProductCommand, now: &DateTime<Utc>) -> Result<Vec<pb::ProductEvent>, DomainError> {
        let now = *now;
        let event = match command {
            ProductCommand::Create { product_id, name, quantity, price } => {
                if self.exists() {
                    return Err(DomainError::Precondition(format!("product {} already exists", self.id)));
                }
                let product_id = product_id.trim();
                if product_id.is_empty() || product_id.len() > MAX_ID_LEN {
                    return Err(DomainError::Invalid(format!("product id must have 1 to {MAX_ID_LEN} characters")));
                }
                let name = name.trim();
                if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
                    return Err(DomainError::Invalid(format!("product name must have 1 to {MAX_NAME_LEN} characters")));
                }
                let price = price.map(unit_price).transpose()?;
                Event::Created(pb::ProductCreated { product_id: product_id.into(), name: name.into(), quantity, price })
            }
            ProductCommand::Restock { quantity, reference } => {
                self.ensure_exists()?;
                if quantity == 0 {
                    return Err(DomainError::Invalid("restock quantity must be positive".into()));
                }
                if self.available.checked_add(quantity).and_then(|a| a.checked_add(self.reserved)).is_none() {
                    return Err(DomainError::Invalid("restock quantity is too large".into()));
                }
                Event::Restocked(pb::ProductRestocked { quantity, reference: reference.trim().into() })
            }
        };
        Ok(vec![event_at(event, now)])
    }

    /// Folds one event into the state. No rule is checked here: the event already happened,
    /// and the decisions never let a quantity go below zero.
    fn apply(&mut self, event: &pb::ProductEvent) {
        self.version += 1;
        self.updated_at = event.occurred_at;
        let Some(event) = &event.event else { return };
        match event {
            Event::Created(e) => {
                self.id.clone_from(&e.product_id);
                self.name.clone_from(&e.name);
                self.available = e.quantity;
                self.price.clone_from(&e.price);
                self.created_at = self.updated_at;
            }
            Event::Restocked(e) => self.available = self.available.saturating_add(e.quantity),
            Event::Reserved(e) => {
                self.available = self.available.saturating_sub(u64::from(e.quantity));
                self.reserved = self.reserved.saturating_add(u64::from(e.quantity));
            }
            Event::Released(e) => {
                self.available = self.available.saturating_add(u64::from(e.quantity));
                self.reserved = self.reserved.saturating_sub(u64::from(e.quantity));
            }
        }
    }
}

/// A catalogue price: a positive amount in a three-letter currency (upper-cased).
fn unit_price(price: fleuve_proto::common::v1::Money) -> Result<fleuve_proto::common::v1::Money, DomainError> {
    let currency = price.currency.trim().to_ascii_uppercase();
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(DomainError::Invalid("price currency must be a three-letter code".into()));
    }
    if price.amount <= 0 {
        return Err(DomainError::Invalid("price amount must be positive".into()));
    }
    Ok(fleuve_proto::common::v1::Money { currency, amount: price.amount })
}

pub(super) fn event_at(event: Event, now: DateTime<Utc>) -> pb::ProductEvent {
    pb::ProductEvent { occurred_at: Some(timestamp(now)), event: Some(event) }
}
