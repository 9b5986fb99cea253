//! Server-wide secrets and keys, generated once per database and shared by every
//! server on it: the cursor MAC key, the OTP hash key and the wallet xpub.

use rand::RngCore;

use super::address::{self, AddressDeriver};
use super::cursor::Cursors;
use crate::storage::{settings, Db};

/// Everything derived from the server-wide secrets.
#[derive(Clone, Debug)]
pub struct ServerKeys {
    /// Page cursors.
    pub cursors: Cursors,
    /// Key of the OTP hashes.
    pub otp_key: OtpKey,
    /// Wallet address derivation.
    pub addresses: AddressDeriver,
}

/// The key OTPs are hashed with (HMAC-SHA256), never printed.
#[derive(Clone)]
pub struct OtpKey(pub Vec<u8>);

impl std::fmt::Debug for OtpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OtpKey(<redacted>)")
    }
}

fn random_hex_key() -> String {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    hex::encode(key)
}

impl ServerKeys {
    /// Loads the keys, generating and storing any that do not exist yet. An xpub
    /// given in the configuration wins over the stored one.
    pub async fn load(db: &Db, wallet_xpub: Option<&str>) -> anyhow::Result<ServerKeys> {
        let pool = db.writer();
        let cursor_key = settings::get_or_insert(pool, "cursor_key", random_hex_key).await?;
        let otp_key = settings::get_or_insert(pool, "otp_key", random_hex_key).await?;
        let xpub = match wallet_xpub {
            Some(xpub) => xpub.to_owned(),
            None => settings::get_or_insert(pool, "wallet_xpub", address::generate_xpub).await?,
        };
        Ok(ServerKeys {
            cursors: Cursors::new(hex::decode(cursor_key)?),
            otp_key: OtpKey(hex::decode(otp_key)?),
            addresses: AddressDeriver::new(&xpub)?,
        })
    }
}
