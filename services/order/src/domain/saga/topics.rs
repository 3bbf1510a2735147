//! The saga's topics (those of the seed, plus `payment.refund`) and who produces each.

/// order -> anyone: an order was accepted; the orchestrator starts its saga on it.
pub const ORDER_PLACED: &str = "order.placed";
/// order -> stock: reserve every line or none.
pub const STOCK_CHECK_REQUEST: &str = "stock.check.request";
/// stock -> order: every stock reply.
pub const STOCK_CHECKED: &str = "stock.checked";
/// order -> stock: the compensation.
pub const STOCK_RELEASE: &str = "stock.release";
/// order -> billing: charge the order once.
pub const PAYMENT_REQUEST: &str = "payment.request";
/// billing -> order: the charge's outcome.
pub const PAYMENT_RESULT: &str = "payment.result";
/// order -> billing: give back a payment approved after the saga gave up on it.
pub const PAYMENT_REFUND: &str = "payment.refund";
/// order -> notification: the order went through.
pub const ORDER_CONFIRMED: &str = "order.confirmed";
/// order -> notification: the order failed or was cancelled.
pub const ORDER_FAILED: &str = "order.failed";

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

/// The topics the orchestrator consumes.
pub const CONSUMED: [&str; 3] = [ORDER_PLACED, STOCK_CHECKED, PAYMENT_RESULT];
