//! The business errors of the domain, one variant per CONTRACT error code. They know
//! nothing of HTTP; `http::error` gives each its status.

use std::time::Duration;

/// Why a domain operation refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that passed parsing but breaks a rule (names the field).
    #[error("{0}")]
    BadRequest(String),
    /// Missing or wrong credentials.
    #[error("missing or invalid credentials")]
    Unauthorized,
    /// Unknown, deleted or foreign record.
    #[error("record not found")]
    NotFound,
    /// The event exists but is switched off.
    #[error("the event is not active")]
    EventInactive,
    /// Outside the event's `startsAt`/`endsAt` window.
    #[error("the event is not open for claims now")]
    EventNotOpen,
    /// A trace-gated event without a fresh trace drop.
    #[error("no activity trace since the last claim of this event")]
    ActivityNotTraced,
    /// `cooldownSeconds` since the last claim has not passed.
    #[error("claim again after the cooldown")]
    ClaimCooldown {
        /// Time until the next claim is allowed.
        retry_after: Duration,
    },
    /// `maxClaimsPerUser` reached for the current period.
    #[error("the claim limit of this event is reached")]
    ClaimLimitReached,
    /// `totalBudget` cannot cover the reward.
    #[error("the limit of this resource is reached")]
    LimitReached,
    #[error("the event's budget is exhausted")]
    BudgetExhausted,
    /// Withdrawal without a linked KGeN account.
    #[error("link a phone number before withdrawing")]
    PhoneNotLinked,
    /// Withdrawable balance is zero or below the threshold.
    #[error("withdrawable balance {balance} is below the minimum of {threshold} KCash")]
    InsufficientBalance {
        /// What could be withdrawn now.
        balance: i64,
        /// The client's `minWalletBalToWithdraw`.
        threshold: i64,
    },
    /// A console debit larger than the gamer's bonus + earned balance.
    #[error("the gamer holds only {balance} KCash in bonus and earned")]
    Overdraw {
        /// Bonus + earned balance now.
        balance: i64,
    },
    /// An operator's role does not allow this change.
    #[error("your role does not allow this")]
    Forbidden,
    /// The phone is linked to another gamer of this game.
    #[error("this phone number is already linked to another user of this game")]
    PhoneAlreadyLinked,
    /// The gamer is linked to another phone.
    #[error("this user is already linked to another phone number")]
    AlreadyLinked,
    /// Wrong or unknown OTP / authCode.
    #[error("invalid OTP")]
    InvalidOtp,
    /// The OTP's validity has passed.
    #[error("the OTP has expired; ask for a new one")]
    OtpExpired,
    /// Too many wrong OTP answers: the request is dead.
    #[error("too many wrong attempts; register again")]
    TooManyAttempts,
    /// A rate limit: try again later.
    #[error("too many requests; retry later")]
    TooManyRequests {
        /// Time until a retry can succeed.
        retry_after: Duration,
    },
    /// A per-client or per-gamer request rate limit.
    #[error("rate limit exceeded; retry later")]
    RateLimited {
        /// Time until the next request is allowed.
        retry_after: Duration,
        /// The configured requests per second.
        limit: u32,
    },
    /// The SMS gateway did not take the OTP.
    #[error("the OTP could not be delivered")]
    SmsDeliveryFailed,
    /// The same Idempotency-Key was used for another request.
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyKeyReused,
    /// The database cannot be reached.
    #[error("the database is unavailable")]
    Unavailable,
    /// Contention that outlasted every retry (a deadlock or busy database).
    #[error("the database is busy; retry")]
    Busy,
    /// Anything else: logged with its cause, answered without detail.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Result of a domain operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Error {
        if crate::storage::is_contention(&error) {
            Error::Busy
        } else if crate::storage::is_unavailable(&error) {
            tracing::warn!(%error, "database unavailable");
            Error::Unavailable
        } else {
            Error::Internal(anyhow::Error::new(error))
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(error: rusqlite::Error) -> Error {
        use rusqlite::ErrorCode as C;
        match error.sqlite_error_code() {
            Some(C::DatabaseBusy | C::DatabaseLocked) => Error::Busy,
            Some(C::CannotOpen | C::DiskFull | C::SystemIoFailure | C::NotADatabase) => {
                tracing::warn!(%error, "database unavailable");
                Error::Unavailable
            }
            _ => Error::Internal(anyhow::Error::new(error)),
        }
    }
}

impl From<crate::storage::lite::WriteFailed> for Error {
    /// The batch holding the write did not commit (or the writer is gone): nothing
    /// was written, and the caller may retry.
    fn from(error: crate::storage::lite::WriteFailed) -> Error {
        tracing::warn!(%error, "a write was not committed");
        Error::Unavailable
    }
}

impl From<crate::storage::lite::reader::ReadFailed> for Error {
    fn from(error: crate::storage::lite::reader::ReadFailed) -> Error {
        use crate::storage::lite::reader::ReadFailed;
        match error {
            ReadFailed::Sqlite(error) => error.into(),
            ReadFailed::Stopped => {
                tracing::warn!(%error, "a read got no answer");
                Error::Unavailable
            }
        }
    }
}

/// Runs a transaction body again when it failed only because of contention
/// (PostgreSQL deadlock or serialization failure, SQLite busy), so that a valid
/// request is never refused because another one touched the same rows.
pub async fn retry_on_contention<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    const ATTEMPTS: u32 = 20;
    let mut tries = 0;
    loop {
        match attempt().await {
            Err(Error::Busy) if tries + 1 < ATTEMPTS => {
                tries += 1;
                let jitter = rand::random::<u64>() % 5;
                tokio::time::sleep(Duration::from_millis(u64::from(tries) * 2 + jitter)).await;
            }
            other => return other,
        }
    }
}
