//! Ids of the rows the hot paths write (claims, sessions, ledger transactions,
//! webhook events and deliveries).

/// A new time-ordered UUID (version 7: milliseconds since the epoch, then random
/// bits). Ids are keys of unique indexes, and a random (version 4) id lands on a
/// random index page with every insert: each claim dirtied three such pages
/// (`claims.id`, `transfers.uid`, `wallet_entries.uid`), and SQLite writes whole
/// pages to its WAL at every commit. Time-ordered ids fill the right edge of those
/// indexes instead. They are no secret, as before: a reward id says when it was
/// made, which its `createdAt` says anyway.
pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let first = new_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = new_id();
        assert!(first.to_string() < second.to_string());
        assert_eq!(second.get_version_num(), 7);
    }
}
