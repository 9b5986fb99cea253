//! The domain: rules of the loyalty protocol, independent of HTTP. Each module owns
//! one area; operations that change balances own their database transaction.

pub mod address;
pub mod analytics;
pub mod auth;
pub mod claims;
pub mod clients;
pub mod console;
pub mod cursor;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod ids;
pub mod ledger;
pub mod money;
pub mod otp;
pub mod phone;
pub mod phone_link;
pub mod rate_limit;
pub mod secrets;
pub mod sessions;
pub mod settlement;
pub mod sms;
pub mod store;
pub mod text;
pub mod time;
pub mod tokens;
pub mod wallet;
pub mod webhooks;
pub mod withdrawals;

pub use error::{Error, Result};
