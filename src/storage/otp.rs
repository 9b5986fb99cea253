//! OTP requests, OTP sends, and the per-phone and per-client rows that serialise
//! the sends to one phone and the sends of one game client (CONTRACT section 3). The rules live in `domain::phone_link`; these are its
//! statements.

use super::Tx;

/// The states of an OTP request.
pub mod state {
    /// Its first OTP is being delivered: the authCode is reserved, nothing verifies.
    pub const PENDING: &str = "PENDING";
    /// Waiting for the right OTP (possibly expired: a resend revives it).
    pub const OPEN: &str = "OPEN";
    /// Verified: the gamer is linked. Used codes answer like unknown ones.
    pub const VERIFIED: &str = "VERIFIED";
    /// A new register of the same gamer and phone took its place.
    pub const REPLACED: &str = "REPLACED";
    /// Too many wrong tries: every verify of it is refused.
    pub const DEAD: &str = "DEAD";
}

/// An OTP request as a verify sees it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OtpRequestRow {
    /// The phone, E.164.
    pub phone: String,
    /// HMAC-SHA256 of the OTP, hex.
    pub otp_hash: String,
    /// One of [`state`].
    pub state: String,
    /// Wrong tries so far.
    pub attempts: i64,
    /// End of validity, nanoseconds.
    pub expires_at: i64,
}

/// Takes the row lock of `phone` (creating its row on first use): the first
/// statement of every transaction that checks or records a send to that phone.
pub async fn lock_phone(tx: &mut Tx, phone: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into otp_phones (phone, updated_at)
         values ($1, $2)
         on conflict (phone) do update set updated_at = excluded.updated_at",
    )
    .bind(phone)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Takes the row lock of game client `client_id` (creating its row on first use):
/// taken after the phone's, before its gamer and client send limits are checked,
/// so that every server counts the client's sends one at a time.
pub async fn lock_client(tx: &mut Tx, client_id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into otp_clients (client_id, updated_at)
         values ($1, $2)
         on conflict (client_id) do update set updated_at = excluded.updated_at",
    )
    .bind(client_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The time of the `n`-th newest send caused by `client_id` after `since`
/// (`n` ≥ 1); `None` if it caused fewer. Reads at most `n` index entries.
pub async fn nth_newest_client_send(
    tx: &mut Tx,
    client_id: &str,
    since: i64,
    n: u32,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "select sent_at
         from otp_sends
         where client_id = $1
           and sent_at > $2
         order by sent_at desc
         limit 1
         offset $3",
    )
    .bind(client_id)
    .bind(since)
    .bind(i64::from(n.saturating_sub(1)))
    .fetch_optional(&mut **tx)
    .await
}

/// Forgets the sends of `phone` at or before `before` (no limit looks that far back).
pub async fn prune_sends(tx: &mut Tx, phone: &str, before: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "delete from otp_sends
         where phone = $1
           and sent_at <= $2",
    )
    .bind(phone)
    .bind(before)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The times of the sends to `phone` after `since`, newest first.
pub async fn send_times(tx: &mut Tx, phone: &str, since: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "select sent_at
         from otp_sends
         where phone = $1
           and sent_at > $2
         order by sent_at desc, id desc",
    )
    .bind(phone)
    .bind(since)
    .fetch_all(&mut **tx)
    .await
}

/// The times of the sends asked for by `gamer_id` after `since`, newest first.
pub async fn gamer_send_times(
    tx: &mut Tx,
    gamer_id: i64,
    since: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "select sent_at
         from otp_sends
         where gamer_id = $1
           and sent_at > $2
         order by sent_at desc, id desc",
    )
    .bind(gamer_id)
    .bind(since)
    .fetch_all(&mut **tx)
    .await
}

/// Records a send to `phone` asked for by gamer `gamer_id` of `client_id` and
/// returns its id.
pub async fn insert_send(
    tx: &mut Tx,
    phone: &str,
    client_id: &str,
    gamer_id: i64,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "insert into otp_sends (phone, client_id, gamer_id, sent_at)
         values ($1, $2, $3, $4)
         returning id",
    )
    .bind(phone)
    .bind(client_id)
    .bind(gamer_id)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
}

