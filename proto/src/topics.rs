//! The Kafka topics of the contracts, named once for every producer and consumer.
//!
//! Events of an aggregate go to the topic of its type; saga commands and replies go to the
//! topics of the seed's saga. Each record's value is the protobuf message the contracts name
//! beside the topic (see [`EVENT_TOPICS`] and the saga messages in `order/v1/events.proto`).

/// Dossier events (`fleuve.homologation.v1.DossierEvent`).
pub const DOSSIER: &str = "homologation.dossier.v1";
/// Certificate events (`fleuve.homologation.v1.CertificateEvent`).
pub const CERTIFICATE: &str = "homologation.certificate.v1";

/// Each event topic with the protobuf message its values carry and the file that defines it.
pub const EVENT_TOPICS: [(&str, &str, &str); 2] = [
    (DOSSIER, "fleuve.homologation.v1.DossierEvent", "fleuve/homologation/v1/events.proto"),
    (CERTIFICATE, "fleuve.homologation.v1.CertificateEvent", "fleuve/homologation/v1/events.proto"),
];

/// A new order (`OrderPlaced`): the orchestrator starts its saga when it comes back.
pub const ORDER_PLACED: &str = "order.placed";
/// Reserve the order's lines (`fleuve.stock.v1.StockCheckRequest`).
pub const STOCK_CHECK_REQUEST: &str = "stock.check.request";
/// Stock's answer to a check or a release (`fleuve.stock.v1.StockChecked`).
pub const STOCK_CHECKED: &str = "stock.checked";
/// Give the order's reservation back: the compensation (`fleuve.stock.v1.StockRelease`).
pub const STOCK_RELEASE: &str = "stock.release";
/// Charge the customer (`fleuve.billing.v1.PaymentRequest`).
pub const PAYMENT_REQUEST: &str = "payment.request";
/// Billing's answer (`fleuve.billing.v1.PaymentResult`).
pub const PAYMENT_RESULT: &str = "payment.result";
/// Refund a payment that came too late (`fleuve.billing.v1.PaymentRefund`).
pub const PAYMENT_REFUND: &str = "payment.refund";
/// The saga ended well (`fleuve.order.v1.OrderConfirmed`).
pub const ORDER_CONFIRMED: &str = "order.confirmed";
/// The saga ended in failure, compensated (`fleuve.order.v1.OrderFailed`).
pub const ORDER_FAILED: &str = "order.failed";
