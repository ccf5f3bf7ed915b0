//! The network ACL (spec §6): a policy and a list of exceptions.
//!
//! The same [`Acl`] type serves both levels: the global ACL of `ws.json`, checked at TCP accept
//! before any byte is read, and the per-service ACL of `lapps.json`, checked during the handshake
//! before the 101. An ACL lets a peer through when
//!
//! * its policy is [`AclPolicy::Allow`] and no `exclude` entry contains the peer, or
//! * its policy is [`AclPolicy::Deny`] and some `exclude` entry contains the peer.
//!
//! Entries are IPv4 or IPv6 addresses (one host) or CIDR networks. Every entry is tested. IPv4
//! entries never match IPv6 peers and the reverse, except that an IPv4-mapped IPv6 peer
//! (`::ffff:a.b.c.d`, as dual-stack sockets report IPv4 clients) is matched as the IPv4 address.
//!
//! ```
//! use std::net::IpAddr;
//!
//! use lapps_server::acl::{Acl, AclPolicy};
//!
//! // The example of spec §6: only that subnet and IPv6 localhost get in.
//! let acl = Acl::new(AclPolicy::Deny, &["192.168.13.0/24", "::1"])?;
//! assert!(acl.permits("192.168.13.77".parse::<IpAddr>()?));
//! assert!(acl.permits("::ffff:192.168.13.1".parse::<IpAddr>()?));
//! assert!(acl.permits("::1".parse::<IpAddr>()?));
//! assert!(!acl.permits("192.168.14.1".parse::<IpAddr>()?));
//! assert!(!acl.permits("127.0.0.1".parse::<IpAddr>()?));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A network ACL: a policy and its exceptions, already parsed.
///
/// The default is [`Acl::allow_all`], the meaning of a missing `acl` key.
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq)]
pub struct Acl {
    policy: AclPolicy,
    exclude: Vec<Network>,
}

impl Acl {
    /// Returns the ACL that lets every peer through: `allow` with no exceptions.
    pub const fn allow_all() -> Self {
        Self {
            policy: AclPolicy::Allow,
            exclude: Vec::new(),
        }
    }

    /// Parses the `exclude` entries of an ACL with the given policy.
    ///
    /// # Errors
    ///
    /// The [`AclError`] of the first entry that is not an address or a network (see
    /// [`Network::from_str`]).
    pub fn new(policy: AclPolicy, exclude: &[&str]) -> Result<Self, AclError> {
        let exclude = exclude
            .iter()
            .map(|entry| entry.parse())
            .collect::<Result<_, _>>()?;
        Ok(Self { policy, exclude })
    }

    /// Builds an ACL from networks that are already parsed.
    pub const fn from_networks(policy: AclPolicy, exclude: Vec<Network>) -> Self {
        Self { policy, exclude }
    }

    /// Returns the policy.
    pub const fn policy(&self) -> AclPolicy {
        self.policy
    }

    /// Returns the exceptions to the policy, in the configured order.
    pub fn exclude(&self) -> &[Network] {
        &self.exclude
    }

    /// Returns whether the ACL lets `peer`, a TCP peer address, through.
    pub fn permits(&self, peer: IpAddr) -> bool {
        let listed = self.exclude.iter().any(|net| net.contains(peer));
        match self.policy {
            AclPolicy::Allow => !listed,
            AclPolicy::Deny => listed,
        }
    }
}

/// What an ACL does with a peer that no `exclude` entry contains.
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
pub enum AclPolicy {
    /// `"allow"`: every peer gets in except the excluded ones. The default.
    #[default]
    Allow,
    /// `"deny"`: no peer gets in except the excluded ones.
    Deny,
}

impl AclPolicy {
    /// Reads the configuration spelling, `"allow"` or `"deny"` (case-sensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "allow" => Some(Self::Allow),
            "deny" => Some(Self::Deny),
            _ => None,
        }
    }

    /// Returns the configuration spelling, `"allow"` or `"deny"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

