//! Phone linking by OTP (CONTRACT section 3): register, resend and verify, and the
//! gamer's linked KGeN account.
//!
//! A send never holds a transaction open across the call to the SMS gateway. It
//! runs in three steps:
//! 1. *Reserve* (one transaction): lock the phone's `otp_phones` row, check the
//!    link conflicts (409), the open request (404, resend only) and the limits
//!    (429: the phone's, then, under the client's `otp_clients` row lock, the
//!    gamer's and the client's), then record the send and, for a register, reserve
//!    a new authCode as a PENDING request. Two sends to one phone therefore
//!    serialise on the phone's row, two sends of one client on the client's row
//!    (always taken second, so the two locks cannot deadlock), and the second
//!    send sees the first one's.
//! 2. *Deliver* the OTP, with no transaction open.
//! 3. On success, *commit* the OTP's hash (one transaction): the PENDING request
//!    replaces the gamer's open request for the phone, or the resent request gets
//!    the new hash, validity and wrong-try count. On failure, *discard* the send and
//!    the PENDING request instead: nothing usable is left, an earlier request is as
//!    it was, and the failed send does not count.

use super::address::Branch;
use super::auth::Gamer;
use super::error::retry_on_contention;
use super::otp::{self, nanos, OtpPolicy};
use super::phone::Phone;
use super::secrets::ServerKeys;
use super::sms::{OtpMessage, OtpSender};
use super::{Error, Result};
use crate::storage::gamers::{self, GamerRow};
use crate::storage::kgen_accounts as accounts;
use crate::storage::otp::{self as store, state, NewOtpRequest};
use crate::storage::{self, ledger, Db, Tx};

/// The answer of a register or resend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtpSent {
    /// The handle of the OTP request.
    pub auth_code: String,
    /// Whether the phone has no KGeN account yet.
    pub is_new_user: bool,
}

/// What the reserve step recorded for one send.
#[derive(Clone, Debug)]
struct Reservation {
    send_id: i64,
    auth_code: String,
    is_new_user: bool,
    /// A register (a PENDING request) rather than a resend (an OPEN one).
    is_new_request: bool,
}

/// Everything the linking flows need.
#[derive(Clone, Copy, Debug)]
pub struct PhoneLink<'a> {
    /// The database.
    pub db: &'a Db,
    /// Server keys (OTP hash key, wallet addresses).
    pub keys: &'a ServerKeys,
    /// How OTPs are delivered.
    pub sender: &'a dyn OtpSender,
    /// Validity, tries and send limits.
    pub policy: OtpPolicy,
}

