//! Session starts on PostgreSQL in one statement for a whole group-commit batch
//! (`lanes`), or for one start alone in its own transaction: for each start it
//! locks and updates the gamer if the game knows the user already, or else creates
//! the gamer with its wallet buckets and the welcome bonus (transfer, balance,
//! history line, outbox event), and in both cases inserts the session and its
//! refresh token. Done step by step, one start took twelve round trips.
//!
//! A new gamer's id comes before the statement, from the table's identity sequence
//! ([`GamerIds`]), because its wallet address is derived from it; and it is picked
//! so that the gamer's lane (`id mod lanes`, where its claims run) is the lane its
//! session starts ran on ([`lane_of_user`]).

use std::sync::Mutex;

use sqlx::{AnyExecutor, AnyPool};

use super::super::gamers::GamerRow;
use super::super::keys::newest_key_id_sql;
use super::super::lock;
use super::super::webhooks::NewEvent;

/// The ids of gamers to come, and of those known. A new gamer's id is a value of
/// the table's identity sequence times [`SPAN`] plus its lane, so that ids grow in
/// the order they are handed out whatever the lane (the console lists gamers newest
/// first by id) and `id mod lanes` is the lane ([`lane_of_user`]) of the user's
/// session starts. Sequence values are fetched a block at a time; an id a start
/// did not need (its gamer existed) is kept for the next start of its lane. Values
/// that die with the process are gaps, as a rolled-back insert would leave. Known
/// users' ids are remembered (a user's gamer id never changes), so their starts
/// need no new id.
#[derive(Debug)]
pub struct GamerIds {
    lanes: usize,
    /// Sequence values not yet used, lowest last.
    values: Mutex<Vec<i64>>,
    /// Ids given back, by lane, with their addresses.
    spare: Mutex<Vec<Vec<(i64, String)>>>,
    /// Known gamers: a hash of (client, user id) to gamer id. A collision (two
    /// users of one hash) only sends a start to another lane: the statement finds
    /// the gamer by its game and user id, and creates none for a known one.
    known: moka::sync::Cache<u64, i64>,
}

/// New ids per sequence value: lanes are a power of two up to 16, so `id mod
/// lanes` is the lane whatever their number.
pub const SPAN: i64 = 16;

/// Sequence values fetched at a time.
const BLOCK: i64 = 16;

/// Ids kept per lane for reuse.
const SPARE_MAX: usize = 64;

/// Known users remembered (some 18 MB when full: ~180 bytes each, measured).
const KNOWN_MAX: u64 = 100_000;

/// A known user not seen for this long is forgotten, so that an idle server
/// gives the memory of a rush of session starts back (50 000 users held ~9 MB
/// for good before). Forgetting costs a start little: a new id taken from the
/// lane's block and given back, and the user's lane found by hash (where a new
/// gamer's id is picked to be).
const KNOWN_IDLE: std::time::Duration = std::time::Duration::from_secs(60);

impl GamerIds {
    /// The ids of `lanes` lanes (at most [`SPAN`]).
    pub fn new(lanes: usize) -> GamerIds {
        GamerIds::forgetting_after(lanes, KNOWN_IDLE)
    }

    /// [`GamerIds::new`], known users forgotten after `idle` unseen.
    fn forgetting_after(lanes: usize, idle: std::time::Duration) -> GamerIds {
        let lanes = lanes.clamp(1, SPAN as usize);
        GamerIds {
            lanes,
            values: Mutex::default(),
            spare: Mutex::new(vec![Vec::new(); lanes]),
            known: moka::sync::Cache::builder()
                .max_capacity(KNOWN_MAX)
                .time_to_idle(idle)
                .build(),
        }
    }

    /// The gamer id of a user seen before.
    pub fn known(&self, client_id: &str, user_id: &str) -> Option<i64> {
        self.known.get(&user_hash(client_id, user_id))
    }

    /// Remembers a user's gamer id.
    pub fn remember(&self, client_id: &str, user_id: &str, gamer_id: i64) {
        self.known.insert(user_hash(client_id, user_id), gamer_id);
    }

    /// Drops the users forgotten by now (moka drops expired entries only when
    /// the cache is used, or told to).
    pub fn run_pending_tasks(&self) {
        self.known.run_pending_tasks();
    }

    /// Forgets a user (its gamer was not where remembered).
    pub fn forget(&self, client_id: &str, user_id: &str) {
        self.known.invalidate(&user_hash(client_id, user_id));
    }

