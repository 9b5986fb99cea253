//! Reward claims (CONTRACT section 5 and "Claim policies"): the claim record, the
//! ledger transfer and the balance change commit together or not at all. Every
//! claim first locks its gamer's row, so the policy checks of one gamer never race;
//! a budgeted event's payout is a guarded update on the event row. On SQLite the
//! claim runs on the group-commit writer (`storage::lite`): one job in a batch that
//! commits once, in a savepoint of its own so that a refused claim rolls back alone.

use std::time::Duration;

use super::auth::Gamer;
use super::cursor::Cursors;
use super::error::retry_on_contention;
use super::events::{ClaimPeriod, Event, RewardCategory};
use super::idempotency::{self, IdempotencyKey};
use super::ledger::{self, RewardedEvent};
use super::time::rfc3339;
use super::webhooks::{self, EventType};
use super::{Error, Result};
use crate::storage::claims::{self as store, ClaimHistory, ClaimRow};
use crate::storage::ledger::AccountKind;
use crate::storage::ledger::{TransferKind, WalletEntryRow};
use crate::storage::lite::claims as lite;
use crate::storage::pg::claims as pg;
use crate::storage::pg::lanes::{BatchJob, BoxFuture, Lanes, Step};
use crate::storage::webhooks::NewEvent;
use crate::storage::{self, Db, Tx};
use tokio::sync::oneshot;

/// A granted claim, as the domain sees it (the claim object of CONTRACT section 5
/// less the gamer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// `rewardID`.
    pub id: String,
    /// The event claimed.
    pub event_id: String,
    /// KCash granted.
    pub amount: i64,
    /// `rewardStatus`: REWARDED.
    pub status: String,
    /// Time, nanoseconds.
    pub created_at: i64,
    /// Time, nanoseconds.
    pub updated_at: i64,
}

impl From<ClaimRow> for Claim {
    fn from(row: ClaimRow) -> Claim {
        Claim {
            id: row.id,
            event_id: row.event_id,
            amount: row.amount,
            status: row.status,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A granted reward.
#[derive(Clone, Debug)]
pub struct Reward {
    /// The claim.
    pub claim: Claim,
    /// Whether this answer replays an earlier request with the same key.
    pub replayed: bool,
}

/// Grants the reward of `event_id` to the calling gamer.
pub async fn claim_event_reward(
    db: &Db,
    gamer: &Gamer,
    event_id: &str,
    key: Option<&IdempotencyKey>,
) -> Result<Reward> {
    let fingerprint = format!("claim:{event_id}");
    if let Some(writer) = db.lite() {
        let (gamer_row, event_id) = (gamer.clone(), event_id.to_owned());
        let key = key.cloned();
        let result = writer
            .write(move |conn| {
                let now = storage::now_nanos();
                claim_on_writer(conn, &gamer_row, &event_id, key.as_ref(), &fingerprint, now)
            })
            .await;
        db.wallet_changed(gamer.gamer_id);
        return result?;
    }
    let result = match db.lanes() {
        Some(lanes) => claim_in_batch(lanes, db, gamer, event_id, key, fingerprint).await,
        None => claim_alone(db, gamer, event_id, key, &fingerprint).await,
    };
    // Whatever the outcome (a failed commit may still have landed), cached reads
    // of this wallet are stale now.
    db.wallet_changed(gamer.gamer_id);
    result
}

/// The claim on PostgreSQL, queued on the group-commit lanes (`storage::pg::lanes`).
async fn claim_in_batch(
    lanes: &Lanes,
    db: &Db,
    gamer: &Gamer,
    event_id: &str,
    key: Option<&IdempotencyKey>,
    fingerprint: String,
) -> Result<Reward> {
    let (reply, answer) = oneshot::channel();
    let job = ClaimJob {
        db: db.clone(),
        gamer: gamer.clone(),
        event_id: event_id.to_owned(),
        key: key.cloned(),
        fingerprint,
        now: 0,
        granted: None,
        outcome: None,
        reply,
    };
    if lanes.submit(Box::new(job)).await.is_err() {
        return Err(Error::Unavailable);
    }
    answer.await.unwrap_or(Err(Error::Unavailable))
}

/// A claim waiting in a batch.
struct ClaimJob {
    db: Db,
    gamer: Gamer,
    event_id: String,
    key: Option<IdempotencyKey>,
    fingerprint: String,
    /// When the batch read its scene.
    now: i64,
    /// Judged and granted, waiting for the batch's write.
    granted: Option<Box<Granted>>,
    outcome: Option<Result<Reward>>,
    reply: oneshot::Sender<Result<Reward>>,
}

impl BatchJob for ClaimJob {
    fn gamer_id(&self) -> i64 {
        self.gamer.gamer_id
    }

    fn scene_request(&mut self) -> pg::SceneRequest<'_> {
        self.now = storage::now_nanos();
        let key = self.key.as_ref().map(IdempotencyKey::as_str);
        scene_request(&self.gamer, &self.event_id, key, self.now)
    }

    fn judge(&mut self, scene: pg::ClaimScene) -> Step {
        match plan(&self.gamer, scene, &self.fingerprint, self.now) {
            Planned::Answer(outcome) => {
                self.outcome = Some(outcome);
                Step::Answered
            }
            // The guarded payout may refuse: the claim takes its own statement.
            Planned::Grant(granted) if granted.budgeted => Step::ByItself,
            Planned::Grant(granted) => {
                self.granted = Some(granted);
                Step::Write
            }
        }
    }

    fn write(&self) -> Option<pg::ClaimWrite<'_>> {
        let key = self.key.as_ref().map(IdempotencyKey::as_str);
        let granted = self.granted.as_ref()?;
        Some(granted.write(&self.gamer, key, &self.fingerprint))
    }

    fn written(&mut self, claim: ClaimRow) {
        self.outcome = Some(Ok(Reward {
            claim: claim.into(),
            replayed: false,
        }));
    }

    fn run<'a>(&'a mut self, tx: &'a mut Tx) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let outcome = claim_in_tx(
                tx,
                &self.gamer,
                &self.event_id,
                self.key.as_ref(),
                &self.fingerprint,
            )
            .await?;
            self.outcome = Some(outcome);
            Ok(())
        })
    }

    fn committed(self: Box<Self>) {
        let outcome = self
            .outcome
            .unwrap_or_else(|| Err(anyhow::anyhow!("a batched claim never ran").into()));
        let _ = self.reply.send(outcome);
    }

    fn failed(self: Box<Self>, _error: &sqlx::Error) {
        // Logged by the lane. Nothing of the batch is known to be written, and a
        // retry with the same Idempotency-Key is safe either way.
        let _ = self.reply.send(Err(Error::Unavailable));
    }

    fn alone(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let ClaimJob {
                db,
                gamer,
                event_id,
                key,
                fingerprint,
                reply,
                ..
            } = *self;
            let outcome = claim_alone(&db, &gamer, &event_id, key.as_ref(), &fingerprint).await;
            let _ = reply.send(outcome);
        })
    }
}

