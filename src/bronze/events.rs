//! The Kafka message types of CONTRACTS C1 (docs/contracts.md): the fields
//! of `payments` and `orders` messages, which are required (a message
//! without one is a dead letter), the two streams, and the card BIN that
//! rules and silver take from a masked card number.

/// The fields of a C1 `payments` message, in C1 order.
pub const PAYMENT_FIELDS: [&str; 22] = [
    "payment_id",
    "order_id",
    "customer_id",
    "event_time",
    "amount",
    "currency",
    "amount_eur",
    "status",
    "error_code",
    "payment_method",
    "psp",
    "payment_session_id",
    "card_masked",
    "card_ref",
    "risk_score",
    "fraud_flag",
    "billing_country",
    "ip_address",
    "ip_country",
    "device_fingerprint",
    "user_agent",
    "processing_time_ms",
];
/// Required (*) fields of `payments` (C1).
pub const PAYMENT_REQUIRED: [&str; 7] = [
    "payment_id",
    "order_id",
    "customer_id",
    "amount",
    "currency",
    "status",
    "risk_score",
];

/// The fields of a C1 `orders` message, in C1 order.
pub const ORDER_FIELDS: [&str; 15] = [
    "order_id",
    "customer_id",
    "event_type",
    "event_time",
    "total_amount",
    "subtotal",
    "discount",
    "shipping_fee",
    "items_count",
    "items",
    "coupon_code",
    "delivery_country",
    "delivery_method",
    "channel",
    "ip_address",
];
/// Required (*) fields of `orders` (C1).
pub const ORDER_REQUIRED: [&str; 5] = [
    "order_id",
    "customer_id",
    "event_type",
    "total_amount",
    "items_count",
];

/// Which event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Payments,
    Orders,
}

/// The bank identification number of a masked card (`497010******1234` →
/// `497010`); the last four digits are dropped. `None` unless the value
/// starts with six digits.
pub fn card_bin(masked: &str) -> Option<&str> {
    let t = masked.trim();
    let bin = t.get(..6)?;
    bin.bytes().all(|b| b.is_ascii_digit()).then_some(bin)
}
