//! Where a webhook may be sent (CONTRACT "Webhooks"): `https://` (or `http://` when
//! allowed), at most 2 048 characters, and unless private targets are allowed, no
//! host that is or resolves to a loopback, private, link-local, multicast,
//! reserved or metadata address (IPv4-mapped IPv6 forms included), nor one that
//! does not resolve. Checked at registration and again before every attempt; the
//! attempt then connects to the addresses that were checked (see `deliver`), so a
//! name cannot resolve to something else in between.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::super::{Error, Result};

/// What the operator allows.
#[derive(Clone, Copy, Debug, Default)]
pub struct TargetPolicy {
    /// `KGEN_WEBHOOK_ALLOW_HTTP`.
    pub allow_http: bool,
    /// `KGEN_WEBHOOK_ALLOW_PRIVATE`.
    pub allow_private: bool,
}

/// How long a name may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// Checks a URL's form (no lookup).
pub fn check_form(url: &str, policy: TargetPolicy) -> Result<url::Url> {
    if url.len() > 2048 {
        return Err(bad("url must be at most 2048 characters"));
    }
    let parsed = url::Url::parse(url).map_err(|_| bad("url must be an absolute URL"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        _ if policy.allow_http => return Err(bad("url must start with https:// or http://")),
        _ => return Err(bad("url must start with https://")),
    }
    if parsed.host().is_none() || !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("url must name a host and carry no credentials"));
    }
    Ok(parsed)
}

/// Checks a URL and resolves its host: the addresses an attempt may connect to.
pub async fn resolve(url: &str, policy: TargetPolicy) -> Result<(url::Url, Vec<SocketAddr>)> {
    let parsed = check_form(url, policy)?;
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addresses: Vec<SocketAddr> = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        Some(url::Host::Domain(name)) => {
            let lookup = tokio::net::lookup_host((name.to_owned(), port));
            match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
                Ok(Ok(found)) => found.collect(),
                _ => Vec::new(),
            }
        }
        None => Vec::new(),
    };
    if addresses.is_empty() {
        return Err(bad("url's host does not resolve"));
    }
    if !policy.allow_private && addresses.iter().any(|a| is_refused(a.ip())) {
        return Err(bad(
            "url's host is or resolves to a private, loopback, link-local or reserved address",
        ));
    }
    Ok((parsed, addresses))
}

/// How long a resolved target is reused before its name is looked up again.
pub const RESOLVED_FOR: Duration = Duration::from_secs(30);

/// Targets resolved and checked, kept at most.
const RESOLVED_MAX: usize = 1024;

/// Resolved targets, by URL, for [`RESOLVED_FOR`]: a deliverer looks a name up
/// once per half minute, not once per attempt (a lookup on the blocking pool, and
/// a query to the resolver, for every event). What is kept passed [`resolve`]'s
/// check, and an attempt connects only to those addresses, so a name that starts
/// resolving elsewhere cannot lead an attempt to a refused address; it is
/// followed within [`RESOLVED_FOR`]. Refusals are not kept.
#[derive(Debug, Default)]
pub struct Resolved {
    kept: std::collections::HashMap<String, (std::time::Instant, url::Url, Vec<SocketAddr>)>,
}

impl Resolved {
    /// The target of `url` if it was resolved less than [`RESOLVED_FOR`] before `now`.
    pub fn get(&self, url: &str, now: std::time::Instant) -> Option<(url::Url, Vec<SocketAddr>)> {
        let (at, parsed, addresses) = self.kept.get(url)?;
        (now.saturating_duration_since(*at) < RESOLVED_FOR)
            .then(|| (parsed.clone(), addresses.clone()))
    }

    /// Keeps what [`resolve`] found for `url` at `now`.
    pub fn put(
        &mut self,
        url: &str,
        target: &(url::Url, Vec<SocketAddr>),
        now: std::time::Instant,
    ) {
        if self.kept.len() >= RESOLVED_MAX && !self.kept.contains_key(url) {
            self.kept
                .retain(|_, (at, _, _)| now.saturating_duration_since(*at) < RESOLVED_FOR);
            if self.kept.len() >= RESOLVED_MAX {
                self.kept.clear();
            }
        }
        self.kept
            .insert(url.to_owned(), (now, target.0.clone(), target.1.clone()));
    }
}

