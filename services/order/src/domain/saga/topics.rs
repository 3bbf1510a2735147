//! The saga's topics (those of the seed, plus `payment.refund`) and who produces each.

pub use fleuve_proto::topics::{
    ORDER_CONFIRMED, ORDER_FAILED, ORDER_PLACED, PAYMENT_REFUND, PAYMENT_REQUEST, PAYMENT_RESULT, STOCK_CHECK_REQUEST,
    STOCK_CHECKED, STOCK_RELEASE,
};

/// Each topic the order service produces, with the protobuf message its values carry and the
/// file defining it (for the schema registry).
pub const PRODUCED: [(&str, &str, &str); 7] = [
    (ORDER_PLACED, "fleuve.order.v1.OrderPlaced", "fleuve/order/v1/saga.proto"),
    (STOCK_CHECK_REQUEST, "fleuve.stock.v1.StockCheckRequest", "fleuve/stock/v1/saga.proto"),
    (STOCK_RELEASE, "fleuve.stock.v1.StockRelease", "fleuve/stock/v1/saga.proto"),
    (PAYMENT_REQUEST, "fleuve.billing.v1.PaymentRequest", "fleuve/billing/v1/saga.proto"),
    (PAYMENT_REFUND, "fleuve.billing.v1.PaymentRefund", "fleuve/billing/v1/saga.proto"),
    (ORDER_CONFIRMED, "fleuve.order.v1.OrderConfirmed", "fleuve/order/v1/saga.proto"),
    (ORDER_FAILED, "fleuve.order.v1.OrderFailed", "fleuve/order/v1/saga.proto"),
];

/// The topics the orchestrator consumes. Not `order.placed`: an order starts its saga in the
/// transaction that places it (an order placed by an earlier version, still `Pending`, is
/// started by its start deadline).
pub const CONSUMED: [&str; 2] = [STOCK_CHECKED, PAYMENT_RESULT];
