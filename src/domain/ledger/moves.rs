//! Every kind of money move, each described once: which accounts a move debits and
//! credits, the transfer kind, and the history line the gamer sees.

use crate::storage::ledger::{
    AccountKey, AccountKind, Direction, NewTransfer, SyncStatus, TransferKind, TransferSides,
    WalletEntryRow, ISSUING_SHARDS,
};

/// One wallet transaction: the transfers that carry it (one per leg, all with the
/// same `uid` and kind) and, for moves a gamer sees, its history line.
#[derive(Clone, Debug)]
pub struct Move<'a> {
    /// The wallet transaction's uid (the history's `uid`).
    pub uid: &'a str,
    /// What the transfers are for.
    pub kind: TransferKind,
    /// The transfers, posted in order; each a positive amount.
    pub legs: Vec<Leg<'a>>,
    /// The history line, if the move has one (a withdrawal's return has none: it
    /// updates the withdrawal's line instead).
    pub entry: Option<EntrySpec>,
    /// Time, nanoseconds.
    pub now: i64,
}

/// One transfer of a move.
#[derive(Clone, Copy, Debug)]
pub struct Leg<'a> {
    /// Debited account.
    pub from: AccountKey<'a>,
    /// Credited account.
    pub to: AccountKey<'a>,
    /// Positive amount.
    pub amount: i64,
}

/// The history line of a move, less the addresses its transfers fill in.
#[derive(Clone, Debug)]
pub struct EntrySpec {
    /// The gamer whose history it is.
    pub gamer_id: i64,
    /// From the gamer wallet's side.
    pub direction: Direction,
    /// The transaction's total (positive).
    pub amount: i64,
    /// `platformProtocolsTxnName`.
    pub name: String,
    /// `platformProtocolsTxnDescription`.
    pub description: String,
    /// Settlement state when written.
    pub sync_status: SyncStatus,
}

impl<'a> Move<'a> {
    /// The transfer row of one leg.
    pub(crate) fn transfer(&self, leg: &Leg<'a>) -> NewTransfer<'a> {
        NewTransfer {
            uid: self.uid,
            kind: self.kind,
            from: leg.from,
            to: leg.to,
            amount: leg.amount,
            now: self.now,
        }
    }

    /// The history line with its addresses left empty, for a writer that fills them
    /// in from the accounts itself (the PostgreSQL claim statement).
    pub fn entry_without_addresses(&self) -> Option<WalletEntryRow> {
        let none = TransferSides {
            from_address: String::new(),
            to_address: String::new(),
        };
        self.entry(&none)
    }

    /// The history line, its addresses those of the last transfer written.
    pub fn entry(&self, sides: &TransferSides) -> Option<WalletEntryRow> {
        let spec = self.entry.as_ref()?;
        Some(super::entry_of(self, spec, sides))
    }
}

/// The issuing shard that pays this gamer: spreads one game's issuance over
/// several rows so that no single row serialises every claim of the game.
pub fn issuing_account(client_id: &str, gamer_id: i64) -> AccountKey<'_> {
    AccountKey {
        kind: AccountKind::Issuing,
        client_id,
        owner_id: gamer_id.rem_euclid(ISSUING_SHARDS),
    }
}

/// One bucket of a gamer's custodial wallet.
pub fn gamer_bucket(client_id: &str, gamer_id: i64, bucket: AccountKind) -> AccountKey<'_> {
    AccountKey {
        kind: bucket,
        client_id,
        owner_id: gamer_id,
    }
}

/// A KGeN account's wallet (it spans games: no client).
pub fn kgen_wallet(kgen_account_id: i64) -> AccountKey<'static> {
    AccountKey {
        kind: AccountKind::Kgen,
        client_id: "",
        owner_id: kgen_account_id,
    }
}

