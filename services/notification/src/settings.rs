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

/// The `[notification]` section of the configuration: the delivery channels (log is always
/// on; empty strings leave a channel off) and the worker's pace.
#[derive(Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationConfig {
    /// SMTP relay `host:port`; empty disables e-mail.
    pub smtp_server: String,
    pub smtp_username: String,
    pub smtp_password: String,
    pub smtp_from: String,
    /// URL receiving a JSON POST per notification; empty disables the webhook.
    pub webhook_url: String,
    /// HMAC-SHA256 key of the `X-Fleuve-Signature` header; empty sends no signature.
    pub webhook_secret: String,
    /// Attempts per delivery before it is marked failed.
    pub max_attempts: u32,
    /// How often the durable scheduler looks for due reminders.
    pub scheduler_interval_seconds: u64,
}

impl std::fmt::Debug for NotificationConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationConfig")
            .field("smtp_server", &self.smtp_server)
            .field("smtp_username", &self.smtp_username)
            .field("smtp_from", &self.smtp_from)
            .field("webhook_url", &self.webhook_url)
            .field("max_attempts", &self.max_attempts)
            .field("scheduler_interval_seconds", &self.scheduler_interval_seconds)
            .finish_non_exhaustive()
    }
}

impl Default for NotificationConfig {
    fn default() -> Self {
        NotificationConfig {
            smtp_server: String::new(),
            smtp_username: String::new(),
            smtp_password: String::new(),
            smtp_from: "Fleuve <no-reply@fleuve.local>".into(),
            webhook_url: String::new(),
            webhook_secret: String::new(),
            max_attempts: 5,
            scheduler_interval_seconds: 60,
        }
    }
}

impl fleuve_mesh::config::Section for NotificationConfig {
    const NAME: &'static str = "notification";
}

/// A `[notification]` value the service cannot use.
#[derive(Debug, thiserror::Error)]
#[error("notification.smtp_server {0:?} is not host:port")]
pub struct BadSmtpServer(pub String);

impl TryFrom<&NotificationConfig> for Settings {
    type Error = BadSmtpServer;

    fn try_from(n: &NotificationConfig) -> Result<Settings, BadSmtpServer> {
        let mut settings = Settings {
            max_attempts: n.max_attempts.max(1),
            scheduler_interval: Duration::from_secs(n.scheduler_interval_seconds.max(1)),
            ..Settings::default()
        };
        if !n.smtp_server.is_empty() {
            let (host, port) = n
                .smtp_server
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
                .ok_or_else(|| BadSmtpServer(n.smtp_server.clone()))?;
            settings.smtp = Some(SmtpSettings {
                host,
                port,
                username: Some(n.smtp_username.clone()).filter(|u| !u.is_empty()),
                password: Some(n.smtp_password.clone()).filter(|p| !p.is_empty()),
                from: n.smtp_from.clone(),
                timeout: Duration::from_secs(10),
            });
        }
        if !n.webhook_url.is_empty() {
            settings.webhook = Some(WebhookSettings {
                url: n.webhook_url.clone(),
                secret: Some(n.webhook_secret.clone()).filter(|s| !s.is_empty()),
                timeout: Duration::from_secs(10),
            });
        }
        Ok(settings)
    }
}
