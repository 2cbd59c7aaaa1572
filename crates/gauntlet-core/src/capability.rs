//! What a suite may do to the machine that runs it: run programs, read files outside its own
//! file set, and reach internal network addresses.
//!
//! The operator's own CLI has every capability and runs programs bare. A tenant of the server
//! starts with none ([`Capabilities::none`]); a platform administrator grants them one by one,
//! with allowlists, and granted programs always run inside the sandbox.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// The capabilities of one tenant (or of the operator).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Running programs (process agents, `custom` evaluators, stdio MCP servers); absent:
    /// denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programs: Option<Programs>,
    /// Absolute host directories whose files a suite may read besides its own (`include`,
    /// `facts`, `policy: file:`); empty: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_files: Vec<String>,
    /// Internal hosts a suite may reach over the network: host names, IP addresses or CIDR
    /// blocks (`10.1.0.0/16`). Public addresses are always reachable; loopback, private,
    /// link-local and metadata addresses only when listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub internal_hosts: Vec<String>,
    /// The operator's own powers: everything allowed, programs run without the sandbox.
    /// Never deserialized, so no stored grant can claim it.
    #[serde(skip)]
    pub operator: bool,
}

/// A grant to run programs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Programs {
    /// The programs allowed, by name as written in the suite (`python3`, `./grade.sh`); `*`
    /// allows any.
    pub commands: Vec<String>,
    /// Granted programs never get a network: their egress could not be checked.
    #[serde(default)]
    pub limits: Limits,
}

/// Resource limits of one sandboxed program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// CPU time, seconds.
    pub cpu_seconds: u64,
    /// Address space, MiB.
    pub memory_mib: u64,
    /// Largest file it may write, MiB.
    pub file_size_mib: u64,
    /// Processes and threads it may have at once.
    pub processes: u64,
    /// Wall-clock lifetime, seconds (a pooled process agent lives for the run).
    pub wall_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_seconds: 30,
            memory_mib: 1024,
            file_size_mib: 64,
            processes: 64,
            wall_seconds: 600,
        }
    }
}

/// A capability, as named in refusals (`capability.programs`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capability {
    Programs,
    HostFiles,
    Egress,
}

impl Capability {
    /// The stable error code of a refusal.
    pub fn code(self) -> &'static str {
        match self {
            Capability::Programs => "capability.programs",
            Capability::HostFiles => "capability.host_files",
            Capability::Egress => "capability.egress",
        }
    }
}

impl Capabilities {
    /// Everything, without a sandbox: the operator running their own files.
    pub fn operator() -> Capabilities {
        Capabilities {
            operator: true,
            ..Capabilities::default()
        }
    }

    /// Nothing: a tenant's default, and `gauntlet run --sandbox`.
    pub fn none() -> Capabilities {
        Capabilities::default()
    }

    /// Whether `command` (as written in the suite) may be started.
    pub fn allows_command(&self, command: &str) -> bool {
        self.operator
            || self
                .programs
                .as_ref()
                .is_some_and(|p| p.commands.iter().any(|c| c == "*" || c == command))
    }

    /// Whether the host file `path` (absolute, already normalised) may be read.
    pub fn allows_host_file(&self, path: &std::path::Path) -> bool {
        self.operator
            || self
                .host_files
                .iter()
                .any(|root| path.starts_with(std::path::Path::new(root)))
    }

    /// Whether a connection to `ip`, reached through the name `host`, is allowed.
    pub fn allows_address(&self, host: &str, ip: IpAddr) -> bool {
        self.operator
            || !is_internal(ip)
            || self.internal_hosts.iter().any(|entry| {
                entry.eq_ignore_ascii_case(host.trim_end_matches('.')) || cidr_contains(entry, ip)
            })
    }

    /// Whether the network is checked at all (the operator's is not).
    pub fn checks_egress(&self) -> bool {
        !self.operator
    }
}

/// Loopback, private, shared, link-local (cloud metadata), unspecified, multicast, broadcast
/// and other special-purpose addresses, in every spelling: IPv4-mapped and -compatible IPv6
/// and NAT64 addresses are judged by the IPv4 address inside.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return internal_v4(v4);
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local (fd00:ec2::254 is AWS metadata)
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated, still routed by some)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || s[0] == 0x2002 // 6to4: an IPv4 address in disguise
                || (s[0] == 0x2001 && s[1] == 0) // Teredo
                || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // discard
        }
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space (CGNAT)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking
        || o[0] >= 240 // reserved
}

