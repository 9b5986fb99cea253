//! Wallet addresses: 20-byte Ethereum-style addresses in EIP-55 checksum case,
//! derived by BIP-32 *public* derivation from one extended public key (xpub). The
//! server therefore never holds a private key: whoever holds the matching xprv (the
//! operator's custody system) can sign for every address, and the server only needs
//! the xpub, from `KGEN_WALLET_XPUB` or generated once and stored for local runs.
//!
//! Paths: `m/<branch>/<id div 2^31>/<id mod 2^31>`, with one branch per kind of
//! account, so ids of different kinds never share an address.

use std::str::FromStr;

use bip32::{ChildNumber, Prefix, XPrv, XPub};
use sha3::{Digest, Keccak256};

/// Which kind of account an address belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Branch {
    /// A game's issuing account.
    Issuing = 0,
    /// A gamer's custodial wallet.
    Gamer = 1,
    /// A KGeN account's wallet.
    Kgen = 2,
}

/// Derives addresses from an xpub.
#[derive(Clone)]
pub struct AddressDeriver {
    branches: [XPub; 3],
    /// `m/<branch>/0` of each branch: the parent of every id below 2^31, kept so
    /// that an address costs one child derivation (an elliptic-curve multiplication)
    /// instead of two.
    first_parents: [XPub; 3],
}

impl std::fmt::Debug for AddressDeriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AddressDeriver")
    }
}

/// A fresh random xpub (its private half is thrown away): for local runs.
pub fn generate_xpub() -> String {
    let mut seed = [0u8; 64];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
    let xprv = XPrv::new(seed).expect("a 64-byte seed is a valid BIP-32 seed");
    xprv.public_key().to_string(Prefix::XPUB)
}

impl AddressDeriver {
    /// A deriver for the given xpub string.
    pub fn new(xpub: &str) -> anyhow::Result<AddressDeriver> {
        let root = XPub::from_str(xpub.trim())
            .map_err(|error| anyhow::anyhow!("invalid wallet xpub: {error}"))?;
        let child = |index: u32| -> anyhow::Result<XPub> {
            Ok(root.derive_child(ChildNumber::new(index, false)?)?)
        };
        let branches = [child(0)?, child(1)?, child(2)?];
        let first = |branch: &XPub| -> anyhow::Result<XPub> {
            Ok(branch.derive_child(ChildNumber::new(0, false)?)?)
        };
        let first_parents = [
            first(&branches[0])?,
            first(&branches[1])?,
            first(&branches[2])?,
        ];
        Ok(AddressDeriver {
            branches,
            first_parents,
        })
    }

    /// The address of account `id` of kind `branch`.
    pub fn address(&self, branch: Branch, id: i64) -> anyhow::Result<String> {
        let id = u64::try_from(id).map_err(|_| anyhow::anyhow!("negative address index"))?;
        let high = u32::try_from(id >> 31)?;
        let low = (id & 0x7fff_ffff) as u32;
        let parent = match high {
            0 => self.first_parents[branch as usize].clone(),
            _ => self.branches[branch as usize].derive_child(ChildNumber::new(high, false)?)?,
        };
        child_address(&parent, low)
    }
}

