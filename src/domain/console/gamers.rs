//! A game's gamers as the console sees them: search pages, one gamer's page and
//! history, and revoking every session of a gamer (its refresh tokens at once,
//! its access tokens at once here and within the session cache's lifetime on
//! other servers).

use crate::domain::auth::SessionCache;
use crate::domain::cursor::Cursors;
use crate::domain::ledger::WalletTransaction;
use crate::domain::sessions::Profile;
use crate::domain::wallet::Balance;
use crate::domain::{Error, Result};
use crate::storage::console::reads::{self, GamerListRow};
use crate::storage::gamers::{self, GamerRow};
use crate::storage::ledger;
use crate::storage::{self, Db};

/// How the console searches a game's gamers.
pub use crate::storage::console::reads::GamerQuery;

/// One page of a game's gamers matching `query` (`q` names the list for cursors).
pub async fn search(
    db: &Db,
    cursors: &Cursors,
    client_id: &str,
    query: GamerQuery<'_>,
    q: &str,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<GamerListRow>, String)> {
    let scope = format!("console-gamers|{client_id}|{q}");
    let before = cursors.start(&scope, cursor)?;
    let rows = reads::search_gamers(
        db.reader(),
        db.backend(),
        client_id,
        query,
        before,
        limit + 1,
    )
    .await?;
    Ok(cursors.finish_page(&scope, rows, limit, |row| row.id))
}

/// What a gamer's page shows.
#[derive(Clone, Debug)]
pub struct GamerPage {
    /// The gamer with its linked account.
    pub gamer: GamerRow,
    /// Its profile fields.
    pub profile: Profile,
    /// Its balances.
    pub balance: Balance,
    /// Its creation time, nanoseconds.
    pub created_at: i64,
    /// Sessions with a live refresh token.
    pub active_sessions: i64,
}

async fn find(db: &Db, client_id: &str, user_id: &str) -> Result<(i64, i64)> {
    reads::gamer_id(db.reader(), client_id, user_id)
        .await?
        .ok_or(Error::NotFound)
}

/// A gamer's page.
pub async fn gamer_page(db: &Db, client_id: &str, user_id: &str) -> Result<GamerPage> {
    let (gamer_id, created_at) = find(db, client_id, user_id).await?;
    let gamer = gamers::find_gamer(db.reader(), gamer_id)
        .await?
        .ok_or(Error::NotFound)?;
    let balance = ledger::wallet_balance(db.reader(), client_id, gamer_id)
        .await?
        .ok_or(Error::NotFound)?
        .into();
    let active_sessions =
        reads::active_session_count(db.reader(), gamer_id, storage::now_nanos()).await?;
    let profile = serde_json::from_str(&gamer.profile).unwrap_or_default();
    Ok(GamerPage {
        gamer,
        profile,
        balance,
        created_at,
        active_sessions,
    })
}

/// One page of a gamer's history, newest first.
pub async fn transactions(
    db: &Db,
    cursors: &Cursors,
    client_id: &str,
    user_id: &str,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<WalletTransaction>, String)> {
    let (gamer_id, _) = find(db, client_id, user_id).await?;
    let scope = format!("console-transactions|{client_id}|{gamer_id}");
    let before = cursors.start(&scope, cursor)?;
    let rows = ledger::list_wallet_entries(db.reader(), gamer_id, before, limit + 1).await?;
    let (rows, next) = cursors.finish_page(&scope, rows, limit, |row| row.id);
    Ok((
        rows.into_iter().map(WalletTransaction::from).collect(),
        next,
    ))
}

/// Revokes every live session of a gamer; returns how many.
pub async fn revoke_sessions(
    db: &Db,
    cache: &SessionCache,
    client_id: &str,
    user_id: &str,
) -> Result<usize> {
    let (gamer_id, _) = find(db, client_id, user_id).await?;
    let ids = reads::live_session_ids(db.reader(), gamer_id).await?;
    let now = storage::now_nanos();
    let mut tx = db.begin().await?;
    for id in &ids {
        crate::storage::sessions::revoke_session(&mut tx, id, now).await?;
    }
    tx.commit().await?;
    for id in &ids {
        cache.invalidate(id);
    }
    Ok(ids.len())
}

/// A phone as the console shows it: `+`, the country code, one `*` per hidden
/// digit, the last 4 digits.
pub fn mask_phone(e164: &str) -> String {
    let digits = e164.strip_prefix('+').unwrap_or(e164);
    let code_len = country_code_len(digits);
    if digits.len() <= code_len + 4 {
        return format!("+{digits}");
    }
    let (code, rest) = digits.split_at(code_len);
    let (hidden, last) = rest.split_at(rest.len() - 4);
    format!("+{code}{}{last}", "*".repeat(hidden.len()))
}

/// Digits of the E.164 country code that `digits` starts with (country codes are
/// prefix-free: 1 and 7 have one digit, the listed ones two, the rest three).
fn country_code_len(digits: &str) -> usize {
    const TWO_DIGIT: [&str; 44] = [
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
        "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
        "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
    ];
    if digits.starts_with('1') || digits.starts_with('7') {
        1
    } else if TWO_DIGIT.iter().any(|code| digits.starts_with(code)) {
        2
    } else {
        3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_keep_country_code_and_last_four() {
        assert_eq!(mask_phone("+919876543219"), "+91******3219");
        assert_eq!(mask_phone("+14155552671"), "+1******2671");
        assert_eq!(mask_phone("+380501234567"), "+380*****4567");
    }
}