/// The IPv4 address carried by an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`) or NAT64 (`64:ff9b::a.b.c.d`) address.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    let mapped = s[..5].iter().all(|&x| x == 0) && s[5] == 0xffff;
    let compatible = s[..6].iter().all(|&x| x == 0) && !(s[6] == 0 && s[7] <= 1);
    let nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|&x| x == 0);
    (mapped || compatible || nat64).then_some(tail)
}

/// Whether the allowlist entry (an address or a CIDR block) contains `ip`.
fn cidr_contains(entry: &str, ip: IpAddr) -> bool {
    let (addr, bits) = match entry.split_once('/') {
        Some((a, b)) => match b.parse::<u8>() {
            Ok(b) => (a, Some(b)),
            Err(_) => return false,
        },
        None => (entry, None),
    };
    let Ok(net) = addr.parse::<IpAddr>() else {
        return false;
    };
    let ip = match (net, ip) {
        (IpAddr::V4(_), IpAddr::V6(v6)) => match embedded_v4(v6) {
            Some(v4) => IpAddr::V4(v4),
            None => return false,
        },
        _ => ip,
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let bits = u32::from(bits.unwrap_or(32).min(32));
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let bits = u32::from(bits.unwrap_or(128).min(128));
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// A URL's host when it is an IP address literal, in any spelling the URL parsers of HTTP
/// clients accept (`[::1]`, `127.1`, `0x7f.0.0.1`, `2130706433`).
pub fn literal_address(host: &str) -> Option<IpAddr> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = h.parse::<IpAddr>() {
        return Some(ip);
    }
    // The WHATWG "IPv4 number" forms: one to four parts, decimal, octal or hex.
    let parts: Vec<&str> = h.trim_end_matches('.').split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut nums = Vec::with_capacity(parts.len());
    for p in &parts {
        let n = if let Some(hex) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
            u64::from_str_radix(hex, 16).ok()?
        } else if p.len() > 1 && p.starts_with('0') {
            u64::from_str_radix(&p[1..], 8).ok()?
        } else {
            p.parse::<u64>().ok()?
        };
        nums.push(n);
    }
    let (last, head) = nums.split_last()?;
    if head.iter().any(|&n| n > 255) || *last >= 1u64 << (8 * (5 - nums.len())) {
        return None;
    }
    let mut v: u64 = 0;
    for (i, n) in head.iter().enumerate() {
        v |= n << (24 - 8 * i);
    }
    v |= last;
    Some(IpAddr::V4(Ipv4Addr::from(v as u32)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn internal_addresses_in_every_spelling() {
        for a in [
            "127.0.0.1",
            "10.2.3.4",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "fd00:ec2::254",
            "fe80::1",
        ] {
            assert!(is_internal(ip(a)), "{a} should be internal");
        }
        for a in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "1.1.1.1"] {
            assert!(!is_internal(ip(a)), "{a} should be public");
        }
    }

    #[test]
    fn literal_spellings_of_loopback() {
        for h in [
            "127.0.0.1",
            "[::1]",
            "127.1",
            "0x7f.0.0.1",
            "2130706433",
            "0177.0.0.1",
        ] {
            let a = literal_address(h);
            assert!(a.is_some_and(is_internal), "{h} → {a:?}");
        }
        assert_eq!(literal_address("example.com"), None);
        assert_eq!(literal_address("1.2.3.4.5"), None);
    }

    #[test]
    fn allowlists_match_names_addresses_and_blocks() {
        let mut caps = Capabilities::none();
        assert!(!caps.allows_address("localhost", ip("127.0.0.1")));
        assert!(caps.allows_address("example.com", ip("93.184.216.34")));
        caps.internal_hosts = vec!["localhost".into(), "10.1.0.0/16".into()];
        assert!(caps.allows_address("localhost", ip("127.0.0.1")));
        assert!(caps.allows_address("x", ip("10.1.200.3")));
        assert!(!caps.allows_address("x", ip("10.2.0.1")));
        assert!(!caps.allows_address("x", ip("127.0.0.1")));
        assert!(Capabilities::operator().allows_address("x", ip("127.0.0.1")));
    }

    #[test]
    fn commands_are_allowlisted_by_name() {
        let mut caps = Capabilities::none();
        assert!(!caps.allows_command("sh"));
        caps.programs = Some(Programs {
            commands: vec!["python3".into()],
            limits: Limits::default(),
        });
        assert!(caps.allows_command("python3"));
        assert!(!caps.allows_command("sh"));
        assert!(Capabilities::operator().allows_command("sh"));
    }

    #[test]
    fn a_stored_grant_cannot_claim_operator_powers() {
        let parsed: Result<Capabilities, _> = serde_json::from_str(r#"{"operator": true}"#);
        assert!(parsed.is_err());
    }
}
