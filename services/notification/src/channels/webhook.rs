//! POSTs each notification as JSON to a configured URL, signed with HMAC-SHA256 when a secret
//! is configured.

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::{ChannelConfigError, SendError, SendFuture, Sender};
use crate::domain::{Channel, Notification};
use crate::settings::WebhookSettings;

/// `sha256=<hex HMAC-SHA256 of the request body, keyed by the shared secret>`.
pub const SIGNATURE_HEADER: &str = "X-Fleuve-Signature";

/// The value of [`SIGNATURE_HEADER`] for `body`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Debug, Clone)]
pub struct WebhookChannel {
    client: reqwest::Client,
    url: reqwest::Url,
    secret: Option<Vec<u8>>,
}

impl WebhookChannel {
    pub fn new(settings: &WebhookSettings) -> Result<WebhookChannel, ChannelConfigError> {
        let invalid = |reason: String| ChannelConfigError { channel: "webhook", reason };
        let url: reqwest::Url =
            settings.url.parse().map_err(|e| invalid(format!("{:?} is not a URL: {e}", settings.url)))?;
        if url.scheme() != "http" {
            return Err(invalid(format!("{url}: only http:// is supported (the client is built without TLS)")));
        }
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .build()
            .map_err(|e| invalid(format!("cannot build the HTTP client: {e}")))?;
        let secret = settings.secret.as_ref().filter(|s| !s.is_empty()).map(|s| s.as_bytes().to_vec());
        Ok(WebhookChannel { client, url, secret })
    }

    async fn deliver(&self, n: &Notification) -> Result<(), SendError> {
        let body = json!({
            "notification_id": n.id,
            "kind": n.kind,
            "recipient_id": n.recipient_id,
            "subject": n.subject,
            "body": n.body,
            "references": n.references,
            "source_id": n.source_id,
            "created_at": n.created_at.to_rfc3339(),
        })
        .to_string()
        .into_bytes();
        let mut request = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Fleuve-Notification-Id", n.id.to_string());
        if let Some(secret) = &self.secret {
            request = request.header(SIGNATURE_HEADER, signature(secret, &body));
        }
        let response =
            request.body(body).send().await.map_err(|e| SendError::Transient(format!("webhook {}: {e}", self.url)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let error = format!("webhook {} answered {status}", self.url);
        // Timeouts, throttling and server errors may pass; other refusals will not.
        if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
            Err(SendError::Transient(error))
        } else {
            Err(SendError::Permanent(error))
        }
    }
}

impl Sender for WebhookChannel {
    fn channel(&self) -> Channel {
        Channel::Webhook
    }

    fn send<'a>(&'a self, notification: &'a Notification) -> SendFuture<'a> {
        Box::pin(self.deliver(notification))
    }
}

#[cfg(test)]
mod tests {
    use super::signature;

    #[test]
    fn signature_matches_rfc_4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