/// The address of `parent`'s non-hardened child `index`: BIP-32's public child
/// derivation (`bip32`'s `derive_child`), but multiplying the generator with
/// k256's precomputed tables instead of as any point, which made one derivation a
/// tenth of a session start's CPU. The tests hold it to `derive_child`.
fn child_address(parent: &XPub, index: u32) -> anyhow::Result<String> {
    use hmac::Mac;
    use k256::elliptic_curve::ops::MulByGenerator;
    use k256::elliptic_curve::sec1::ToEncodedPoint;
    use k256::elliptic_curve::PrimeField;

    anyhow::ensure!(index < 1 << 31, "a hardened index needs the private key");
    let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(&parent.attrs().chain_code)?;
    mac.update(&parent.to_bytes());
    mac.update(&index.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let mut tweak = k256::FieldBytes::default();
    tweak.copy_from_slice(&digest[..32]);
    let tweak = k256::Scalar::from_repr(tweak);
    // Not below the group order (odds of 2^-127): BIP-32 calls the child invalid.
    let tweak = Option::<k256::Scalar>::from(tweak)
        .ok_or_else(|| anyhow::anyhow!("BIP-32 child {index} is invalid"))?;
    let point = k256::ProjectivePoint::mul_by_generator(&tweak)
        + k256::ProjectivePoint::from(*parent.public_key().as_affine());
    let encoded = point.to_affine().to_encoded_point(false);
    anyhow::ensure!(!encoded.is_identity(), "BIP-32 child {index} is invalid");
    Ok(checksum_address(
        &Keccak256::digest(&encoded.as_bytes()[1..])[12..],
    ))
}

/// `0x` + the 20 bytes in EIP-55 mixed-case hex.
pub fn checksum_address(bytes: &[u8]) -> String {
    let lower = hex::encode(bytes);
    let hash = Keccak256::digest(lower.as_bytes());
    let mut out = String::with_capacity(42);
    out.push_str("0x");
    for (i, c) in lower.chars().enumerate() {
        let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0xf;
        if c.is_ascii_alphabetic() && nibble >= 8 {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `0x7d*****f0a2`: the first 4 and last 4 characters, as the wallet history shows.
pub fn mask(address: &str) -> String {
    let chars: Vec<char> = address.chars().collect();
    if chars.len() <= 8 {
        return address.to_owned();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}*****{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eip55_matches_the_reference_vectors() {
        // Test vectors from EIP-55 itself.
        for expected in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        ] {
            let bytes = hex::decode(expected[2..].to_lowercase()).unwrap();
            assert_eq!(checksum_address(&bytes), expected);
        }
    }

    #[test]
    fn derivation_is_deterministic_and_distinct_per_branch_and_id() {
        let xpub = generate_xpub();
        let deriver = AddressDeriver::new(&xpub).unwrap();
        let a = deriver.address(Branch::Gamer, 1).unwrap();
        assert_eq!(
            a,
            AddressDeriver::new(&xpub)
                .unwrap()
                .address(Branch::Gamer, 1)
                .unwrap()
        );
        assert_eq!(a.len(), 42);
        assert_ne!(a, deriver.address(Branch::Gamer, 2).unwrap());
        assert_ne!(a, deriver.address(Branch::Kgen, 1).unwrap());
        assert_ne!(a, deriver.address(Branch::Gamer, 1 + (1 << 31)).unwrap());
        let bytes = hex::decode(a[2..].to_lowercase()).unwrap();
        assert_eq!(
            checksum_address(&bytes),
            a,
            "derived addresses are EIP-55 cased"
        );
    }

    #[test]
    fn addresses_are_those_of_bip32_derivation_along_the_full_path() {
        let xpub = generate_xpub();
        let deriver = AddressDeriver::new(&xpub).unwrap();
        let root = XPub::from_str(&xpub).unwrap();
        let full_path = |branch: u32, id: u64| {
            let mut key = root.clone();
            for index in [
                branch,
                u32::try_from(id >> 31).unwrap(),
                (id & 0x7fff_ffff) as u32,
            ] {
                key = key
                    .derive_child(ChildNumber::new(index, false).unwrap())
                    .unwrap();
            }
            let point = key.public_key().to_encoded_point(false);
            checksum_address(&Keccak256::digest(&point.as_bytes()[1..])[12..])
        };
        let mut ids = vec![1_u64, 7, 0x7fff_ffff, 0x8000_0000, 0x8000_0005];
        ids.extend((0..200).map(|_| rand::random::<u64>() >> 2));
        for id in ids {
            let signed = i64::try_from(id).unwrap();
            assert_eq!(
                deriver.address(Branch::Gamer, signed).unwrap(),
                full_path(1, id),
                "id {id}"
            );
            assert_eq!(
                deriver.address(Branch::Kgen, signed).unwrap(),
                full_path(2, id),
                "id {id}"
            );
        }
    }

    #[test]
    fn masking_keeps_four_and_four() {
        assert_eq!(
            mask("0x7d1234567890abcdef1234567890abcdef12f0a2"),
            "0x7d*****f0a2"
        );
    }
}