/// A new gamer's welcome bonus: the game's issuing shard to the BONUS bucket.
pub fn welcome_bonus<'a>(
    client_id: &'a str,
    client_name: &str,
    gamer_id: i64,
    amount: i64,
    uid: &'a str,
    now: i64,
) -> Move<'a> {
    Move {
        uid,
        kind: TransferKind::WelcomeBonus,
        legs: vec![Leg {
            from: issuing_account(client_id, gamer_id),
            to: gamer_bucket(client_id, gamer_id, AccountKind::Bonus),
            amount,
        }],
        entry: Some(EntrySpec {
            gamer_id,
            direction: Direction::Credit,
            amount,
            name: "Welcome bonus".to_owned(),
            description: format!("Welcome bonus from {client_name}"),
            sync_status: SyncStatus::Completed,
        }),
        now,
    }
}

/// What a reward's history line says of its event.
#[derive(Clone, Copy, Debug)]
pub struct RewardedEvent<'e> {
    /// The event's type (`eventType`).
    pub event_type: &'e str,
    /// Its name (`eventName`, may be empty).
    pub event_name: &'e str,
}

/// An event's reward: the game's issuing shard to the event's bucket. No legs for a
/// reward of 0 (nothing moves; the claim is still recorded).
pub fn reward<'a>(
    client_id: &'a str,
    gamer_id: i64,
    bucket: AccountKind,
    event: RewardedEvent<'_>,
    amount: i64,
    uid: &'a str,
    now: i64,
) -> Move<'a> {
    let name = if event.event_name.is_empty() {
        event.event_type
    } else {
        event.event_name
    };
    let legs = (amount > 0)
        .then(|| Leg {
            from: issuing_account(client_id, gamer_id),
            to: gamer_bucket(client_id, gamer_id, bucket),
            amount,
        })
        .into_iter()
        .collect();
    Move {
        uid,
        kind: TransferKind::EventReward,
        legs,
        entry: Some(EntrySpec {
            gamer_id,
            direction: Direction::Credit,
            amount,
            name: name.to_owned(),
            description: format!("Reward for {}", event.event_type),
            sync_status: SyncStatus::Completed,
        }),
        now,
    }
}

/// A withdrawal: each bucket's `(kind, amount)` to the linked KGeN wallet, one
/// PENDING history line for the total.
pub fn withdrawal<'a>(
    client_id: &'a str,
    gamer_id: i64,
    buckets: &[(AccountKind, i64)],
    kgen_account_id: i64,
    uid: &'a str,
    now: i64,
) -> Move<'a> {
    let legs: Vec<Leg<'a>> = buckets
        .iter()
        .filter(|(_, amount)| *amount > 0)
        .map(|&(bucket, amount)| Leg {
            from: gamer_bucket(client_id, gamer_id, bucket),
            to: kgen_wallet(kgen_account_id),
            amount,
        })
        .collect();
    let total = legs.iter().map(|leg| leg.amount).sum();
    Move {
        uid,
        kind: TransferKind::Withdraw,
        legs,
        entry: Some(EntrySpec {
            gamer_id,
            direction: Direction::Debit,
            amount: total,
            name: "Withdrawal".to_owned(),
            description: "Withdrawal to the linked KGeN wallet".to_owned(),
            sync_status: SyncStatus::Pending,
        }),
        now,
    }
}

/// A failed withdrawal's return: the KGeN wallet gives each bucket back what its
/// leg of the withdrawal took.
pub fn withdrawal_return<'a>(
    client_id: &'a str,
    gamer_id: i64,
    legs_taken: &[(AccountKind, i64)],
    kgen_account_id: i64,
    uid: &'a str,
    now: i64,
) -> Move<'a> {
    let legs = legs_taken
        .iter()
        .map(|&(bucket, amount)| Leg {
            from: kgen_wallet(kgen_account_id),
            to: gamer_bucket(client_id, gamer_id, bucket),
            amount,
        })
        .collect();
    Move {
        uid,
        kind: TransferKind::WithdrawReturn,
        legs,
        entry: None,
        now,
    }
}

