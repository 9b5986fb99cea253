//! Every ledger invariant stated once, in [`verify`], which both `kgen-loyalty
//! ledger verify` and the tests call.

use std::fmt;

use crate::storage::ledger::{count_invariant_violations, InvariantCounts};
use crate::storage::Db;

/// Result of checking every ledger invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The raw counts.
    pub counts: InvariantCounts,
}

impl Report {
    /// Whether every invariant holds.
    pub fn holds(&self) -> bool {
        self.broken().is_empty()
    }

    /// The names of the invariants that do not hold.
    pub fn broken(&self) -> Vec<&'static str> {
        self.checks()
            .into_iter()
            .filter(|(_, ok, _)| !ok)
            .map(|(name, _, _)| name)
            .collect()
    }

    fn checks(&self) -> Vec<(&'static str, bool, String)> {
        let c = &self.counts;
        vec![
            (
                "every account balance equals the sum of its transfers",
                c.balance_mismatches == 0,
                format!("{} mismatched accounts", c.balance_mismatches),
            ),
            (
                "the sum over all accounts is zero",
                c.balance_sum == 0,
                format!("sum is {}", c.balance_sum),
            ),
            (
                "no wallet balance is negative",
                c.negative_wallets == 0,
                format!("{} negative wallets", c.negative_wallets),
            ),
            (
                "every REWARDED claim has exactly one transfer",
                c.claims_without_one_transfer == 0,
                format!(
                    "{} claims without exactly one transfer",
                    c.claims_without_one_transfer
                ),
            ),
            (
                "every withdrawal debits exactly what it credits",
                c.unbalanced_withdrawals == 0,
                format!("{} unbalanced withdrawals", c.unbalanced_withdrawals),
            ),
            (
                "no event has paid out more than its budget",
                c.overspent_events == 0,
                format!("{} events over budget", c.overspent_events),
            ),
            (
                "every budgeted event's payout equals its claims' rewards",
                c.miscounted_budgets == 0,
                format!("{} events with a miscounted payout", c.miscounted_budgets),
            ),
        ]
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "ledger: {} accounts, {} transfers",
            self.counts.accounts, self.counts.transfers
        )?;
        for (name, ok, detail) in self.checks() {
            if ok {
                writeln!(f, "ok      {name}")?;
            } else {
                writeln!(f, "BROKEN  {name}: {detail}")?;
            }
        }
        if self.holds() {
            writeln!(f, "all ledger invariants hold")
        } else {
            writeln!(f, "{} invariant(s) broken", self.broken().len())
        }
    }
}

/// Checks every ledger invariant over the whole database.
pub async fn verify(db: &Db) -> anyhow::Result<Report> {
    let counts = count_invariant_violations(db.reader()).await?;
    Ok(Report { counts })
}