/// The claim on PostgreSQL in a transaction of its own, again after contention.
async fn claim_alone(
    db: &Db,
    gamer: &Gamer,
    event_id: &str,
    key: Option<&IdempotencyKey>,
    fingerprint: &str,
) -> Result<Reward> {
    retry_on_contention(|| async {
        let mut tx = db.begin_locking_gamer(gamer.gamer_id).await?;
        let outcome = claim_in_tx(&mut tx, gamer, event_id, key, fingerprint).await?;
        if outcome.is_ok() {
            tx.commit().await?;
        }
        outcome
    })
    .await
}

/// The claim on PostgreSQL by itself, in a transaction that holds the gamer's
/// lock: one statement reads what the rules need, the rules judge, one statement
/// writes everything, the outbox event included (`storage::pg::claims`). The outer
/// error is the database's (the transaction is lost); the inner one is the
/// claim's answer.
async fn claim_in_tx(
    tx: &mut Tx,
    gamer: &Gamer,
    event_id: &str,
    key: Option<&IdempotencyKey>,
    fingerprint: &str,
) -> Result<Result<Reward>, sqlx::Error> {
    let now = storage::now_nanos();
    let key_text = key.map(IdempotencyKey::as_str);
    let request = scene_request(gamer, event_id, key_text, now);
    let scene = pg::read_scenes(tx, &[request]).await?.pop();
    let scene = scene.ok_or_else(|| sqlx::Error::Protocol("no claim scene read".into()))?;
    let granted = match plan(gamer, scene, fingerprint, now) {
        Planned::Answer(outcome) => return Ok(outcome),
        Planned::Grant(granted) => granted,
    };
    let Some(claim) = pg::write_claim(tx, &granted.write(gamer, key_text, fingerprint)).await?
    else {
        return Ok(Err(Error::BudgetExhausted));
    };
    Ok(Ok(Reward {
        claim: claim.into(),
        replayed: false,
    }))
}

/// What a claim asks the scene read for.
fn scene_request<'a>(
    gamer: &'a Gamer,
    event_id: &'a str,
    key: Option<&'a str>,
    now: i64,
) -> pg::SceneRequest<'a> {
    pg::SceneRequest {
        gamer_id: gamer.gamer_id,
        client_id: &gamer.client_id,
        event_id,
        key,
        daily: ClaimPeriod::Daily.window_start(now),
        weekly: ClaimPeriod::Weekly.window_start(now),
        lifetime: ClaimPeriod::Lifetime.window_start(now),
    }
}

