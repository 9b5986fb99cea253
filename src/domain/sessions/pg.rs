//! A session start on PostgreSQL: the same steps as `super::lite`, written by the
//! statement of `storage::pg::sessions` with the other starts and claims of its
//! group-commit batch (`storage::pg::lanes`). The new gamer's id, address, welcome
//! bonus and outbox event are prepared before it, and used only if the game did
//! not know the user yet (an unused id goes back for the next session); a user
//! known to have a gamer needs none of them.

use tokio::sync::oneshot;

use super::{welcome_bonus, welcome_data, Profile, TokenTtls, WrittenSession};
use crate::domain::address::{AddressDeriver, Branch};
use crate::domain::clients::Client;
use crate::domain::ledger::Move;
use crate::domain::webhooks::{self, EventType};
use crate::domain::{Error, Result};
use crate::storage::pg::lanes::{BoxFuture, Lanes, SessionJob};
use crate::storage::pg::sessions::{
    self as store, lane_of_user, GamerIds, SessionWrite, SessionWritten, WelcomeWrite,
};
use crate::storage::{now_nanos, Db};

/// Tries of a start alone that another one's insert of the same new gamer raced:
/// the second finds the gamer the first committed.
const TRIES: u32 = 3;

/// What a session start needs.
pub(super) struct Start<'a> {
    /// Derives a new gamer's wallet address.
    pub addresses: &'a AddressDeriver,
    /// The refresh token's lifetime.
    pub ttls: TokenTtls,
    /// The game.
    pub client: &'a Client,
    /// The game's user id.
    pub user_id: &'a str,
    /// The profile fields this session sends.
    pub update: &'a Profile,
    /// The new session's id.
    pub session_id: &'a str,
    /// The new refresh token's hash.
    pub refresh_hash: &'a str,
}

impl Start<'_> {
    /// Finds or creates the gamer (with its wallet and welcome bonus), merges the
    /// profile, and inserts the session and its refresh token, in a batch of the
    /// user's lane.
    pub(super) async fn run(
        &self,
        db: &Db,
        lanes: &Lanes,
        ids: &GamerIds,
    ) -> Result<(WrittenSession, String)> {
        let (client_id, user_id) = (self.client.id.as_str(), self.user_id);
        // A known gamer's lane is its id's; a new one's id is picked for its lane.
        let (lane, gamer_id, address) = match ids.known(client_id, user_id) {
            Some(id) => (id.rem_euclid(lanes.count() as i64) as usize, id, None),
            None => {
                let lane = lane_of_user(client_id, user_id, lanes.count());
                let derive = |id| self.addresses.address(Branch::Gamer, id);
                let (id, address) = ids
                    .take(db.writer(), lane, derive)
                    .await
                    .map_err(database_error)?;
                (lane, id, Some(address))
            }
        };
        let write = self.write(gamer_id, address.clone(), now_nanos())?;
        let (now, bonus) = (write.now, write.welcome.bonus);
        let (reply, answer) = oneshot::channel();
        let job = StartJob {
            db: db.clone(),
            write,
            outcome: None,
            reply,
        };
        if lanes.submit_session(lane, Box::new(job)).await.is_err() {
            return Err(Error::Unavailable);
        }
        // An error may come after the commit: a new id is not given back then.
        let written = match answer.await.unwrap_or(Err(Error::Unavailable)) {
            Ok(written) => written,
            Err(error) => {
                if matches!(error, Error::Unavailable) {
                    ids.drop_held();
                }
                if address.is_none() {
                    // Perhaps not where remembered: look again next time.
                    ids.forget(client_id, user_id);
                }
                return Err(error);
            }
        };
        ids.remember(client_id, user_id, written.gamer.id);
        let kid = written
            .access_kid
            .ok_or_else(|| anyhow::anyhow!("no ACCESS signing key in the database"))?;
        let profile = Profile::from_json(&written.gamer.profile);
        if written.is_new {
            return Ok(((written.gamer, profile, true, now, bonus), kid));
        }
        if let Some(address) = address {
            ids.give_back((gamer_id, address));
        }
        Ok(((written.gamer, profile, false, now, 0), kid))
    }

    /// The statement's row: the session, and the gamer should it be new.
    fn write(&self, gamer_id: i64, address: Option<String>, now: i64) -> Result<SessionWrite> {
        let client = self.client;
        let welcome = match (client.welcome_bonus, &address) {
            (0, _) | (_, None) => WelcomeWrite::default(),
            (_, Some(address)) => {
                let uid = crate::domain::ids::new_id().to_string();
                let data = welcome_data(client, self.user_id, &uid, address);
                let event = webhooks::new_event(EventType::WelcomeBonusGranted, data, now);
                welcome_write(&welcome_bonus(client, gamer_id, &uid, now))?.announcing(event)
            }
        };
        Ok(SessionWrite {
            client_id: client.id.clone(),
            user_id: self.user_id.to_owned(),
            now,
            profile_update: self.update.set_fields_json(),
            gamer_id,
            profile: match address {
                Some(_) => Profile::default().merged(self.update).to_json(),
                None => String::new(),
            },
            address,
            session_id: self.session_id.to_owned(),
            refresh_hash: self.refresh_hash.to_owned(),
            expires_at: now.saturating_add(super::nanos(self.ttls.refresh)),
            welcome,
        })
    }
}