    /// An unused gamer id of `lane` and its address (`derive`d once per id).
    pub async fn take(
        &self,
        pool: &AnyPool,
        lane: usize,
        derive: impl Fn(i64) -> anyhow::Result<String>,
    ) -> anyhow::Result<(i64, String)> {
        anyhow::ensure!(lane < self.lanes, "no lane {lane} of {}", self.lanes);
        if let Some(spare) = lock(&self.spare)[lane].pop() {
            return Ok(spare);
        }
        let value = loop {
            if let Some(value) = lock(&self.values).pop() {
                break value;
            }
            let mut block: Vec<i64> = sqlx::query_scalar(
                "select nextval(pg_get_serial_sequence('gamers', 'id')) \
                 from generate_series(1, $1)",
            )
            .bind(BLOCK)
            .fetch_all(pool)
            .await?;
            block.sort_unstable_by_key(|&value| std::cmp::Reverse(value));
            let mut values = lock(&self.values);
            block.append(&mut values);
            *values = block;
        };
        let id = value
            .checked_mul(SPAN)
            .and_then(|id| id.checked_add(lane as i64))
            .ok_or_else(|| anyhow::anyhow!("gamer ids are exhausted"))?;
        Ok((id, derive(id)?))
    }

    /// Drops the sequence values and spare ids held: after the database went away
    /// (a failover), the new primary's sequence may not have seen them.
    pub fn drop_held(&self) {
        lock(&self.values).clear();
        lock(&self.spare).iter_mut().for_each(Vec::clear);
    }

    /// Gives back an id that [`GamerIds::take`] gave and no row took.
    pub fn give_back(&self, fresh: (i64, String)) {
        let mut spare = lock(&self.spare);
        let lane = &mut spare[fresh.0.rem_euclid(self.lanes as i64) as usize];
        if lane.len() < SPARE_MAX {
            lane.push(fresh);
        }
    }
}

/// The lane of a game's user whose gamer id is not known: a hash of both that every
/// server computes alike (FNV-1a), so that one user's session starts share a lane.
pub fn lane_of_user(client_id: &str, user_id: &str, lanes: usize) -> usize {
    (user_hash(client_id, user_id) % lanes.max(1) as u64) as usize
}