impl fmt::Display for AclPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An IPv4 or IPv6 network: an address and a prefix length, with no host bits set.
///
/// A single host is the network of the full length: `/32` for IPv4, `/128` for IPv6.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub struct Network {
    addr: IpAddr,
    prefix_len: u8,
}

impl Network {
    /// Returns the network `addr/prefix_len`.
    ///
    /// # Errors
    ///
    /// [`AclError::PrefixLength`] if `prefix_len` is above 32 for IPv4 or 128 for IPv6, and
    /// [`AclError::HostBits`] if `addr` has bits set beyond the prefix.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<Self, AclError> {
        let entry = || format!("{addr}/{prefix_len}");
        let max = max_prefix_len(addr);
        if prefix_len > max {
            return Err(AclError::PrefixLength {
                entry: entry(),
                max,
            });
        }
        let network = Self {
            addr: masked(addr, prefix_len),
            prefix_len,
        };
        if network.addr != addr {
            return Err(AclError::HostBits {
                entry: entry(),
                network,
                host: Self::host(addr),
            });
        }
        Ok(network)
    }

    /// Returns the network that holds `addr` alone: `addr/32` or `addr/128`.
    pub const fn host(addr: IpAddr) -> Self {
        Self {
            addr,
            prefix_len: max_prefix_len(addr),
        }
    }

    /// Returns the network address.
    pub const fn addr(&self) -> IpAddr {
        self.addr
    }

    /// Returns the prefix length: 0–32 for IPv4, 0–128 for IPv6.
    pub const fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Returns whether the network contains `peer`.
    ///
    /// An IPv4-mapped IPv6 `peer` is tested as its IPv4 address. Otherwise an IPv4 network never
    /// contains an IPv6 peer, and the reverse.
    pub fn contains(&self, peer: IpAddr) -> bool {
        match (self.addr, canonical(peer)) {
            (IpAddr::V4(net), IpAddr::V4(peer)) => {
                u32::from(peer) & v4_mask(self.prefix_len) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(peer)) => {
                u128::from(peer) & v6_mask(self.prefix_len) == u128::from(net)
            }
            _ => false,
        }
    }
}

impl FromStr for Network {
    type Err = AclError;

    /// Parses an ACL entry: `a.b.c.d`, `a.b.c.d/n` (n from 0 to 32), an IPv6 address, or an
    /// IPv6 address with `/n` (n from 0 to 128). A bare address is one host.
    fn from_str(entry: &str) -> Result<Self, AclError> {
        let syntax = || AclError::Syntax {
            entry: entry.to_owned(),
        };
        let Some((addr, len)) = entry.split_once('/') else {
            return entry.parse().map(Self::host).map_err(|_| syntax());
        };
        let addr: IpAddr = addr.parse().map_err(|_| syntax())?;
        if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(syntax());
        }
        let max = max_prefix_len(addr);
        let prefix_len = len
            .parse::<u8>()
            .ok()
            .filter(|&n| n <= max)
            .ok_or_else(|| AclError::PrefixLength {
                entry: entry.to_owned(),
                max,
            })?;
        Self::new(addr, prefix_len).map_err(|err| match err {
            AclError::HostBits { network, host, .. } => AclError::HostBits {
                entry: entry.to_owned(),
                network,
                host,
            },
            other => other,
        })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// Why an ACL entry is invalid.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AclError {
    /// The entry is neither an IPv4 or IPv6 address nor such an address with `/n`.
    #[error("{entry:?} is not an IPv4 or IPv6 address or network")]
    Syntax {
        /// The entry as written.
        entry: String,
    },
    /// The prefix length is above 32 (IPv4) or 128 (IPv6).
    #[error("{entry:?}: the prefix length must be from 0 to {max}")]
    PrefixLength {
        /// The entry as written.
        entry: String,
        /// The largest prefix length of the entry's address family.
        max: u8,
    },
    /// The address has bits set beyond the prefix, as in `192.168.1.5/24`.
    #[error(
        "{entry:?} has host bits set: write {network} for the network or {host} for the single host"
    )]
    HostBits {
        /// The entry as written.
        entry: String,
        /// The network the entry probably means: its address with the host bits cleared.
        network: Network,
        /// The single host the entry might mean instead.
        host: Network,
    },
}

