//! The notification model, generic over what caused it (a homologation event, a reminder, later
//! an order outcome): a kind, a recipient, a text and references; the channels that carry it and
//! the state of each delivery. No diesel, tonic or I/O here.

pub mod messages;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// The kinds this service emits today; `kind` stays a string so other contexts can add theirs.
pub mod kinds {
    pub const DOSSIER_INCOMPLETE: &str = "dossier.incomplete";
    pub const PAYMENT_DUE: &str = "dossier.payment_due";
    pub const DOSSIER_APPROVED: &str = "dossier.approved";
    pub const DOSSIER_REJECTED: &str = "dossier.rejected";
    pub const CERTIFICATE_EXPIRING_60D: &str = "certificate.expiring_60d";
    pub const CERTIFICATE_EXPIRING_30D: &str = "certificate.expiring_30d";
    pub const CERTIFICATE_SUSPENDED: &str = "certificate.suspended";
    pub const CERTIFICATE_REVOKED: &str = "certificate.revoked";
    pub const ORDER_CONFIRMED: &str = "order.confirmed";
    pub const ORDER_FAILED: &str = "order.failed";
}

/// A notification about to be recorded. `(source_id, kind)` identifies it: recording the same
/// pair twice keeps the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    /// The event id, or the reminder key, that caused it.
    pub source_id: String,
    pub kind: String,
    /// User id of the recipient.
    pub recipient_id: String,
    pub subject: String,
    pub body: String,
    pub references: BTreeMap<String, String>,
}

/// A recorded notification with its deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: i64,
    pub source_id: String,
    pub kind: String,
    pub recipient_id: String,
    pub subject: String,
    pub body: String,
    pub references: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub deliveries: Vec<Delivery>,
}

/// A way of reaching a recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    Log,
    Email,
    Webhook,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Log => "log",
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }

    pub fn parse(text: &str) -> Option<Channel> {
        match text {
            "log" => Some(Channel::Log),
            "email" => Some(Channel::Email),
            "webhook" => Some(Channel::Webhook),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Not sent yet, or failed with attempts left.
    Pending,
    Sent,
    /// Given up.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryStatus> {
        match text {
            "pending" => Some(DeliveryStatus::Pending),
            "sent" => Some(DeliveryStatus::Sent),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// One channel's delivery of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub channel: Channel,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// The certificate expiry reminders: how long before the end of validity each one fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reminder {
    Days60,
    Days30,
}

impl Reminder {
    pub const ALL: [Reminder; 2] = [Reminder::Days60, Reminder::Days30];

    pub fn kind(self) -> &'static str {
        match self {
            Reminder::Days60 => kinds::CERTIFICATE_EXPIRING_60D,
            Reminder::Days30 => kinds::CERTIFICATE_EXPIRING_30D,
        }
    }

    pub fn from_kind(kind: &str) -> Option<Reminder> {
        Reminder::ALL.into_iter().find(|r| r.kind() == kind)
    }

    pub fn days(self) -> i64 {
        match self {
            Reminder::Days60 => 60,
            Reminder::Days30 => 30,
        }
    }

    /// When the reminder of a certificate valid until `valid_until` is due.
    pub fn due_at(self, valid_until: DateTime<Utc>) -> DateTime<Utc> {
        valid_until - chrono::Duration::days(self.days())
    }
}

/// The wait before attempt `attempts + 1` after `attempts` failed ones: `base`, doubled after
/// each further failure, never more than `max`.
pub fn retry_delay(attempts: u32, base: Duration, max: Duration) -> Duration {
    let doublings = attempts.saturating_sub(1).min(30);
    base.saturating_mul(1 << doublings).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_up_to_the_cap() {
        let base = Duration::from_secs(10);
        let max = Duration::from_secs(60);
        let delays: Vec<u64> = (1..=6).map(|n| retry_delay(n, base, max).as_secs()).collect();
        assert_eq!(delays, [10, 20, 40, 60, 60, 60]);
        assert_eq!(retry_delay(u32::MAX, base, max), max);
    }

    #[test]
    fn reminders_fall_60_and_30_days_before_the_end() {
        let end = DateTime::parse_from_rfc3339("2030-06-30T00:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(Reminder::Days60.due_at(end).to_rfc3339(), "2030-05-01T00:00:00+00:00");
        assert_eq!(Reminder::Days30.due_at(end).to_rfc3339(), "2030-05-31T00:00:00+00:00");
        assert_eq!(Reminder::from_kind("certificate.expiring_30d"), Some(Reminder::Days30));
    }
}
