//! The network ACL of spec §6 through the public API: parsing, matching and the policies.

use std::net::IpAddr;

use lapps_server::acl::{Acl, AclError, AclPolicy, Network};

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

fn ip(s: &str) -> IpAddr {
    s.parse()
        .unwrap_or_else(|e| panic!("{s:?} is not an address: {e}"))
}

#[test]
fn the_spec_example_admits_only_the_subnet_and_ipv6_localhost() -> Result {
    let acl = Acl::new(AclPolicy::Deny, &["192.168.13.0/24", "::1"])?;
    for admitted in [
        "192.168.13.0",
        "192.168.13.1",
        "192.168.13.255",
        "::ffff:192.168.13.200",
        "::1",
    ] {
        assert!(acl.permits(ip(admitted)), "{admitted}");
    }
    for rejected in [
        "192.168.12.255",
        "192.168.14.0",
        "127.0.0.1",
        "0.0.0.0",
        "::",
        "::2",
        "::ffff:127.0.0.1",
        "fe80::1",
        "::ffff:192.168.14.1",
    ] {
        assert!(!acl.permits(ip(rejected)), "{rejected}");
    }
    Ok(())
}

#[test]
fn a_missing_acl_allows_everyone() {
    for peer in ["0.0.0.0", "255.255.255.255", "::", "::1", "::ffff:1.2.3.4"] {
        assert!(Acl::allow_all().permits(ip(peer)), "{peer}");
        assert!(Acl::default().permits(ip(peer)), "{peer}");
    }
}

#[test]
fn allow_policy_excludes_the_listed_peers() -> Result {
    let acl = Acl::new(AclPolicy::Allow, &["0.0.0.0/0"])?;
    assert!(!acl.permits(ip("8.8.8.8")));
    assert!(!acl.permits(ip("::ffff:8.8.8.8")));
    assert!(
        acl.permits(ip("2001:db8::1")),
        "IPv4 entries never match IPv6 peers"
    );
    let acl = Acl::new(AclPolicy::Allow, &["::/0"])?;
    assert!(!acl.permits(ip("2001:db8::1")));
    assert!(
        acl.permits(ip("8.8.8.8")),
        "IPv6 entries never match IPv4 peers"
    );
    assert!(
        acl.permits(ip("::ffff:8.8.8.8")),
        "a mapped peer is matched as IPv4"
    );
    Ok(())
}

#[test]
fn a_bare_address_is_one_host_not_a_classful_network() -> Result {
    // LAppS read 10.0.0.0 as 10.0.0.0/8, 172.16.0.0 as /16 and 192.168.1.0 as /24.
    let acl = Acl::new(AclPolicy::Deny, &["10.0.0.0", "172.16.0.0", "192.168.1.0"])?;
    assert!(acl.permits(ip("10.0.0.0")));
    assert!(!acl.permits(ip("10.0.0.1")));
    assert!(!acl.permits(ip("172.16.0.1")));
    assert!(!acl.permits(ip("192.168.1.1")));
    Ok(())
}

#[test]
fn prefix_boundaries() -> Result {
    let cases: [(&str, &str, bool); 12] = [
        ("0.0.0.0/0", "255.255.255.255", true),
        ("128.0.0.0/1", "127.255.255.255", false),
        ("128.0.0.0/1", "128.0.0.0", true),
        ("10.0.0.0/31", "10.0.0.1", true),
        ("10.0.0.0/31", "10.0.0.2", false),
        ("10.0.0.7/32", "10.0.0.7", true),
        ("::/0", "ffff::", true),
        ("8000::/1", "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
        ("8000::/1", "8000::", true),
        ("2001:db8::/127", "2001:db8::1", true),
        ("2001:db8::/127", "2001:db8::2", false),
        ("2001:db8::7/128", "2001:db8::7", true),
    ];
    for (entry, peer, contained) in cases {
        let net: Network = entry.parse()?;
        assert_eq!(net.contains(ip(peer)), contained, "{entry} contains {peer}");
        assert_eq!(net.to_string(), entry);
    }
    Ok(())
}

#[test]
fn invalid_entries_are_rejected() {
    assert!(matches!(
        Acl::new(AclPolicy::Allow, &["10.0.0.0/8", "192.168.1.5/24"]),
        Err(AclError::HostBits { ref entry, .. }) if entry == "192.168.1.5/24"
    ));
    assert!(matches!(
        Acl::new(AclPolicy::Allow, &["10.0.0.0/33"]),
        Err(AclError::PrefixLength { max: 32, .. })
    ));
    assert!(matches!(
        Acl::new(AclPolicy::Allow, &["::/129"]),
        Err(AclError::PrefixLength { max: 128, .. })
    ));
    assert!(matches!(
        Acl::new(AclPolicy::Allow, &["10.0.0.0/8 "]),
        Err(AclError::Syntax { .. })
    ));
    let Err(err) = Network::new(ip("10.1.2.3"), 8) else {
        panic!("host bits accepted");
    };
    assert_eq!(
        err.to_string(),
        "\"10.1.2.3/8\" has host bits set: write 10.0.0.0/8 for the network or 10.1.2.3/32 \
         for the single host"
    );
}

#[test]
fn accessors() -> Result {
    let acl = Acl::new(AclPolicy::Deny, &["10.0.0.0/8", "::1"])?;
    assert_eq!(acl.policy(), AclPolicy::Deny);
    assert_eq!(
        acl.exclude(),
        [Network::new(ip("10.0.0.0"), 8)?, Network::host(ip("::1"))]
    );
    assert_eq!(acl.exclude()[0].addr(), ip("10.0.0.0"));
    assert_eq!(acl.exclude()[1].prefix_len(), 128);
    let same = Acl::from_networks(AclPolicy::Deny, acl.exclude().to_vec());
    assert_eq!(same, acl);
    Ok(())
}