impl PhoneLink<'_> {
    /// Opens a new OTP request of `gamer` for `phone` and sends its OTP; a new
    /// register replaces the gamer's open request for the same phone.
    pub async fn register(&self, gamer: &Gamer, phone: &Phone) -> Result<OtpSent> {
        let reservation = retry_on_contention(|| self.reserve(gamer, phone, true)).await?;
        self.deliver(gamer, phone, reservation).await
    }

    /// Sends a fresh OTP for the gamer's open request for `phone`, keeping its
    /// authCode. No open request: `NotFound`.
    pub async fn resend(&self, gamer: &Gamer, phone: &Phone) -> Result<OtpSent> {
        let reservation = retry_on_contention(|| self.reserve(gamer, phone, false)).await?;
        self.deliver(gamer, phone, reservation).await
    }

    /// Step 1: checks in answer order (409, 404, 429) and records the send.
    async fn reserve(
        &self,
        gamer: &Gamer,
        phone: &Phone,
        is_new_request: bool,
    ) -> Result<Reservation> {
        let now = storage::now_nanos();
        let mut tx = self.db.begin().await?;
        store::lock_phone(&mut tx, phone.as_str(), now).await?;
        let phone_account = accounts::account_of_phone(&mut *tx, phone.as_str()).await?;
        check_link_conflicts(&mut tx, gamer, phone_account).await?;
        let open_code = if is_new_request {
            None
        } else {
            let code =
                store::open_request_code(&mut tx, &gamer.client_id, gamer.gamer_id, phone.as_str())
                    .await?;
            Some(code.ok_or(Error::NotFound)?)
        };
        self.check_send_limits(&mut tx, gamer, phone, now).await?;
        let send_id = store::insert_send(
            &mut tx,
            phone.as_str(),
            &gamer.client_id,
            gamer.gamer_id,
            now,
        )
        .await?;
        let auth_code = match open_code {
            Some(code) => code,
            None => reserve_auth_code(&mut tx, gamer, phone, now).await?,
        };
        tx.commit().await?;
        Ok(Reservation {
            send_id,
            auth_code,
            is_new_user: phone_account.is_none(),
            is_new_request,
        })
    }

    /// The 429s, in order: the phone's cooldown and hourly limit (under the phone's
    /// lock), then the gamer's and the client's hourly limits (under the client's
    /// lock, taken second by every send, so that sends to different phones of one
    /// client are counted one at a time on every server).
    async fn check_send_limits(
        &self,
        tx: &mut Tx,
        gamer: &Gamer,
        phone: &Phone,
        now: i64,
    ) -> Result<()> {
        let too_many = |retry_after| Err(Error::TooManyRequests { retry_after });
        let memory_start = now.saturating_sub(nanos(self.policy.memory()));
        store::prune_sends(tx, phone.as_str(), memory_start).await?;
        let sent_at = store::send_times(tx, phone.as_str(), memory_start).await?;
        if let Some(retry_after) = self.policy.send_wait(&sent_at, now) {
            return too_many(retry_after);
        }
        store::lock_client(tx, &gamer.client_id, now).await?;
        let hour_ago = now.saturating_sub(nanos(otp::SEND_WINDOW));
        let gamer_sent = store::gamer_send_times(tx, gamer.gamer_id, hour_ago).await?;
        if let Some(retry_after) = self.policy.gamer_send_wait(&gamer_sent, now) {
            return too_many(retry_after);
        }
        let cap = self.policy.sends_per_client_per_hour_max;
        let blocking = store::nth_newest_client_send(tx, &gamer.client_id, hour_ago, cap).await?;
        if let Some(retry_after) = self.policy.client_send_wait(blocking, now) {
            return too_many(retry_after);
        }
        Ok(())
    }

    /// Steps 2 and 3: delivers a new OTP, then commits its hash or discards the send.
    async fn deliver(
        &self,
        gamer: &Gamer,
        phone: &Phone,
        reservation: Reservation,
    ) -> Result<OtpSent> {
        let code = otp::generate_otp();
        let message = OtpMessage {
            to: phone.as_str().to_owned(),
            text: otp::message_text(&code, self.policy.ttl),
            otp: code,
            auth_code: reservation.auth_code.clone(),
        };
        if let Err(error) = self.sender.send(&message).await {
            tracing::warn!(%error, auth_code = %reservation.auth_code, "OTP delivery failed");
            if let Err(cleanup) = retry_on_contention(|| self.discard(&reservation)).await {
                tracing::error!(error = %cleanup, "could not discard a failed OTP send");
            }
            return Err(Error::SmsDeliveryFailed);
        }
        let hash = otp::hash_otp(&self.keys.otp_key, &reservation.auth_code, &message.otp);
        retry_on_contention(|| self.activate(gamer, phone, &reservation, &hash)).await?;
        Ok(OtpSent {
            auth_code: reservation.auth_code,
            is_new_user: reservation.is_new_user,
        })
    }

    /// Makes a delivered OTP the one that verifies.
    async fn activate(
        &self,
        gamer: &Gamer,
        phone: &Phone,
        reservation: &Reservation,
        otp_hash: &str,
    ) -> Result<()> {
        let now = storage::now_nanos();
        let expires_at = now.saturating_add(nanos(self.policy.ttl));
        let mut tx = self.db.begin().await?;
        store::lock_phone(&mut tx, phone.as_str(), now).await?;
        let from = if reservation.is_new_request {
            store::replace_open_request(&mut tx, &gamer.client_id, gamer.gamer_id, phone.as_str())
                .await?;
            state::PENDING
        } else {
            state::OPEN
        };
        let code = &reservation.auth_code;
        if !store::renew_request(&mut tx, code, from, otp_hash, expires_at).await? {
            // The request was verified, replaced or killed while its OTP was on
            // the way: there is no open request to resend for any more.
            return Err(Error::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    /// Undoes a reservation whose delivery failed.
    async fn discard(&self, reservation: &Reservation) -> Result<()> {
        let mut tx = self.db.begin().await?;
        store::delete_send(&mut tx, reservation.send_id).await?;
        if reservation.is_new_request {
            store::delete_pending_request(&mut tx, &reservation.auth_code).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Checks `otp` for request `auth_code` and links the gamer to the phone's KGeN
    /// account, creating it when new. A wrong OTP is counted even though the
    /// request is refused: the count is a security counter.
    pub async fn verify(
        &self,
        gamer: &Gamer,
        phone: &Phone,
        auth_code: &str,
        otp: &str,
    ) -> Result<()> {
        retry_on_contention(|| self.try_verify(gamer, phone, auth_code, otp)).await
    }

    async fn try_verify(
        &self,
        gamer: &Gamer,
        phone: &Phone,
        auth_code: &str,
        code: &str,
    ) -> Result<()> {
        let now = storage::now_nanos();
        let attempts_max = i64::from(self.policy.attempts_max.max(1));
        let mut tx = self.db.begin().await?;
        let request = store::lock_request(&mut tx, &gamer.client_id, gamer.gamer_id, auth_code)
            .await?
            .filter(|request| request.phone == phone.as_str())
            .ok_or(Error::InvalidOtp)?;
        if request.state == state::DEAD || request.attempts >= attempts_max {
            return Err(Error::TooManyAttempts);
        }
        if now >= request.expires_at {
            return Err(Error::OtpExpired);
        }
        if !otp::otp_matches(&self.keys.otp_key, auth_code, code, &request.otp_hash) {
            store::record_wrong_attempt(&mut tx, auth_code, attempts_max).await?;
            tx.commit().await?;
            return Err(Error::InvalidOtp);
        }
        self.link(&mut tx, gamer, phone, now).await?;
        store::set_request_state(&mut tx, auth_code, state::VERIFIED).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Links `gamer` to the KGeN account of `phone`, creating the account when new.
    async fn link(&self, tx: &mut Tx, gamer: &Gamer, phone: &Phone, now: i64) -> Result<()> {
        let existing = accounts::account_of_phone(&mut **tx, phone.as_str()).await?;
        check_link_conflicts(tx, gamer, existing).await?;
        let account_id = match existing {
            Some(id) => id,
            None => self.create_account(tx, phone, now).await?,
        };
        match accounts::link_gamer(tx, &gamer.client_id, gamer.gamer_id, account_id).await {
            Ok(true) => {
                let kgen_id = crate::storage::webhooks::kgen_id_of(tx, account_id).await?;
                let data = serde_json::json!({
                    "userID": gamer.user_id,
                    "kgenID": kgen_id,
                    "linkedPhone": super::console::gamers::mask_phone(phone.as_str()),
                });
                let event = super::webhooks::EventType::PhoneLinked;
                super::webhooks::announce(tx, &gamer.client_id, event, data, now).await?;
                Ok(())
            }
            Ok(false) => Err(Error::AlreadyLinked),
            // The schema's unique (client_id, kgen_account_id): another gamer of this
            // game linked the account after the check above.
            Err(error) if storage::is_unique_violation(&error) => Err(Error::PhoneAlreadyLinked),
            Err(error) => Err(error.into()),
        }
    }

    /// Creates the KGeN account of `phone` with its wallet address and ledger
    /// account, or finds the one another transaction has just created.
    async fn create_account(&self, tx: &mut Tx, phone: &Phone, now: i64) -> Result<i64> {
        let kgen_id = uuid::Uuid::new_v4().to_string();
        let Some(id) = accounts::insert_account(tx, &kgen_id, phone.as_str(), now).await? else {
            let id = accounts::account_of_phone(&mut **tx, phone.as_str()).await?;
            return Ok(id.ok_or_else(|| anyhow::anyhow!("the phone's KGeN account vanished"))?);
        };
        let address = self.keys.addresses.address(Branch::Kgen, id)?;
        accounts::set_wallet_address(tx, id, &address).await?;
        ledger::insert_kgen_account(tx, id, &address, now).await?;
        Ok(id)
    }
}

/// The 409s of register, resend and verify: the phone's account is linked to
/// another gamer of this game, or this gamer to another account.
async fn check_link_conflicts(
    tx: &mut Tx,
    gamer: &Gamer,
    phone_account: Option<i64>,
) -> Result<()> {
    if let Some(account_id) = phone_account {
        let holder = accounts::gamer_of_account(&mut **tx, &gamer.client_id, account_id).await?;
        if holder.is_some_and(|holder| holder != gamer.gamer_id) {
            return Err(Error::PhoneAlreadyLinked);
        }
    }
    let linked = accounts::account_of_gamer(&mut **tx, &gamer.client_id, gamer.gamer_id).await?;
    if linked.is_some_and(|linked| Some(linked) != phone_account) {
        return Err(Error::AlreadyLinked);
    }
    Ok(())
}

/// Reserves a new, unused authCode as a PENDING request of `gamer` for `phone`.
async fn reserve_auth_code(tx: &mut Tx, gamer: &Gamer, phone: &Phone, now: i64) -> Result<String> {
    // A PENDING request older than the send window was left by a stopped server.
    let stale = now.saturating_sub(nanos(otp::SEND_WINDOW));
    store::prune_pending_requests(tx, phone.as_str(), stale).await?;
    // 9 * 10^7 codes: a few tries find a free one unless the table is nearly full.
    for _ in 0..32 {
        let auth_code = otp::generate_auth_code();
        let request = NewOtpRequest {
            auth_code: &auth_code,
            client_id: &gamer.client_id,
            gamer_id: gamer.gamer_id,
            phone: phone.as_str(),
            now,
        };
        if store::insert_pending_request(tx, request).await? {
            return Ok(auth_code);
        }
    }
    Err(anyhow::anyhow!("no free authCode after 32 tries").into())
}

/// The gamer with its linked KGeN account; `NotFound` when no phone is linked.
pub async fn linked_account(db: &Db, gamer: &Gamer) -> Result<GamerRow> {
    gamers::find_gamer(db.reader(), gamer.gamer_id)
        .await?
        .filter(|row| row.kgen_id.is_some())
        .ok_or(Error::NotFound)
}