/// Deletes a recorded send (its delivery failed, so it does not count).
pub async fn delete_send(tx: &mut Tx, send_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("delete from otp_sends where id = $1")
        .bind(send_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A request to reserve before its first delivery.
#[derive(Clone, Copy, Debug)]
pub struct NewOtpRequest<'a> {
    /// The candidate authCode.
    pub auth_code: &'a str,
    /// Owning client.
    pub client_id: &'a str,
    /// The gamer that registered.
    pub gamer_id: i64,
    /// The phone, E.164.
    pub phone: &'a str,
    /// Time, nanoseconds.
    pub now: i64,
}

/// Inserts a PENDING request; `false` (nothing written) if the authCode is taken.
pub async fn insert_pending_request(
    tx: &mut Tx,
    request: NewOtpRequest<'_>,
) -> Result<bool, sqlx::Error> {
    let inserted: Option<String> = sqlx::query_scalar(
        "insert into otp_requests (auth_code, client_id, gamer_id, phone, otp_hash, state,
                                   attempts, expires_at, created_at)
         values ($1, $2, $3, $4, '', 'PENDING', 0, $5, $5)
         on conflict (auth_code) do nothing
         returning auth_code",
    )
    .bind(request.auth_code)
    .bind(request.client_id)
    .bind(request.gamer_id)
    .bind(request.phone)
    .bind(request.now)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(inserted.is_some())
}

/// Deletes the PENDING requests of `phone` created at or before `before`: left over
/// by a server that stopped while delivering.
pub async fn prune_pending_requests(
    tx: &mut Tx,
    phone: &str,
    before: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "delete from otp_requests
         where phone = $1
           and state = 'PENDING'
           and created_at <= $2",
    )
    .bind(phone)
    .bind(before)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes a PENDING request (its delivery failed).
pub async fn delete_pending_request(tx: &mut Tx, auth_code: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "delete from otp_requests
         where auth_code = $1
           and state = 'PENDING'",
    )
    .bind(auth_code)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The authCode of this gamer's open request for `phone`, if any.
pub async fn open_request_code(
    tx: &mut Tx,
    client_id: &str,
    gamer_id: i64,
    phone: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select auth_code
         from otp_requests
         where client_id = $1
           and gamer_id = $2
           and phone = $3
           and state = 'OPEN'",
    )
    .bind(client_id)
    .bind(gamer_id)
    .bind(phone)
    .fetch_optional(&mut **tx)
    .await
}

/// Closes this gamer's open request for `phone`, if any (a new register replaces it).
pub async fn replace_open_request(
    tx: &mut Tx,
    client_id: &str,
    gamer_id: i64,
    phone: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update otp_requests
         set state = 'REPLACED'
         where client_id = $1
           and gamer_id = $2
           and phone = $3
           and state = 'OPEN'",
    )
    .bind(client_id)
    .bind(gamer_id)
    .bind(phone)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Gives a request in state `from` a fresh OTP hash and validity, resets its wrong
/// tries and makes it OPEN. Returns whether the request was in state `from`.
pub async fn renew_request(
    tx: &mut Tx,
    auth_code: &str,
    from: &str,
    otp_hash: &str,
    expires_at: i64,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "update otp_requests
         set state = 'OPEN', otp_hash = $3, attempts = 0, expires_at = $4
         where auth_code = $1
           and state = $2",
    )
    .bind(auth_code)
    .bind(from)
    .bind(otp_hash)
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Locks this gamer's OPEN or DEAD request with `auth_code` for a verify.
pub async fn lock_request(
    tx: &mut Tx,
    client_id: &str,
    gamer_id: i64,
    auth_code: &str,
) -> Result<Option<OtpRequestRow>, sqlx::Error> {
    sqlx::query_as(
        "update otp_requests
         set attempts = attempts
         where auth_code = $1
           and client_id = $2
           and gamer_id = $3
           and state in ('OPEN', 'DEAD')
         returning phone, otp_hash, state, attempts, expires_at",
    )
    .bind(auth_code)
    .bind(client_id)
    .bind(gamer_id)
    .fetch_optional(&mut **tx)
    .await
}

/// Counts a wrong try; the request dies when it reaches `attempts_max`.
pub async fn record_wrong_attempt(
    tx: &mut Tx,
    auth_code: &str,
    attempts_max: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update otp_requests
         set attempts = attempts + 1,
             state = case when attempts + 1 >= $2 then 'DEAD' else state end
         where auth_code = $1",
    )
    .bind(auth_code)
    .bind(attempts_max)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Sets a request's state.
pub async fn set_request_state(
    tx: &mut Tx,
    auth_code: &str,
    state: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("update otp_requests set state = $2 where auth_code = $1")
        .bind(auth_code)
        .bind(state)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
