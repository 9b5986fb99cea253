//! OTP delivery, behind the [`OtpSender`] trait so that any SMS gateway can be
//! plugged in (CONTRACT section 3 and `KGEN_SMS`):
//! - [`LogSender`] (`log`, the default for local runs) writes the phone and the OTP
//!   to the server log. It is the one place where an OTP is ever logged, on purpose:
//!   a developer without an SMS gateway reads the OTP there.
//! - [`WebhookSender`] (`webhook`) POSTs `{"to", "otp", "message", "authCode"}` to
//!   `KGEN_SMS_WEBHOOK_URL`; anything but a 2xx answer in time is a failed delivery.
//!
//! Senders are called with no database transaction open.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::config::{Config, SmsMode};

/// One OTP to deliver.
#[derive(Clone)]
pub struct OtpMessage {
    /// The phone, E.164.
    pub to: String,
    /// The one-time password.
    pub otp: String,
    /// The authCode of the request it belongs to.
    pub auth_code: String,
    /// The SMS text (contains the OTP).
    pub text: String,
}

impl std::fmt::Debug for OtpMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The OTP and the text that contains it are never printed.
        f.debug_struct("OtpMessage")
            .field("to", &self.to)
            .field("auth_code", &self.auth_code)
            .finish_non_exhaustive()
    }
}

/// Why a delivery failed (logged; the caller answers 502 SMS_DELIVERY_FAILED).
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// No answer: connection refused, timeout, TLS failure.
    #[error("the SMS webhook could not be reached: {0}")]
    Unreachable(reqwest::Error),
    /// The webhook answered with a status other than 2xx.
    #[error("the SMS webhook answered HTTP {0}")]
    Refused(u16),
}

/// The future of one delivery.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SmsError>> + Send + 'a>>;

/// Delivers OTPs to phones.
pub trait OtpSender: std::fmt::Debug + Send + Sync {
    /// Delivers `message`; `Ok` only once the gateway has taken it.
    fn send<'a>(&'a self, message: &'a OtpMessage) -> SendFuture<'a>;
}

/// Writes OTPs to the log (local runs only).
#[derive(Debug, Default)]
pub struct LogSender;

impl OtpSender for LogSender {
    fn send<'a>(&'a self, message: &'a OtpMessage) -> SendFuture<'a> {
        Box::pin(async move {
            tracing::info!(
                phone = %message.to,
                otp = %message.otp,
                auth_code = %message.auth_code,
                "OTP for a local run (KGEN_SMS=log; use KGEN_SMS=webhook in production)"
            );
            Ok(())
        })
    }
}

/// POSTs OTPs to a webhook as JSON.
#[derive(Debug)]
pub struct WebhookSender {
    http: reqwest::Client,
    url: url::Url,
}

impl WebhookSender {
    /// A sender for `url` that waits at most `timeout` for the answer.
    pub fn new(url: &str, timeout: Duration) -> anyhow::Result<WebhookSender> {
        let url = url::Url::parse(url).context("KGEN_SMS_WEBHOOK_URL is not a valid URL")?;
        anyhow::ensure!(
            matches!(url.scheme(), "http" | "https"),
            "KGEN_SMS_WEBHOOK_URL must be an http:// or https:// URL"
        );
        // A gateway that redirects is misconfigured: the OTP goes to the configured
        // URL or nowhere.
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the SMS webhook client")?;
        Ok(WebhookSender { http, url })
    }
}

impl OtpSender for WebhookSender {
    fn send<'a>(&'a self, message: &'a OtpMessage) -> SendFuture<'a> {
        Box::pin(async move {
            let body = serde_json::json!({
                "to": message.to,
                "otp": message.otp,
                "message": message.text,
                "authCode": message.auth_code,
            });
            let response = self
                .http
                .post(self.url.clone())
                .json(&body)
                .send()
                .await
                // The URL may carry a gateway credential: keep it out of the log.
                .map_err(|error| SmsError::Unreachable(error.without_url()))?;
            let status = response.status();
            if status.is_success() {
                Ok(())
            } else {
                Err(SmsError::Refused(status.as_u16()))
            }
        })
    }
}

/// The sender that `KGEN_SMS` selects; `webhook` without a valid
/// `KGEN_SMS_WEBHOOK_URL` is a configuration error.
pub fn sender_from_config(config: &Config) -> anyhow::Result<Arc<dyn OtpSender>> {
    match config.sms {
        SmsMode::Log => Ok(Arc::new(LogSender)),
        SmsMode::Webhook => {
            let url = config
                .sms_webhook_url
                .as_deref()
                .filter(|url| !url.trim().is_empty())
                .context("KGEN_SMS=webhook needs KGEN_SMS_WEBHOOK_URL")?;
            let timeout = Duration::from_secs(config.sms_webhook_timeout_seconds);
            Ok(Arc::new(WebhookSender::new(url, timeout)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_mode_needs_a_valid_url() {
        let mut config = Config::defaults();
        config.sms = SmsMode::Webhook;
        let error = sender_from_config(&config).unwrap_err();
        assert!(
            error.to_string().contains("KGEN_SMS_WEBHOOK_URL"),
            "{error}"
        );
        config.sms_webhook_url = Some("not a url".to_owned());
        assert!(sender_from_config(&config).is_err());
        config.sms_webhook_url = Some("ftp://example.com/sms".to_owned());
        assert!(sender_from_config(&config).is_err());
        config.sms_webhook_url = Some("https://sms.example.com/otp".to_owned());
        assert!(sender_from_config(&config).is_ok());
    }

    #[test]
    fn a_message_never_prints_its_otp() {
        let message = OtpMessage {
            to: "+919876543219".to_owned(),
            otp: "596097".to_owned(),
            auth_code: "12345678".to_owned(),
            text: "596097 is your code".to_owned(),
        };
        let printed = format!("{message:?}");
        assert!(!printed.contains("596097"), "{printed}");
        assert!(printed.contains("12345678"));
    }
}
