//! Opaque page cursors. A cursor carries the position after which the next page
//! starts, and a MAC over that position and the list it belongs to (endpoint, tenant,
//! gamer, filters): a cursor of another list, or one the server did not issue, is
//! refused with 400 instead of being trusted.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Error;

const MAC_BYTES: usize = 16;

/// Issues and opens cursors with the server's cursor key.
#[derive(Clone)]
pub struct Cursors {
    key: Vec<u8>,
}

impl std::fmt::Debug for Cursors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cursors(<key>)")
    }
}

impl Cursors {
    /// Cursors signed with `key` (shared by every server of one database).
    pub fn new(key: Vec<u8>) -> Cursors {
        Cursors { key }
    }

    fn mac(&self, scope: &str, position: i64) -> [u8; MAC_BYTES] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(&position.to_be_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0; MAC_BYTES];
        out.copy_from_slice(&full[..MAC_BYTES]);
        out
    }

    /// The cursor for "after `position`" in the list named `scope`.
    pub fn issue(&self, scope: &str, position: i64) -> String {
        let mut bytes = position.to_be_bytes().to_vec();
        bytes.extend_from_slice(&self.mac(scope, position));
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The position of a cursor issued for `scope`; 400 for anything else.
    pub fn open(&self, scope: &str, cursor: &str) -> Result<i64, Error> {
        let bad = || Error::BadRequest("the page cursor is not valid for this list".to_owned());
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
        if bytes.len() != 8 + MAC_BYTES {
            return Err(bad());
        }
        let position = i64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
        let expected = self.mac(scope, position);
        let matches: bool = subtle::ConstantTimeEq::ct_eq(&expected[..], &bytes[8..]).into();
        if matches {
            Ok(position)
        } else {
            Err(bad())
        }
    }
}

impl Cursors {
    /// The cursor a request gave, `None` when it asks for the first page (no
    /// cursor, or "").
    pub fn given(cursor: Option<&str>) -> Option<&str> {
        cursor.filter(|c| !c.is_empty())
    }

    /// Where a newest-first page starts: after the cursor's position, or at the
    /// top when there is no cursor (absent or "").
    pub fn start(&self, scope: &str, cursor: Option<&str>) -> Result<i64, Error> {
        match Cursors::given(cursor) {
            Some(cursor) => self.open(scope, cursor),
            None => Ok(i64::MAX),
        }
    }

    /// Cuts `rows` (fetched with one row more than `limit`) to a page, and gives
    /// the next page's cursor, or "" when this page is the last.
    pub fn finish_page<T>(
        &self,
        scope: &str,
        mut rows: Vec<T>,
        limit: u32,
        position: impl Fn(&T) -> i64,
    ) -> (Vec<T>, String) {
        let limit = limit as usize;
        if rows.len() <= limit {
            return (rows, String::new());
        }
        rows.truncate(limit);
        let last = rows.last().map_or(i64::MAX, &position);
        (rows, self.issue(scope, last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_opens_only_for_its_own_list() {
        let cursors = Cursors::new(b"key".to_vec());
        let cursor = cursors.issue("events|c1|all", 42);
        assert_eq!(cursors.open("events|c1|all", &cursor).unwrap(), 42);
        assert!(cursors.open("events|c2|all", &cursor).is_err());
        assert!(cursors.open("events|c1|true", &cursor).is_err());
        assert!(Cursors::new(b"other".to_vec())
            .open("events|c1|all", &cursor)
            .is_err());
        assert!(cursors.open("events|c1|all", "garbage").is_err());
        assert!(cursors.open("events|c1|all", "").is_err());
    }
}