/// An error of the database as the database's (unavailable, contention), any
/// other as internal.
fn database_error(error: anyhow::Error) -> Error {
    match error.downcast::<sqlx::Error>() {
        Ok(error) => Error::from(error),
        Err(error) => Error::Internal(error),
    }
}

/// The statement's view of a welcome bonus move (one leg, one history line).
fn welcome_write(money: &Move<'_>) -> Result<WelcomeWrite> {
    let (Some(entry), [leg]) = (money.entry.as_ref(), money.legs.as_slice()) else {
        return Err(anyhow::anyhow!("a welcome bonus is one transfer with a history line").into());
    };
    Ok(WelcomeWrite {
        bonus: leg.amount,
        uid: money.uid.to_owned(),
        shard: leg.from.owner_id,
        bucket: leg.to.kind.as_str(),
        kind: money.kind.as_str(),
        direction: entry.direction.as_str(),
        name: entry.name.clone(),
        description: entry.description.clone(),
        sync_status: entry.sync_status.as_str(),
        ..WelcomeWrite::default()
    })
}

/// A session start waiting in a batch.
struct StartJob {
    db: Db,
    write: SessionWrite,
    outcome: Option<SessionWritten>,
    reply: oneshot::Sender<Result<SessionWritten>>,
}

impl SessionJob for StartJob {
    fn write(&self) -> &SessionWrite {
        &self.write
    }

    fn written(&mut self, written: SessionWritten) {
        self.outcome = Some(written);
    }

    fn committed(mut self: Box<Self>) {
        match self.outcome.take() {
            Some(written) => {
                let _ = self.reply.send(Ok(written));
            }
            None => {
                tokio::spawn(self.alone());
            }
        }
    }

    fn failed(self: Box<Self>, _error: &sqlx::Error) {
        // Logged by the lane. Nothing of the batch is known to be written: a new
        // session may be asked for again.
        let _ = self.reply.send(Err(Error::Unavailable));
    }

    fn alone(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let StartJob {
                db, write, reply, ..
            } = *self;
            let _ = reply.send(start_alone(&db, &write).await);
        })
    }
}

/// The start in a statement of its own (its own transaction).
async fn start_alone(db: &Db, write: &SessionWrite) -> Result<SessionWritten> {
    for _ in 0..TRIES {
        let written = store::write_sessions(db.writer(), &[write]).await?;
        if let Some(Some(written)) = written.into_iter().next() {
            return Ok(written);
        }
    }
    Err(anyhow::anyhow!("a session start lost {TRIES} races for its new gamer").into())
}