/// An IPv4-mapped IPv6 address as its IPv4 address; any other address as it is.
fn canonical(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
        IpAddr::V4(_) => peer,
    }
}

const fn max_prefix_len(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn masked(addr: IpAddr, prefix_len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & v4_mask(prefix_len))),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & v6_mask(prefix_len))),
    }
}

/// The netmask of a prefix length; `checked_shl` because a shift by the full width (prefix 0)
/// overflows.
fn v4_mask(prefix_len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix_len.min(32)))
        .unwrap_or(0)
}

fn v6_mask(prefix_len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix_len.min(128)))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> Network {
        s.parse().unwrap()
    }

    #[test]
    fn masks_cover_the_boundaries() {
        assert_eq!(v4_mask(0), 0);
        assert_eq!(v4_mask(1), 0x8000_0000);
        assert_eq!(v4_mask(24), 0xffff_ff00);
        assert_eq!(v4_mask(32), u32::MAX);
        assert_eq!(v6_mask(0), 0);
        assert_eq!(v6_mask(1), 1 << 127);
        assert_eq!(v6_mask(64), u128::MAX << 64);
        assert_eq!(v6_mask(128), u128::MAX);
    }

    #[test]
    fn bare_addresses_are_single_hosts() {
        assert_eq!(net("10.1.2.3"), Network::host(ip("10.1.2.3")));
        assert_eq!(net("10.1.2.3").prefix_len(), 32);
        assert_eq!(net("2001:db8::1").prefix_len(), 128);
        // LAppS gave 10.0.0.0 a classful /8; here it is one host.
        assert!(!net("10.0.0.0").contains(ip("10.0.0.1")));
    }

    #[test]
    fn prefix_zero_contains_its_whole_family_only() {
        let v4 = net("0.0.0.0/0");
        assert!(v4.contains(ip("0.0.0.0")));
        assert!(v4.contains(ip("255.255.255.255")));
        assert!(v4.contains(ip("::ffff:8.8.8.8")));
        assert!(!v4.contains(ip("::1")));
        let v6 = net("::/0");
        assert!(v6.contains(ip("::")));
        assert!(v6.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
        assert!(!v6.contains(ip("8.8.8.8")));
        assert!(!v6.contains(ip("::ffff:8.8.8.8")));
    }

    #[test]
    fn full_prefixes_contain_exactly_one_address() {
        let v4 = net("192.168.1.5/32");
        assert!(v4.contains(ip("192.168.1.5")));
        assert!(!v4.contains(ip("192.168.1.4")));
        assert!(!v4.contains(ip("192.168.1.6")));
        let v6 = net("2001:db8::5/128");
        assert!(v6.contains(ip("2001:db8::5")));
        assert!(!v6.contains(ip("2001:db8::4")));
        assert!(!v6.contains(ip("2001:db8::6")));
    }

    #[test]
    fn network_edges() {
        let v4 = net("192.168.13.0/24");
        assert!(v4.contains(ip("192.168.13.0")));
        assert!(v4.contains(ip("192.168.13.255")));
        assert!(!v4.contains(ip("192.168.12.255")));
        assert!(!v4.contains(ip("192.168.14.0")));
        let v6 = net("2001:db8::/32");
        assert!(v6.contains(ip("2001:db8::")));
        assert!(v6.contains(ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
        assert!(!v6.contains(ip("2001:db9::")));
        assert!(!v6.contains(ip("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff")));
    }

    #[test]
    fn mapped_peers_match_as_ipv4() {
        let v4 = net("10.0.0.0/8");
        assert!(v4.contains(ip("::ffff:10.9.8.7")));
        assert!(!v4.contains(ip("::ffff:11.0.0.0")));
        // IPv4-compatible addresses (::a.b.c.d, deprecated) are IPv6, not mapped.
        assert!(!v4.contains(ip("::10.9.8.7")));
        assert!(!net("0.0.0.1").contains(ip("::1")));
    }

    #[test]
    fn host_bits_are_rejected_with_both_suggestions() {
        let err = "192.168.1.5/24".parse::<Network>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"192.168.1.5/24\" has host bits set: write 192.168.1.0/24 for the network \
             or 192.168.1.5/32 for the single host"
        );
        let err = "2001:db8::1/64".parse::<Network>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"2001:db8::1/64\" has host bits set: write 2001:db8::/64 for the network \
             or 2001:db8::1/128 for the single host"
        );
        assert!("0.0.0.1/0".parse::<Network>().is_err());
        assert!("::1/0".parse::<Network>().is_err());
    }

    #[test]
    fn prefix_lengths_are_bounded() {
        assert!("1.2.3.4/32".parse::<Network>().is_ok());
        let err = "1.2.3.4/33".parse::<Network>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"1.2.3.4/33\": the prefix length must be from 0 to 32"
        );
        assert!("::/128".parse::<Network>().is_ok());
        assert_eq!(
            "::/129".parse::<Network>().unwrap_err(),
            AclError::PrefixLength {
                entry: "::/129".into(),
                max: 128
            }
        );
        assert!(matches!(
            "::/300".parse::<Network>(),
            Err(AclError::PrefixLength { max: 128, .. })
        ));
    }

    #[test]
    fn malformed_entries_are_syntax_errors() {
        for entry in [
            "",
            "/",
            "1.2.3.4/",
            "1.2.3.4/+8",
            "1.2.3.4/-1",
            "1.2.3.4/ 8",
            " 1.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "256.0.0.0",
            "localhost",
            "10.0.0.0/8/8",
            "fe80::1%eth0",
            "[::1]",
        ] {
            assert_eq!(
                entry.parse::<Network>(),
                Err(AclError::Syntax {
                    entry: entry.into()
                }),
                "{entry:?}"
            );
        }
    }

    #[test]
    fn policies_and_exceptions() {
        let allow = Acl::new(AclPolicy::Allow, &["10.0.0.0/8", "fd00::/8"]).unwrap();
        assert!(!allow.permits(ip("10.1.1.1")));
        assert!(!allow.permits(ip("fd12::1")));
        assert!(allow.permits(ip("11.1.1.1")));
        assert!(allow.permits(ip("fe80::1")));
        let deny = Acl::new(AclPolicy::Deny, &["10.0.0.0/8", "fd00::/8"]).unwrap();
        assert!(deny.permits(ip("10.1.1.1")));
        assert!(deny.permits(ip("fd12::1")));
        assert!(!deny.permits(ip("11.1.1.1")));
        assert!(Acl::allow_all().permits(ip("1.2.3.4")));
        assert!(Acl::allow_all().permits(ip("::")));
        assert!(
            !Acl::new(AclPolicy::Deny, &[])
                .unwrap()
                .permits(ip("1.2.3.4"))
        );
        assert_eq!(Acl::default(), Acl::allow_all());
    }

    #[test]
    fn every_entry_is_tested() {
        // LAppS tested only one candidate network; the third entry must still match.
        let acl = Acl::new(
            AclPolicy::Deny,
            &["10.0.0.0/8", "172.16.0.0/12", "192.168.13.0/24", "::1"],
        )
        .unwrap();
        assert!(acl.permits(ip("192.168.13.9")));
        assert!(acl.permits(ip("172.31.255.255")));
        assert!(!acl.permits(ip("172.32.0.0")));
    }

    #[test]
    fn display_round_trips() {
        for entry in [
            "0.0.0.0/0",
            "10.0.0.0/8",
            "1.2.3.4/32",
            "::/0",
            "2001:db8::/32",
        ] {
            assert_eq!(net(entry).to_string(), entry);
        }
        assert_eq!(AclPolicy::Deny.to_string(), "deny");
        assert_eq!(AclPolicy::from_name("allow"), Some(AclPolicy::Allow));
        assert_eq!(AclPolicy::from_name("Allow"), None);
    }
}
