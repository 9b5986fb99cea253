//! A session start on SQLite: the same steps as `super::pg`'s statement, run as
//! one job of the group-commit writer (`storage::lite`), inside the savepoint the
//! writer gives it. The writer is the only one that creates gamers, so the gamer
//! found or inserted here cannot be raced by another session start. The job
//! authenticates the client again against its row as of this transaction (its
//! secret may have matched a remembered row only) and reads the newest signing key,
//! so that a session start makes no read of its own outside the writer.

use rusqlite::Connection;

use super::{nanos, welcome_bonus, welcome_data, Profile, TokenTtls, WrittenSession};
use crate::domain::address::{AddressDeriver, Branch};
use crate::domain::clients::{Client, SessionClient};
use crate::domain::ledger;
use crate::domain::tokens::Purpose;
use crate::domain::webhooks::{announce_on_writer, EventType};
use crate::domain::{Error, Result};
use crate::storage::gamers::GamerRow;
use crate::storage::lite::clients::{find_client, newest_key_id};
use crate::storage::lite::sessions as lite;
use crate::storage::now_nanos;

/// What a session start needs, owned, so that it can travel to the writer thread.
#[derive(Clone, Debug)]
pub(crate) struct SessionJob {
    /// Derives the new gamer's wallet address.
    pub addresses: AddressDeriver,
    /// The refresh token's lifetime.
    pub ttls: TokenTtls,
    /// The game, as authenticated.
    pub client: SessionClient,
    /// The game's user id.
    pub user_id: String,
    /// The profile fields this session sends.
    pub update: Profile,
    /// The new session's id.
    pub session_id: String,
    /// The new refresh token's hash.
    pub refresh_hash: String,
    /// The id and wallet address a new gamer gets (`storage::lite::sessions::GamerIds`).
    pub reserved: (i64, String),
}

impl SessionJob {
    /// Checks the client again, finds or creates the gamer (with its wallet and
    /// welcome bonus), merges the profile, and inserts the session and its refresh
    /// token. Returns what was written, the client as this transaction read it, and
    /// the id of the key that signs the access token.
    pub fn run(self, conn: &Connection) -> Result<(WrittenSession, Client, String)> {
        let client: Client = match find_client(conn, &self.client.client.id)? {
            Some(row) if row.is_disabled == 0 && row.secret_hash == self.client.secret_hash => {
                row.into()
            }
            _ => return Err(Error::Unauthorized),
        };
        let kid = newest_key_id(conn, Purpose::Access.as_str())?
            .ok_or_else(|| anyhow::anyhow!("no access signing key in the database"))?;
        let written = self.write(conn, &client)?;
        Ok((written, client, kid))
    }

    /// The writes of [`SessionJob::run`], for `client` as read in this transaction.
    fn write(&self, conn: &Connection, client: &Client) -> Result<WrittenSession> {
        let now = now_nanos();
        let (gamer, profile, is_new_user, bonus) =
            match lite::lock_gamer(conn, &client.id, &self.user_id, now)? {
                Some(gamer_id) => {
                    let mut gamer = lite::find_gamer(conn, gamer_id)?.ok_or_else(|| {
                        anyhow::anyhow!("gamer {gamer_id} vanished inside its transaction")
                    })?;
                    let profile = Profile::from_json(&gamer.profile).merged(&self.update);
                    if !self.update.is_empty() {
                        gamer.profile = profile.to_json();
                        lite::set_profile(conn, gamer_id, &gamer.profile)?;
                    }
                    (gamer, profile, false, 0)
                }
                None => {
                    let profile = Profile::default().merged(&self.update);
                    let profile_json = profile.to_json();
                    let (id, address) = self.insert_gamer(conn, client, &profile_json, now)?;
                    let bonus = self.create_wallet(conn, client, id, &address, now)?;
                    let gamer = GamerRow {
                        id,
                        user_id: self.user_id.clone(),
                        wallet_address: Some(address),
                        profile: profile_json,
                        kgen_id: None,
                        kgen_wallet_address: None,
                        kgen_phone: None,
                    };
                    (gamer, profile, true, bonus)
                }
            };
        let gamer_id = gamer.id;
        lite::insert_session(conn, &self.session_id, &client.id, gamer_id, now)?;
        let expires_at = now.saturating_add(nanos(self.ttls.refresh));
        lite::insert_refresh_token(conn, &self.refresh_hash, &self.session_id, expires_at, now)?;
        Ok((gamer, profile, is_new_user, now, bonus))
    }

    /// Inserts the new gamer with the reserved id and address; if either is taken
    /// after all, with an id of SQLite's choosing and its address derived here.
    /// Returns the id and address.
    fn insert_gamer(
        &self,
        conn: &Connection,
        client: &Client,
        profile: &str,
        now: i64,
    ) -> Result<(i64, String)> {
        let (client_id, user_id) = (&client.id, &self.user_id);
        let (reserved_id, reserved_address) = (self.reserved.0, self.reserved.1.as_str());
        let (id, address) = match lite::insert_gamer_as(
            conn,
            (reserved_id, reserved_address),
            client_id,
            user_id,
            profile,
            now,
        )? {
            Some(id) => (id, reserved_address.to_owned()),
            None => {
                tracing::warn!(
                    reserved_id,
                    "a reserved gamer id was taken: SQLite picks one"
                );
                let id = lite::insert_gamer(conn, client_id, user_id, profile, now)?
                    .ok_or_else(|| anyhow::anyhow!("the writer raced itself on a gamer"))?;
                let address = self.addresses.address(Branch::Gamer, id)?;
                lite::set_wallet_address(conn, id, &address)?;
                (id, address)
            }
        };
        Ok((id, address))
    }

    /// Gives a new gamer its wallet buckets, and credits the client's welcome bonus
    /// with a ledger transfer. Returns the bonus credited.
    fn create_wallet(
        &self,
        conn: &Connection,
        client: &Client,
        gamer_id: i64,
        address: &str,
        now: i64,
    ) -> Result<i64> {
        lite::insert_wallet_accounts(conn, &client.id, gamer_id, address, now)?;
        if client.welcome_bonus == 0 {
            return Ok(0);
        }
        let uid = crate::domain::ids::new_id().to_string();
        if !ledger::post_on_writer(conn, &welcome_bonus(client, gamer_id, &uid, now))? {
            return Err(anyhow::anyhow!("issuing accounts are never refused a debit").into());
        }
        let data = || welcome_data(client, &self.user_id, &uid, address);
        announce_on_writer(conn, &client.id, EventType::WelcomeBonusGranted, data, now)?;
        Ok(client.welcome_bonus)
    }
}
