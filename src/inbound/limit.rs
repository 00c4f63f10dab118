//! Intake rate limits, so one client cannot fill the disk with leads.
//!
//! Two token buckets (GCRA, from the `governor` crate): one per client IP
//! (`[server] intake_per_minute`, bursts of `intake_burst`), checked before
//! the token or the body is looked at, and one for the whole server
//! (`intake_leads_per_minute`), taken just before a valid lead is stored.
//! Over either: 429 with `Retry-After`, and nothing is stored.
//!
//! The client IP is the TCP peer. Only when the peer is one of
//! `trusted_proxies` is `X-Forwarded-For` read: its right-most address that
//! is not itself a trusted proxy is the client (left-most entries are
//! whatever the client chose to send). IPv6 clients share a bucket per /64,
//! the block one host is usually given.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::HeaderMap;
use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

use crate::config::ServerSettings;

/// How many per-IP checks between sweeps of buckets that have refilled.
const SWEEP_EVERY: u64 = 1024;

/// The intake limits and who may speak for a client.
pub struct IntakeLimits {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    new_leads: Option<DefaultDirectRateLimiter>,
    trusted_proxies: Vec<IpNet>,
    checks: AtomicU64,
}

fn quota(per_minute: u64, burst: u64) -> Option<Quota> {
    let per_minute = NonZeroU32::new(u32::try_from(per_minute).unwrap_or(u32::MAX))?;
    let burst = NonZeroU32::new(u32::try_from(burst).unwrap_or(u32::MAX)).unwrap_or(per_minute);
    Some(Quota::per_minute(per_minute).allow_burst(burst))
}

impl IntakeLimits {
    /// The limits `[server]` configures; a rate of 0 turns that limit off.
    pub fn new(
        per_ip_per_minute: u64,
        per_ip_burst: u64,
        leads_per_minute: u64,
        trusted_proxies: Vec<IpNet>,
    ) -> IntakeLimits {
        IntakeLimits {
            per_ip: quota(per_ip_per_minute, per_ip_burst).map(RateLimiter::keyed),
            new_leads: quota(leads_per_minute, leads_per_minute).map(RateLimiter::direct),
            trusted_proxies,
            checks: AtomicU64::new(0),
        }
    }

    /// From the config's `[server]` section.
    pub fn from_settings(server: &ServerSettings) -> IntakeLimits {
        IntakeLimits::new(
            server.intake_per_minute,
            server.intake_burst,
            server.intake_leads_per_minute,
            server.trusted_proxies.clone(),
        )
    }

    /// No limits at all (tests that post many leads from one address).
    pub fn off() -> IntakeLimits {
        IntakeLimits::new(0, 0, 0, Vec::new())
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies
            .iter()
            .any(|net| net.contains(&ip.to_canonical()))
    }

    /// The client's address: the peer, or, when the peer is a trusted
    /// proxy, the right-most untrusted address in `X-Forwarded-For`.
    /// `None` when the peer is unknown (the router called in-process).
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?.to_canonical();
        if !self.trusted(peer) {
            return Some(peer);
        }
        let mut hops: Vec<IpAddr> = Vec::new();
        for value in headers.get_all("x-forwarded-for") {
            let Ok(text) = value.to_str() else {
                return Some(peer);
            };
            for item in text.split(',') {
                match parse_hop(item) {
                    Some(ip) => hops.push(ip),
                    None => return Some(peer),
                }
            }
        }
        let client = hops
            .iter()
            .rev()
            .find(|ip| !self.trusted(**ip))
            .or(hops.first())
            .copied();
        Some(client.unwrap_or(peer))
    }

    /// Takes one request from the client's bucket; `Err` holds how long
    /// until the next is allowed.
    pub fn check_client(&self, client: Option<IpAddr>) -> Result<(), Duration> {
        let Some(limiter) = &self.per_ip else {
            return Ok(());
        };
        let key = bucket_key(client.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
    }

    /// Takes one new lead from the server-wide ceiling.
    pub fn check_new_lead(&self) -> Result<(), Duration> {
        let Some(limiter) = &self.new_leads else {
            return Ok(());
        };
        limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
    }
}

/// One `X-Forwarded-For` entry: an address, maybe with a port or brackets.
fn parse_hop(item: &str) -> Option<IpAddr> {
    let item = item.trim();
    if let Ok(ip) = item.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    item.parse::<std::net::SocketAddr>()
        .ok()
        .map(|s| s.ip().to_canonical())
}

/// IPv4 per address; IPv6 per /64.
fn bucket_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & (u128::MAX << 64);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
    }
}

/// Seconds for `Retry-After`: rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", v.parse().unwrap());
        }
        headers
    }

    #[test]
    fn forwarded_for_is_read_only_from_a_trusted_proxy() {
        let limits = IntakeLimits::new(60, 20, 0, vec!["10.0.0.0/8".parse().unwrap()]);
        let headers = forwarded(&["1.2.3.4, 5.6.7.8"]);
        assert_eq!(
            limits.client_ip(Some(ip("203.0.113.9")), &headers),
            Some(ip("203.0.113.9")),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(
            limits.client_ip(Some(ip("10.1.2.3")), &headers),
            Some(ip("5.6.7.8")),
            "the right-most entry is the one the proxy saw"
        );
        let chained = forwarded(&["1.2.3.4", "5.6.7.8, 10.0.0.7"]);
        assert_eq!(
            limits.client_ip(Some(ip("::ffff:10.1.2.3")), &chained),
            Some(ip("5.6.7.8")),
            "trusted hops are skipped; v4-mapped peers count as v4"
        );
        assert_eq!(
            limits.client_ip(Some(ip("10.1.2.3")), &forwarded(&["garbage"])),
            Some(ip("10.1.2.3"))
        );
        assert_eq!(
            limits.client_ip(Some(ip("10.1.2.3")), &forwarded(&["[2001:db8::1]:443"])),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(limits.client_ip(None, &headers), None);
    }

    #[test]
    fn each_client_has_its_own_bucket_and_ipv6_shares_a_64() {
        let limits = IntakeLimits::new(1, 2, 0, Vec::new());
        let a = Some(ip("192.0.2.1"));
        assert!(limits.check_client(a).is_ok());
        assert!(limits.check_client(a).is_ok());
        let wait = limits.check_client(a).unwrap_err();
        assert!(retry_after_secs(wait) >= 1 && retry_after_secs(wait) <= 60);
        assert!(limits.check_client(Some(ip("192.0.2.2"))).is_ok());
        assert!(limits.check_client(Some(ip("2001:db8::1"))).is_ok());
        assert!(limits.check_client(Some(ip("2001:db8::2"))).is_ok());
        assert!(limits.check_client(Some(ip("2001:db8::3"))).is_err());
        assert!(limits.check_new_lead().is_ok(), "0 turns the ceiling off");
        let off = IntakeLimits::off();
        assert!((0..100).all(|_| off.check_client(a).is_ok()));
    }

    #[test]
    fn the_new_lead_ceiling_is_shared() {
        let limits = IntakeLimits::new(0, 0, 3, Vec::new());
        assert!((0..3).all(|_| limits.check_new_lead().is_ok()));
        assert!(limits.check_new_lead().is_err());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(2_001)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
