//! What the node configuration decides: the channels, their endpoints, retries and intervals.

use std::time::Duration;

use crate::domain::Channel;

/// The notification service's settings; every delivery channel is off unless configured here.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Write every notification to the service log (a delivery channel of its own).
    pub log: bool,
    /// Mail through this SMTP relay.
    pub smtp: Option<SmtpSettings>,
    /// POST every notification to this URL.
    pub webhook: Option<WebhookSettings>,
    /// Attempts per delivery before it is marked failed.
    pub max_attempts: u32,
    /// Wait after the first failed attempt; doubled after each further one, up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// How long a delivery a worker took stays hidden from other workers: if that worker dies
    /// mid-send, the delivery is tried again after this. Keep it above the channel timeouts.
    pub claim_lease: Duration,
    /// Deliveries taken per round of the delivery worker.
    pub batch_size: u32,
    /// How often the delivery worker looks for due deliveries when nothing woke it.
    pub worker_poll: Duration,
    /// How often the scheduler fires due reminders.
    pub scheduler_interval: Duration,
    /// How often a watch re-reads the table when nothing woke it (when notifications are
    /// written by another process).
    pub watch_poll: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            log: true,
            smtp: None,
            webhook: None,
            max_attempts: 6,
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            claim_lease: Duration::from_secs(300),
            batch_size: 50,
            worker_poll: Duration::from_secs(5),
            scheduler_interval: Duration::from_secs(60),
            watch_poll: Duration::from_secs(2),
        }
    }
}

impl Settings {
    /// The channels every new notification is delivered through.
    pub fn channels(&self) -> Vec<Channel> {
        let mut channels = Vec::new();
        if self.log {
            channels.push(Channel::Log);
        }
        if self.smtp.is_some() {
            channels.push(Channel::Email);
        }
        if self.webhook.is_some() {
            channels.push(Channel::Webhook);
        }
        channels
    }
}

/// A plaintext SMTP relay (no TLS): a local MTA or a relay on a trusted network.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// SMTP AUTH, when both are set.
    pub username: Option<String>,
    pub password: Option<String>,
    /// The From mailbox, e.g. `Fleuve <notifications@arpce.cg>`.
    pub from: String,
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// An HTTP endpoint receiving every notification as JSON.
#[derive(Clone)]
pub struct WebhookSettings {
    /// `http://` only: the HTTP client is built without TLS.
    pub url: String,
    /// When set, each request carries `X-Fleuve-Signature: sha256=<hex HMAC-SHA256 of the body>`.
    pub secret: Option<String>,
    pub timeout: Duration,
}

impl std::fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}