/// A console adjustment that credits the gamer: issuing shard to the BONUS bucket.
pub fn adjustment_credit<'a>(
    client_id: &'a str,
    gamer_id: i64,
    amount: i64,
    reason: &str,
    uid: &'a str,
    now: i64,
) -> Move<'a> {
    let leg = Leg {
        from: issuing_account(client_id, gamer_id),
        to: gamer_bucket(client_id, gamer_id, AccountKind::Bonus),
        amount,
    };
    adjustment(
        uid,
        vec![leg],
        gamer_id,
        Direction::Credit,
        amount,
        reason,
        now,
    )
}

/// A console adjustment that debits the gamer, BONUS first, then EARNED, back to
/// the issuing shard. The caller checked, under the gamer's lock, that the two
/// buckets (`bonus`, `earned`) hold `amount`.
pub fn adjustment_debit<'a>(
    client_id: &'a str,
    gamer_id: i64,
    (bonus, earned): (i64, i64),
    amount: i64,
    reason: &str,
    uid: &'a str,
    now: i64,
) -> Move<'a> {
    let from_bonus = bonus.min(amount);
    let from_earned = (amount - from_bonus).min(earned);
    let legs = [
        (AccountKind::Bonus, from_bonus),
        (AccountKind::Earned, from_earned),
    ]
    .into_iter()
    .filter(|(_, leg)| *leg > 0)
    .map(|(bucket, leg)| Leg {
        from: gamer_bucket(client_id, gamer_id, bucket),
        to: issuing_account(client_id, gamer_id),
        amount: leg,
    })
    .collect();
    adjustment(uid, legs, gamer_id, Direction::Debit, amount, reason, now)
}

fn adjustment<'a>(
    uid: &'a str,
    legs: Vec<Leg<'a>>,
    gamer_id: i64,
    direction: Direction,
    amount: i64,
    reason: &str,
    now: i64,
) -> Move<'a> {
    Move {
        uid,
        kind: TransferKind::Adjustment,
        legs,
        entry: Some(EntrySpec {
            gamer_id,
            direction,
            amount,
            name: "Adjustment".to_owned(),
            description: reason.to_owned(),
            sync_status: SyncStatus::Completed,
        }),
        now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuing_shards_spread_gamers() {
        let shards: std::collections::HashSet<i64> =
            (0..64).map(|g| issuing_account("c", g).owner_id).collect();
        assert_eq!(shards.len() as i64, ISSUING_SHARDS);
    }

    #[test]
    fn a_withdrawal_skips_empty_buckets_and_its_line_shows_the_total() {
        let buckets = [(AccountKind::Earned, 0), (AccountKind::Bonus, 350)];
        let money = withdrawal("c", 7, &buckets, 3, "uid", 1);
        assert_eq!(money.legs.len(), 1);
        assert_eq!(money.legs[0].from.kind, AccountKind::Bonus);
        assert_eq!(money.legs[0].to.kind, AccountKind::Kgen);
        let entry = money.entry.unwrap();
        assert_eq!(
            (entry.amount, entry.direction, entry.sync_status),
            (350, Direction::Debit, SyncStatus::Pending)
        );
    }

    #[test]
    fn an_adjustment_debit_takes_bonus_first_then_earned() {
        let money = adjustment_debit("c", 7, (30, 100), 80, "fix", "uid", 1);
        let legs: Vec<(AccountKind, i64)> = money
            .legs
            .iter()
            .map(|leg| (leg.from.kind, leg.amount))
            .collect();
        assert_eq!(legs, [(AccountKind::Bonus, 30), (AccountKind::Earned, 50)]);
        assert!(money
            .legs
            .iter()
            .all(|leg| leg.to.kind == AccountKind::Issuing));
    }

    #[test]
    fn a_reward_of_zero_moves_nothing_but_keeps_its_history_line() {
        let event = RewardedEvent {
            event_type: "DailyBonus",
            event_name: "",
        };
        let money = reward("c", 7, AccountKind::Earned, event, 0, "uid", 1);
        assert!(money.legs.is_empty());
        let entry = money.entry.unwrap();
        assert_eq!(entry.name, "DailyBonus", "an unnamed event shows its type");
        assert_eq!(entry.description, "Reward for DailyBonus");
    }
}