/// A claim the rules granted, before it is written.
struct Granted {
    claim: ClaimRow,
    bucket: AccountKind,
    entry: WalletEntryRow,
    transfer_kind: TransferKind,
    /// The `reward.granted` event, written with the claim.
    announcement: NewEvent,
    /// The event has a budget: the payout is a guarded update that may refuse.
    budgeted: bool,
}

impl Granted {
    fn write<'a>(
        &'a self,
        gamer: &'a Gamer,
        key: Option<&'a str>,
        fingerprint: &'a str,
    ) -> pg::ClaimWrite<'a> {
        pg::ClaimWrite {
            claim: &self.claim,
            client_id: &gamer.client_id,
            issuing_shard: ledger::issuing_account(&gamer.client_id, gamer.gamer_id).owner_id,
            bucket: self.bucket,
            entry: &self.entry,
            transfer_kind: self.transfer_kind,
            key: key.map(|key| (key, fingerprint, 201)),
            announcement: &self.announcement,
        }
    }
}

/// What the rules make of a claim's scene on PostgreSQL.
enum Planned {
    Answer(Result<Reward>),
    Grant(Box<Granted>),
}

fn plan(gamer: &Gamer, scene: pg::ClaimScene, fingerprint: &str, now: i64) -> Planned {
    let (event, claim, bucket) = match judge_scene(scene, fingerprint, now) {
        Judged::Replay(claim) => {
            return Planned::Answer(Ok(Reward {
                claim: claim.into(),
                replayed: true,
            }))
        }
        Judged::Refused(error) => return Planned::Answer(Err(error)),
        Judged::Grant(event, claim, bucket) => (event, claim, bucket),
    };
    let money = reward_move(gamer, &event, &claim, bucket, now);
    let (Some(entry), transfer_kind) = (money.entry_without_addresses(), money.kind) else {
        let error = anyhow::anyhow!("a reward always has a history line");
        return Planned::Answer(Err(error.into()));
    };
    let data = granted_data(gamer, &claim);
    Planned::Grant(Box::new(Granted {
        announcement: webhooks::new_event(EventType::RewardGranted, data, now),
        budgeted: event.total_budget.is_some(),
        claim,
        bucket,
        entry,
        transfer_kind,
    }))
}

/// The `reward.granted` webhook's data: the claim object of the API plus the
/// gamer's wallet address.
fn granted_data(gamer: &Gamer, claim: &ClaimRow) -> serde_json::Value {
    serde_json::json!({
        "userID": gamer.user_id,
        "rewardID": claim.id,
        "eventID": claim.event_id,
        "rewardStatus": claim.status,
        "createdAt": rfc3339(claim.created_at),
        "updatedAt": rfc3339(claim.updated_at),
        "rewardAmount": claim.amount,
        "walletAddress": gamer.wallet_address,
    })
}

/// What the rules make of a claim's scene.
enum Judged {
    Replay(ClaimRow),
    Refused(Error),
    Grant(Box<Event>, ClaimRow, AccountKind),
}

fn judge_scene(scene: pg::ClaimScene, fingerprint: &str, now: i64) -> Judged {
    let judged = || -> Result<Judged> {
        if let Some(previous) =
            idempotency::replay_record::<ClaimRow>(scene.key.as_ref(), fingerprint, now)?
        {
            return Ok(Judged::Replay(previous));
        }
        let event = Event::try_from(scene.event.ok_or(Error::NotFound)?)?;
        window_start(&event, now)?;
        let watermark = judge(&event, &scene.history, now)?;
        let claim = new_claim(&event, watermark, now);
        let bucket = reward_bucket(&event);
        Ok(Judged::Grant(Box::new(event), claim, bucket))
    };
    judged().unwrap_or_else(Judged::Refused)
}

/// Whether the event is open now, and since when its claim limit counts claims
/// (`i64::MAX`: no limit, nothing to count).
fn window_start(event: &Event, now: i64) -> Result<i64> {
    if !event.is_active {
        return Err(Error::EventInactive);
    }
    let before_start = event.starts_at.is_some_and(|starts| now < starts);
    let after_end = event.ends_at.is_some_and(|ends| now >= ends);
    if before_start || after_end {
        return Err(Error::EventNotOpen);
    }
    Ok(match event.max_claims_per_user {
        Some(_) => event.claim_period.window_start(now),
        None => i64::MAX,
    })
}