/// FNV-1a of a game's user: the same on every server and in every release.
fn user_hash(client_id: &str, user_id: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in client_id.bytes().chain([0]).chain(user_id.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Everything a session start writes, decided by the domain; one row of
/// [`WRITE_SQL`]'s parameter.
#[derive(Debug, serde::Serialize)]
pub struct SessionWrite {
    /// The game.
    pub client_id: String,
    /// The game's user id.
    pub user_id: String,
    /// Time, nanoseconds.
    pub now: i64,
    /// The profile fields this session sets, as a JSON object of only those
    /// (merged over an existing gamer's profile); `None` when it sets none.
    pub profile_update: Option<String>,
    /// A new gamer's id, used only when the game does not know the user yet.
    pub gamer_id: i64,
    /// A new gamer's wallet address; `None` for a gamer known to exist (`gamer_id`
    /// is then its id, and a start whose gamer is not there writes nothing).
    pub address: Option<String>,
    /// A new gamer's whole profile.
    pub profile: String,
    /// The new session's id.
    pub session_id: String,
    /// The refresh token's hash.
    pub refresh_hash: String,
    /// The refresh token's expiry, nanoseconds.
    pub expires_at: i64,
    /// A new gamer's welcome bonus (`bonus` 0: none).
    #[serde(flatten)]
    pub welcome: WelcomeWrite,
}

/// A new gamer's welcome bonus: its issuing shard to the gamer's bucket.
#[derive(Debug, Default, serde::Serialize)]
pub struct WelcomeWrite {
    /// Amount; 0 for none.
    pub bonus: i64,
    /// The wallet transaction's uid.
    pub uid: String,
    /// The issuing shard debited.
    pub shard: i64,
    /// The bucket credited.
    pub bucket: &'static str,
    /// Transfer (and history) kind.
    pub kind: &'static str,
    /// The history line's direction.
    pub direction: &'static str,
    /// The history line's name.
    pub name: String,
    /// The history line's description.
    pub description: String,
    /// The history line's settlement state.
    pub sync_status: &'static str,
    /// The outbox event's id (kept when the game has an active webhook endpoint).
    pub webhook_id: String,
    /// The outbox event's type.
    pub webhook_type: &'static str,
    /// The outbox event's body.
    pub webhook_body: String,
}

impl WelcomeWrite {
    /// Takes the outbox event.
    pub fn announcing(mut self, event: NewEvent) -> WelcomeWrite {
        self.webhook_id = event.id;
        self.webhook_type = event.event_type;
        self.webhook_body = event.body;
        self
    }
}

/// What the statement wrote for one start.
#[derive(Debug)]
pub struct SessionWritten {
    /// The gamer, as the session's answer shows it.
    pub gamer: GamerRow,
    /// Whether this statement created it.
    pub is_new: bool,
    /// The newest access signing key as the statement saw it (the one that signs
    /// the session's token, as `keys rotate` promises from the next request),
    /// read in the same round trip; `None` if there is none.
    pub access_kid: Option<String>,
}

/// [`write_sessions`]: `$1` a JSON array of [`SessionWrite`]s, each with its place
/// `n`. `known` locks the gamers the game knows, in id order (as a claim batch
/// does), and `found` updates them; each is looked up, and locked, by its own
/// index probe (a `lateral` subquery that is not flattened into a join), since a
/// plan cached while the table was small would otherwise scan it all; `created` inserts the others, a start whose
/// gamer another transaction inserts meanwhile (or a second start of the same new
/// user in the batch) inserting nothing and getting no row back. Everything of a
/// new gamer hangs on `created`, so a known gamer's session touches no account. The
/// debit of the issuing shards waits for `found` (its condition counts it), so a
/// batch locks gamers before shards, as claims do. The BONUS bucket is inserted
/// with the bonus as its balance: the transfer that explains it is written
/// alongside, and takes its debit side by subquery, so that a missing issuing
/// shard makes it a null (`not null` refuses it) and fails the whole statement
/// rather than commit a bonus without its debit.
const WRITE_SQL: &str = concat!(
    "with j as (
    select * from json_to_recordset($1::json) as j(
        n bigint, client_id text, user_id text, now bigint, profile_update text,
        gamer_id bigint, address text, profile text, session_id text, refresh_hash text,
        expires_at bigint, bonus bigint, uid text, shard bigint, bucket text, kind text,
        direction text, name text, description text, sync_status text, webhook_id text,
        webhook_type text, webhook_body text)
), looked_up as (
    select l.id, j.n from j
    cross join lateral (select g.id from gamers g
                        where g.client_id = j.client_id and g.user_id = j.user_id
                        limit 1) l
), known as (
    select k.id, k.n from (select * from looked_up order by id offset 0) k
    cross join lateral (select 1 from gamers g where g.id = k.id for no key update) locked
), change as (
    select k.id, j.n, j.now, j.profile_update from known k join j on j.n = k.n
), found as (
    update gamers g set lock_version = g.lock_version + 1,
        updated_at = (select c.now from change c where c.id = g.id limit 1),
        profile = coalesce((select (g.profile::jsonb || c.profile_update::jsonb)::text
                            from change c where c.id = g.id and c.profile_update is not null
                            limit 1),
                           g.profile)
    where g.id = any(array(select id from known))
    returning (select c.n from change c where c.id = g.id order by c.n limit 1) as n,
              g.id, g.user_id, g.wallet_address, g.profile, g.kgen_account_id
), created as (
    insert into gamers (id, client_id, user_id, wallet_address, profile, created_at, updated_at)
    overriding system value
    select gamer_id, client_id, user_id, address, profile, now, now from j
    where not exists (select 1 from known where known.n = j.n) and address is not null
    order by n
    on conflict (client_id, user_id) do nothing
    returning id, user_id, wallet_address, profile, kgen_account_id
), fresh as (
    select j.*, created.kgen_account_id from created join j on j.gamer_id = created.id
), gamer as (
    select n, id, user_id, wallet_address, profile, kgen_account_id, false as is_new from found
    union all
    select n, gamer_id, user_id, address, profile, kgen_account_id, true from fresh
), buckets as (
    insert into accounts (kind, client_id, owner_id, address, balance, created_at, updated_at)
    select b.kind, f.client_id, f.gamer_id, f.address,
           case when b.kind = f.bucket then f.bonus else 0 end, f.now, f.now
    from fresh f, (values ('EARNED'), ('BONUS'), ('BOUGHT')) as b(kind)
    order by f.n, b.kind
    returning id, kind, owner_id
), debit as (
    update accounts a set balance = a.balance - d.total, updated_at = d.at
    from (select client_id, shard, sum(bonus) as total, max(now) as at
          from fresh where bonus > 0 group by client_id, shard) d
    where a.kind = 'ISSUING' and a.client_id = d.client_id and a.owner_id = d.shard
      and (select count(*) from found) >= 0
    returning a.id, a.address, a.client_id, a.owner_id
), transfer as (
    insert into transfers (uid, kind, debit_account_id, credit_account_id, amount, created_at)
    select f.uid, f.kind,
           (select d.id from debit d where d.client_id = f.client_id and d.owner_id = f.shard),
           b.id, f.bonus, f.now
    from fresh f join buckets b on b.owner_id = f.gamer_id and b.kind = f.bucket
    where f.bonus > 0
    order by f.n
    returning 1
), entry as (
    insert into wallet_entries (uid, gamer_id, kind, direction, amount, from_address,
                                to_address, name, description, sync_status, created_at)
    select f.uid, f.gamer_id, f.kind, f.direction, f.bonus,
           (select d.address from debit d where d.client_id = f.client_id and d.owner_id = f.shard),
           f.address, f.name, f.description, f.sync_status, f.now
    from fresh f where f.bonus > 0
    order by f.n
    returning 1
), announced as (
    insert into webhook_events (id, client_id, type, body, created_at)
    select f.webhook_id, f.client_id, f.webhook_type, f.webhook_body, f.now from fresh f
    where f.bonus > 0
      and exists (select 1 from webhook_endpoints w
                  where w.client_id = f.client_id and w.is_active = 1 and w.is_deleted = 0)
    order by f.n
    returning seq
), queued as (
    insert into webhook_queue (seq) select seq from announced
    returning 1
), session as (
    insert into sessions (id, client_id, gamer_id, created_at)
    select j.session_id, j.client_id, gamer.id, j.now from gamer join j on j.n = gamer.n
    order by gamer.n
    returning id
), token as (
    insert into refresh_tokens (token_hash, session_id, expires_at, created_at)
    select j.refresh_hash, j.session_id, j.expires_at, j.now
    from session join j on j.session_id = session.id
    returning 1
)
select gamer.n, gamer.id, gamer.user_id, gamer.wallet_address, gamer.profile,
       k.kgen_id, k.wallet_address as kgen_wallet_address, k.phone as kgen_phone,
       gamer.is_new,
       (select count(*) from buckets) as buckets,
       (select count(*) from transfer) as transfers,
       (select count(*) from entry) as entries,
       (select count(*) from token) as tokens,
       (",
    newest_key_id_sql!("'ACCESS'"),
    ") as access_kid
from gamer
left join lateral (select k.kgen_id, k.wallet_address, k.phone from kgen_accounts k
                   where k.id = gamer.kgen_account_id limit 1) k on true
order by gamer.n"
);

#[derive(sqlx::FromRow)]
struct WrittenRow {
    n: i64,
    #[sqlx(flatten)]
    gamer: GamerRow,
    is_new: bool,
    buckets: i64,
    transfers: i64,
    entries: i64,
    tokens: i64,
    access_kid: Option<String>,
}

/// Starts the sessions in one statement, in the caller's transaction (a batch's)
/// or in its own (`executor` a pool). One answer per write, in order: `None`, with
/// nothing written for it, when another transaction (or an earlier write of the
/// same new user) created its gamer meanwhile: start it again, and the gamer is
/// found.
pub async fn write_sessions<'e>(
    executor: impl AnyExecutor<'e>,
    writes: &[&SessionWrite],
) -> Result<Vec<Option<SessionWritten>>, sqlx::Error> {
    let rows: Vec<WrittenRow> = sqlx::query_as(WRITE_SQL)
        .bind(super::claims::numbered(writes)?)
        .fetch_all(executor)
        .await?;
    let created = rows.iter().filter(|row| row.is_new).count() as i64;
    let paid = rows
        .iter()
        .filter(|row| {
            row.is_new
                && writes
                    .get(row.n as usize)
                    .is_some_and(|w| w.welcome.bonus > 0)
        })
        .count() as i64;
    let counted = rows.first().is_none_or(|row| {
        row.tokens == rows.len() as i64
            && row.buckets == 3 * created
            && row.transfers == paid
            && row.entries == paid
    });
    if !counted {
        // Cannot be (see the statement), but it has written: say so.
        return Err(sqlx::Error::Protocol(format!(
            "{} session starts wrote {} sessions for {created} new gamers, {paid} of them \
             with a bonus, but not every token, bucket, transfer and history line",
            writes.len(),
            rows.len(),
        )));
    }
    let mut written: Vec<Option<SessionWritten>> = writes.iter().map(|_| None).collect();
    for row in rows {
        if let Some(slot) = written.get_mut(row.n as usize) {
            *slot = Some(SessionWritten {
                gamer: row.gamer,
                is_new: row.is_new,
                access_kid: row.access_kid,
            });
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_user_unseen_for_the_idle_time_is_forgotten_and_its_memory_dropped() {
        let ids = GamerIds::forgetting_after(4, std::time::Duration::from_millis(200));
        ids.remember("client", "seen", 7);
        ids.remember("client", "unseen", 8);
        ids.run_pending_tasks();
        assert_eq!(ids.known.entry_count(), 2);
        std::thread::sleep(std::time::Duration::from_millis(120));
        assert_eq!(ids.known("client", "seen"), Some(7));
        std::thread::sleep(std::time::Duration::from_millis(120));
        // 240 ms since "unseen" was remembered, 120 ms since "seen" was read.
        ids.run_pending_tasks();
        assert_eq!(ids.known("client", "unseen"), None);
        assert_eq!(ids.known("client", "seen"), Some(7));
        assert_eq!(ids.known.entry_count(), 1);
    }
}
