//! Mail through an SMTP relay (lettre), to the address the directory knows for the recipient.

use std::sync::Arc;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{ChannelConfigError, SendError, SendFuture, Sender};
use crate::directory::Directory;
use crate::domain::{Channel, Notification};
use crate::settings::SmtpSettings;

/// Plaintext SMTP to the configured host and port, with SMTP AUTH when credentials are set.
pub struct SmtpChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    directory: Arc<dyn Directory>,
}

impl std::fmt::Debug for SmtpChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpChannel").field("from", &self.from).finish_non_exhaustive()
    }
}

impl SmtpChannel {
    pub fn new(settings: &SmtpSettings, directory: Arc<dyn Directory>) -> Result<SmtpChannel, ChannelConfigError> {
        let invalid = |reason: String| ChannelConfigError { channel: "email", reason };
        let from: Mailbox =
            settings.from.parse().map_err(|e| invalid(format!("sender {:?} is not a mailbox: {e}", settings.from)))?;
        if settings.host.trim().is_empty() {
            return Err(invalid("no SMTP host configured".to_owned()));
        }
        // Plaintext on purpose: the relay is local or on a trusted network (see SmtpSettings).
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.trim())
            .port(settings.port)
            .timeout(Some(settings.timeout));
        match (&settings.username, &settings.password) {
            (Some(user), Some(password)) => {
                builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
            }
            (None, None) => {}
            _ => return Err(invalid("give both an SMTP username and password, or neither".to_owned())),
        }
        Ok(SmtpChannel { transport: builder.build(), from, directory })
    }

    async fn deliver(&self, n: &Notification) -> Result<(), SendError> {
        let address = self
            .directory
            .email(&n.recipient_id)
            .await
            .map_err(|e| SendError::Transient(e.to_string()))?
            .ok_or_else(|| SendError::Permanent(format!("no email address known for user {}", n.recipient_id)))?;
        let to: Mailbox = address.parse().map_err(|e| {
            SendError::Permanent(format!("email address {address:?} of user {} is invalid: {e}", n.recipient_id))
        })?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(n.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(n.body.clone())
            .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(format!("SMTP refused the message: {e}"))),
            Err(e) => Err(SendError::Transient(format!("SMTP: {e}"))),
        }
    }
}

impl Sender for SmtpChannel {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    fn send<'a>(&'a self, notification: &'a Notification) -> SendFuture<'a> {
        Box::pin(self.deliver(notification))
    }
}
