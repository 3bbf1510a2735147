//! The delivery channels: how one notification reaches its recipient (the service log, mail
//! through an SMTP relay, a signed webhook).

mod smtp;
mod webhook;

use std::future::Future;
use std::pin::Pin;

pub use smtp::SmtpChannel;
pub use webhook::{SIGNATURE_HEADER, WebhookChannel, signature};

use crate::domain::{Channel, Notification};

/// The boxed future of one send.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;

/// Why a send failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The peer is down, slow or busy: retried with backoff.
    #[error("{0}")]
    Transient(String),
    /// No address, a refused recipient, a rejected request: the delivery fails at once.
    #[error("{0}")]
    Permanent(String),
}

/// A channel's configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{channel} channel: {reason}")]
pub struct ChannelConfigError {
    pub channel: &'static str,
    pub reason: String,
}

/// Sends notifications through one channel.
pub trait Sender: Send + Sync + 'static {
    fn channel(&self) -> Channel;
    fn send<'a>(&'a self, notification: &'a Notification) -> SendFuture<'a>;
}

/// Writes each notification to the service log; it cannot fail.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogChannel;

impl Sender for LogChannel {
    fn channel(&self) -> Channel {
        Channel::Log
    }

    fn send<'a>(&'a self, n: &'a Notification) -> SendFuture<'a> {
        tracing::info!(
            notification_id = n.id,
            kind = %n.kind,
            recipient = %n.recipient_id,
            subject = %n.subject,
            body = %n.body,
            "notification"
        );
        Box::pin(async { Ok(()) })
    }
}