/// The policies that depend on the gamer's past (trace, cooldown, limit), in the
/// contract's order; the budget comes last, after the claim row is written. Returns the watermark to record.
fn judge(event: &Event, history: &ClaimHistory, now: i64) -> Result<Option<i64>> {
    if event.is_activity_trace_enabled {
        let fresh = match (history.last_claim_at, history.trace_drop) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(_), Some(drop)) => history.last_watermark.is_none_or(|mark| drop > mark),
        };
        if !fresh {
            return Err(Error::ActivityNotTraced);
        }
    }
    if let (Some(cooldown), Some(last)) = (event.cooldown_seconds, history.last_claim_at) {
        let ready_at = last.saturating_add(cooldown.saturating_mul(1_000_000_000));
        if now < ready_at {
            let wait = u64::try_from(ready_at - now).unwrap_or(0);
            return Err(Error::ClaimCooldown {
                retry_after: Duration::from_nanos(wait),
            });
        }
    }
    if event
        .max_claims_per_user
        .is_some_and(|max| history.claims_in_window >= max)
    {
        return Err(Error::ClaimLimitReached);
    }
    Ok(history.newest_drop)
}

fn new_claim(event: &Event, trace_watermark: Option<i64>, now: i64) -> ClaimRow {
    ClaimRow {
        seq: 0,
        id: super::ids::new_id().to_string(),
        event_id: event.id.clone(),
        amount: event.reward_amount,
        status: "REWARDED".to_owned(),
        trace_watermark,
        created_at: now,
        updated_at: now,
    }
}

fn reward_bucket(event: &Event) -> AccountKind {
    match event.reward_category {
        RewardCategory::Earned => AccountKind::Earned,
        RewardCategory::Bonus => AccountKind::Bonus,
    }
}

/// The reward of `claim`, paid into `bucket`.
fn reward_move<'a>(
    gamer: &'a Gamer,
    event: &Event,
    claim: &'a ClaimRow,
    bucket: AccountKind,
    now: i64,
) -> ledger::Move<'a> {
    let event = RewardedEvent {
        event_type: &event.event_type,
        event_name: &event.event_name,
    };
    ledger::reward(
        &gamer.client_id,
        gamer.gamer_id,
        bucket,
        event,
        claim.amount,
        &claim.id,
        now,
    )
}

/// The claim on SQLite: the same steps on the group-commit writer's connection,
/// inside the savepoint the writer gives it (one writer: no gamer lock needed, the
/// claims of a batch run one after another).
fn claim_on_writer(
    conn: &rusqlite::Connection,
    gamer: &Gamer,
    event_id: &str,
    key: Option<&IdempotencyKey>,
    fingerprint: &str,
    now: i64,
) -> Result<Reward> {
    let done = ledger::in_writer_job(conn, gamer.gamer_id, key, fingerprint, 201, now, || {
        let event = lite::find_event(conn, &gamer.client_id, event_id)?.ok_or(Error::NotFound)?;
        let event = Event::try_from(event)?;
        let window_start = window_start(&event, now)?;
        let history = lite::claim_history(
            conn,
            gamer.gamer_id,
            &event.id,
            window_start,
            &event.activity_trace_activity_id,
        )?;
        let watermark = judge(&event, &history, now)?;
        let claim = lite::insert_claim(
            conn,
            &gamer.client_id,
            gamer.gamer_id,
            &new_claim(&event, watermark, now),
        )?;
        // Last rule, after the claim row, as on PostgreSQL; a refusal rolls the row back.
        if !lite::count_payout(conn, &event.id, claim.amount)? {
            return Err(Error::BudgetExhausted);
        }
        let money = reward_move(gamer, &event, &claim, reward_bucket(&event), now);
        if !ledger::post_on_writer(conn, &money)? {
            return Err(anyhow::anyhow!("issuing accounts are never refused a debit").into());
        }
        let data = || granted_data(gamer, &claim);
        webhooks::announce_on_writer(conn, &gamer.client_id, EventType::RewardGranted, data, now)?;
        Ok(claim)
    })?;
    Ok(Reward {
        claim: done.value.into(),
        replayed: done.replayed,
    })
}

/// One page of the gamer's rewards, newest first, and the next page's cursor.
pub async fn list_rewards(
    db: &Db,
    cursors: &Cursors,
    gamer: &Gamer,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<Claim>, String)> {
    let scope = format!("rewards|{}|{}", gamer.client_id, gamer.gamer_id);
    let before = cursors.start(&scope, cursor)?;
    let rows = store::list_claims(db.reader(), gamer.gamer_id, before, limit + 1).await?;
    let (rows, next) = cursors.finish_page(&scope, rows, limit, |claim| claim.seq);
    Ok((rows.into_iter().map(Claim::from).collect(), next))
}