fn bad(message: &str) -> Error {
    Error::BadRequest(message.to_owned())
}

/// Whether an address is in one of the contract's refused ranges.
pub fn is_refused(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => refused_v4(v4),
            None => refused_v6(v6),
        },
    }
}

fn refused_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    a == 0
        || a == 10
        || (a == 100 && (64..128).contains(&b))
        || a == 127
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || a >= 224
}

fn refused_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_unspecified()
        || ip.is_loopback()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xff00) == 0xff00
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(ip: [u8; 4]) -> (url::Url, Vec<SocketAddr>) {
        (
            url::Url::parse("https://hooks.example.com/in").unwrap(),
            vec![SocketAddr::from((ip, 443))],
        )
    }

    #[test]
    fn a_resolved_target_is_reused_for_its_time_and_then_looked_up_again() {
        let mut resolved = Resolved::default();
        let start = std::time::Instant::now();
        let url = "https://hooks.example.com/in";
        resolved.put(url, &target([93, 184, 216, 34]), start);

        let soon = resolved.get(url, start + RESOLVED_FOR - Duration::from_millis(1));
        let late = resolved.get(url, start + RESOLVED_FOR);

        assert_eq!(soon, Some(target([93, 184, 216, 34])));
        assert_eq!(late, None, "past its time it is resolved again");
        assert_eq!(resolved.get("https://other.example.com/", start), None);
        resolved.put(url, &target([93, 184, 216, 35]), start + RESOLVED_FOR);
        assert_eq!(
            resolved.get(url, start + RESOLVED_FOR),
            Some(target([93, 184, 216, 35])),
            "a new lookup replaces the old addresses"
        );
    }

    #[test]
    fn resolved_targets_are_bounded() {
        let mut resolved = Resolved::default();
        let start = std::time::Instant::now();
        for n in 0..RESOLVED_MAX + 10 {
            resolved.put(
                &format!("https://h{n}.example.com/"),
                &target([1, 1, 1, 1]),
                start,
            );
        }

        assert!(resolved.kept.len() <= RESOLVED_MAX);
        assert!(resolved
            .get(
                &format!("https://h{}.example.com/", RESOLVED_MAX + 9),
                start
            )
            .is_some());
    }

    #[test]
    fn the_contract_ranges_are_refused_and_public_addresses_are_not() {
        for refused in [
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fdff::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
        ] {
            assert!(is_refused(refused.parse().unwrap()), "{refused}");
        }
        for allowed in [
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "2001:db8::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_refused(allowed.parse().unwrap()), "{allowed}");
        }
    }

    #[test]
    fn forms_are_checked_before_any_lookup() {
        let strict = TargetPolicy::default();
        assert!(check_form("https://example.com/hook", strict).is_ok());
        assert!(check_form("http://example.com/hook", strict).is_err());
        let http = TargetPolicy {
            allow_http: true,
            ..strict
        };
        assert!(check_form("http://example.com/hook", http).is_ok());
        assert!(check_form("ftp://example.com/", http).is_err());
        assert!(check_form("https://user:pw@example.com/", strict).is_err());
        assert!(check_form("/relative", strict).is_err());
        assert!(check_form(&format!("https://example.com/{}", "a".repeat(2048)), strict).is_err());
    }

    #[tokio::test]
    async fn loopback_is_refused_unless_private_targets_are_allowed() {
        let strict = TargetPolicy {
            allow_http: true,
            allow_private: false,
        };
        assert!(resolve("http://127.0.0.1:9/", strict).await.is_err());
        assert!(resolve("http://localhost:9/", strict).await.is_err());
        let open = TargetPolicy {
            allow_http: true,
            allow_private: true,
        };
        let (_, addresses) = resolve("http://127.0.0.1:9/", open).await.unwrap();
        assert_eq!(addresses, vec!["127.0.0.1:9".parse().unwrap()]);
        assert!(resolve("https://no-such-host.invalid/", open)
            .await
            .is_err());
    }
}
