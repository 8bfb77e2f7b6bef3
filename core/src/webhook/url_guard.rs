//! Where webhooks may be sent: an outbound URL guard (SSRF protection).
//!
//! A webhook URL comes from a user; sending signed POSTs to it from our
//! network must not reach internal services. [`check_url`] accepts only
//! `http` and `https` URLs and, unless [`UrlPolicy::allow_private`] is set
//! (for local testing), refuses hosts that are IP literals in non-public
//! ranges, and `localhost`. [`check_ip`] applies the same ranges to an address
//! the adapter resolved, which it must do for every connection, since a
//! public-looking name can resolve to a private address (DNS rebinding).
//!
//! The host is read the way browsers and the `url` crate (and therefore
//! reqwest) read it, so the guard and the HTTP client agree on where a URL
//! points: userinfo before the last `@` is skipped, `\` ends the authority,
//! IPv6 literals are bracketed, and IPv4 literals may be written in the
//! WHATWG shorthand forms (`127.1`, `0x7f.0.0.1`, `0177.0.0.1`,
//! `2130706433`), which all mean 127.0.0.1. Anything the guard cannot read
//! with certainty — control characters, whitespace, `%` escapes or non-ASCII
//! in the host — is refused rather than guessed.
//!
//! Refused ranges, IPv4: 0.0.0.0/8, 10/8, 100.64/10 (CGNAT), 127/8,
//! 169.254/16, 172.16/12, 192.0.0/24, 192.0.2/24, 192.88.99/24, 192.168/16,
//! 198.18/15, 198.51.100/24, 203.0.113/24, 224/4 (multicast), 240/4 (reserved,
//! broadcast). IPv6: everything outside 2000::/3 (unspecified, loopback,
//! IPv4-compatible, discard, ULA fc00::/7, link-local, site-local, multicast),
//! and inside it 2001::/23 (IETF, Teredo), 2001:db8::/32 and 3fff::/20
//! (documentation); IPv4-mapped (`::ffff:a.b.c.d`), IPv4-translated, NAT64
//! (64:ff9b::/96) and 6to4 (2002::/16) addresses are judged by the IPv4
//! address they embed; 64:ff9b:1::/48 (local NAT64) is refused.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What the guard allows.
///
/// # Default
/// - `allow_private`: `false` (private, loopback, link-local, ... refused)
/// - `require_https`: `false` (`http` allowed, as the Node client did)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    /// Allow private, loopback and reserved addresses and `localhost` (for
    /// local testing only).
    pub allow_private: bool,
    /// Refuse plain `http`.
    pub require_https: bool,
}

/// Why a URL or address was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlError {
    /// The scheme is not `http` or `https`.
    UnsupportedScheme,
    /// The scheme is `http` but the policy requires `https`.
    HttpsRequired,
    /// The URL cannot be read with certainty (the reason says which part).
    Malformed(&'static str),
    /// The host is `localhost` or a name under `.localhost`.
    Localhost,
    /// The address is in a refused range.
    ForbiddenAddress {
        /// The address (for an embedding form, the embedded IPv4 address).
        ip: IpAddr,
        /// The range it falls in.
        range: &'static str,
    },
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            UrlError::UnsupportedScheme => {
                f.write_str("webhook URLs must start with `http://` or `https://`")
            }
            UrlError::HttpsRequired => f.write_str("webhook URLs must use `https://` here"),
            UrlError::Malformed(why) => write!(f, "the webhook URL is not valid: {why}"),
            UrlError::Localhost => f.write_str(
                "webhook URLs may not point at localhost (set `allow_private` for local testing)",
            ),
            UrlError::ForbiddenAddress { ip, range } => write!(
                f,
                "webhook URLs may not point at {ip} ({range}); use a public address, or set `allow_private` for local testing"
            ),
        }
    }
}

/// The host of a checked URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host<'a> {
    /// A DNS name (resolve it, then [`check_ip`] every address).
    Domain(&'a str),
    /// An IP literal (already checked).
    Ip(IpAddr),
}

/// The parts of a URL that passed the guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckedUrl<'a> {
    /// `true` for `https`.
    pub https: bool,
    /// The host.
    pub host: Host<'a>,
    /// The port (the scheme's default when none is given).
    pub port: u16,
}

/// Checks a webhook URL against `policy`.
pub fn check_url<'a>(url: &'a str, policy: &UrlPolicy) -> Result<CheckedUrl<'a>, UrlError> {
    let checked = read_url(url, policy.require_https)?;
    match checked.host {
        Host::Ip(ip) => check_ip(ip, policy)?,
        Host::Domain(name) => {
            let bare = name.strip_suffix('.').unwrap_or(name);
            let is_localhost = bare.eq_ignore_ascii_case("localhost")
                || bare.len() > 10
                    && bare
                        .get(bare.len() - 10..)
                        .is_some_and(|s| s.eq_ignore_ascii_case(".localhost"));
            if is_localhost && !policy.allow_private {
                return Err(UrlError::Localhost);
            }
        }
    }
    Ok(checked)
}

/// Reads an http(s) URL the way [`check_url`] does, without any address
/// policy: the scheme, the host (IP literals parsed, names checked for
/// syntax) and the port. The only errors are [`UrlError::UnsupportedScheme`],
/// [`UrlError::HttpsRequired`] (when `require_https`) and
/// [`UrlError::Malformed`]. The configuration reads `NOVITA_API_BASE_URL` and
/// `WEBHOOK_URL` with it, so the config and the sender agree on what a URL
/// means, without the range tables.
pub(crate) fn read_url(url: &str, require_https: bool) -> Result<CheckedUrl<'_>, UrlError> {
    if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(UrlError::Malformed(
            "it contains whitespace or control characters",
        ));
    }
    let (scheme, rest) = url.split_once(':').ok_or(UrlError::UnsupportedScheme)?;
    let https = if scheme.eq_ignore_ascii_case("https") {
        true
    } else if scheme.eq_ignore_ascii_case("http") {
        false
    } else {
        return Err(UrlError::UnsupportedScheme);
    };
    if require_https && !https {
        return Err(UrlError::HttpsRequired);
    }
    let rest = rest
        .strip_prefix("//")
        .ok_or(UrlError::Malformed("`//` must follow the scheme"))?;
    let end = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..end).unwrap_or("");
    let host_port = match authority.rfind('@') {
        Some(i) => authority.get(i + 1..).unwrap_or(""),
        None => authority,
    };
    let (host_text, port_text) = if let Some(after) = host_port.strip_prefix('[') {
        let close = after
            .find(']')
            .ok_or(UrlError::Malformed("an IPv6 address is missing its `]`"))?;
        let inner = after.get(..close).unwrap_or("");
        let tail = after.get(close + 1..).unwrap_or("");
        let port = match tail {
            "" => None,
            t => Some(t.strip_prefix(':').ok_or(UrlError::Malformed(
                "unexpected text after the IPv6 address",
            ))?),
        };
        let ip: Ipv6Addr = inner
            .parse()
            .map_err(|_| UrlError::Malformed("the IPv6 address is not valid"))?;
        (HostText::V6(ip), port)
    } else {
        let (h, p) = match host_port.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        };
        (HostText::Name(h), p)
    };
    let default_port = if https { 443 } else { 80 };
    let port = match port_text {
        None | Some("") => default_port,
        Some(p) => parse_port(p)?,
    };
    let host = match host_text {
        HostText::V6(ip) => Host::Ip(IpAddr::V6(ip)),
        HostText::Name(name) => {
            if name.is_empty() {
                return Err(UrlError::Malformed("the host is empty"));
            }
            if let Some(v4) = parse_whatwg_ipv4(name)? {
                Host::Ip(IpAddr::V4(v4))
            } else {
                check_domain(name)?;
                Host::Domain(name)
            }
        }
    };
    Ok(CheckedUrl { https, host, port })
}

enum HostText<'a> {
    V6(Ipv6Addr),
    Name(&'a str),
}

fn parse_port(p: &str) -> Result<u16, UrlError> {
    if p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::Malformed(
            "the port is not a number from 0 to 65535",
        ));
    }
    p.parse::<u16>()
        .map_err(|_| UrlError::Malformed("the port is not a number from 0 to 65535"))
}

fn check_domain(name: &str) -> Result<(), UrlError> {
    if !name.is_ascii() {
        return Err(UrlError::Malformed(
            "the host has non-ASCII characters; write it in its `xn--` (punycode) form",
        ));
    }
    if name.contains('%') {
        return Err(UrlError::Malformed("the host contains `%` escapes"));
    }
    if name.len() > 253 {
        return Err(UrlError::Malformed(
            "the host name is longer than 253 characters",
        ));
    }
    let bare = name.strip_suffix('.').unwrap_or(name);
    for label in bare.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(UrlError::Malformed(
                "the host has an empty or over-long label",
            ));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(UrlError::Malformed(
                "the host has characters not allowed in a name",
            ));
        }
    }
    Ok(())
}

/// The WHATWG URL standard's IPv4 parser: `Ok(None)` when the host is a
/// name, `Ok(Some)` for an IPv4 literal in any of its forms, `Err` when the
/// host ends in a number but is not a valid IPv4 address (the `url` crate
/// refuses such URLs too).
fn parse_whatwg_ipv4(host: &str) -> Result<Option<Ipv4Addr>, UrlError> {
    const BAD: UrlError = UrlError::Malformed("the host looks like an IPv4 address but is not one");
    let trimmed = match host.strip_suffix('.') {
        Some(t) if !t.is_empty() => t,
        _ => host,
    };
    let last = trimmed.rsplit('.').next().unwrap_or("");
    let ends_in_number = !last.is_empty()
        && (last.bytes().all(|b| b.is_ascii_digit())
            || (last.len() >= 2
                && last.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("0x"))
                && last.bytes().skip(2).all(|b| b.is_ascii_hexdigit())));
    if !ends_in_number {
        return Ok(None);
    }
    let mut parts = [0u64; 4];
    let mut n = 0usize;
    for part in trimmed.split('.') {
        let slot = parts.get_mut(n).ok_or(BAD)?;
        *slot = parse_ipv4_number(part).ok_or(BAD)?;
        n += 1;
    }
    if n == 0 {
        return Err(BAD);
    }
    let (init, last) = parts
        .get(..n)
        .and_then(|p| p.split_last().map(|(l, i)| (i, *l)))
        .ok_or(BAD)?;
    if init.iter().any(|&p| p > 255) {
        return Err(BAD);
    }
    let limit = 1u64 << (8 * (5 - n as u32));
    if last >= limit {
        return Err(BAD);
    }
    let mut v = last;
    for (i, &p) in init.iter().enumerate() {
        v += p << (8 * (3 - i as u32));
    }
    let v = u32::try_from(v).map_err(|_| BAD)?;
    Ok(Some(Ipv4Addr::from(v)))
}

fn parse_ipv4_number(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let (digits, radix) =
        if s.len() >= 2 && s.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("0x")) {
            (s.get(2..)?, 16)
        } else if s.len() >= 2 && s.starts_with('0') {
            (s.get(1..)?, 8)
        } else {
            (s, 10)
        };
    if digits.is_empty() {
        return Some(0);
    }
    let mut v: u64 = 0;
    for c in digits.chars() {
        let d = u64::from(c.to_digit(radix)?);
        v = v.checked_mul(u64::from(radix))?.checked_add(d)?;
        if v > u64::from(u32::MAX) {
            return None;
        }
    }
    Some(v)
}

/// Checks a (resolved) address against `policy`.
pub fn check_ip(ip: IpAddr, policy: &UrlPolicy) -> Result<(), UrlError> {
    if policy.allow_private {
        return Ok(());
    }
    match refused_range(ip) {
        Some((ip, range)) => Err(UrlError::ForbiddenAddress { ip, range }),
        None => Ok(()),
    }
}

/// The refused range `ip` falls in (with the address actually judged), or
/// `None` for a public address.
#[must_use]
pub fn refused_range(ip: IpAddr) -> Option<(IpAddr, &'static str)> {
    match ip {
        IpAddr::V4(v4) => v4_range(v4).map(|r| (ip, r)),
        IpAddr::V6(v6) => v6_range(v6),
    }
}

fn v4_range(ip: Ipv4Addr) -> Option<&'static str> {
    const RANGES: &[(u32, u32, &str)] = &[
        (0x0000_0000, 8, "\"this network\" 0.0.0.0/8"),
        (0x0A00_0000, 8, "private 10.0.0.0/8"),
        (0x6440_0000, 10, "carrier-grade NAT 100.64.0.0/10"),
        (0x7F00_0000, 8, "loopback 127.0.0.0/8"),
        (0xA9FE_0000, 16, "link-local 169.254.0.0/16"),
        (0xAC10_0000, 12, "private 172.16.0.0/12"),
        (0xC000_0000, 24, "IETF protocol assignments 192.0.0.0/24"),
        (0xC000_0200, 24, "documentation 192.0.2.0/24"),
        (0xC058_6300, 24, "6to4 relay anycast 192.88.99.0/24"),
        (0xC0A8_0000, 16, "private 192.168.0.0/16"),
        (0xC612_0000, 15, "benchmarking 198.18.0.0/15"),
        (0xC633_6400, 24, "documentation 198.51.100.0/24"),
        (0xCB00_7100, 24, "documentation 203.0.113.0/24"),
        (0xE000_0000, 4, "multicast 224.0.0.0/4"),
        (0xF000_0000, 4, "reserved 240.0.0.0/4"),
    ];
    let v = u32::from(ip);
    RANGES
        .iter()
        .find(|&&(net, len, _)| v >> (32 - len) == net >> (32 - len))
        .map(|&(_, _, name)| name)
}

fn v6_range(ip: Ipv6Addr) -> Option<(IpAddr, &'static str)> {
    let v = u128::from(ip);
    let embedded = |x: u128| Ipv4Addr::from(x as u32);
    let judge_v4 = |v4: Ipv4Addr| v4_range(v4).map(|r| (IpAddr::V4(v4), r));
    let in_net = |net: u128, len: u32| v >> (128 - len) == net >> (128 - len);
    if v == 0 {
        return Some((IpAddr::V6(ip), "unspecified ::"));
    }
    if v == 1 {
        return Some((IpAddr::V6(ip), "loopback ::1"));
    }
    // IPv4-mapped ::ffff:0:0/96 and IPv4-translated ::ffff:0:0:0/96.
    if in_net(0xffff_0000_0000, 96) || in_net(0xffff_0000_0000_0000, 96) {
        return judge_v4(embedded(v));
    }
    // NAT64 well-known prefix 64:ff9b::/96.
    if in_net(0x0064_ff9b_u128 << 96, 96) {
        return judge_v4(embedded(v));
    }
    if in_net(0x0064_ff9b_0001_u128 << 80, 48) {
        return Some((IpAddr::V6(ip), "local-use NAT64 64:ff9b:1::/48"));
    }
    // 6to4 2002::/16 embeds an IPv4 address in bits 16..48.
    if in_net(0x2002_u128 << 112, 16) {
        return judge_v4(embedded(v >> 80));
    }
    if !in_net(0x2000_u128 << 112, 3) {
        let name = if in_net(0xfc_u128 << 120, 7) {
            "unique local fc00::/7"
        } else if in_net(0xfe80_u128 << 112, 10) {
            "link-local fe80::/10"
        } else if in_net(0xfec0_u128 << 112, 10) {
            "site-local fec0::/10"
        } else if in_net(0xff_u128 << 120, 8) {
            "multicast ff00::/8"
        } else {
            "reserved (outside global unicast 2000::/3)"
        };
        return Some((IpAddr::V6(ip), name));
    }
    if in_net(0x2001_0db8_u128 << 96, 32) {
        return Some((IpAddr::V6(ip), "documentation 2001:db8::/32"));
    }
    if in_net(0x2001_u128 << 112, 23) {
        return Some((IpAddr::V6(ip), "IETF protocol assignments 2001::/23"));
    }
    if in_net(0x3fff_u128 << 112, 20) {
        return Some((IpAddr::V6(ip), "documentation 3fff::/20"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deny() -> UrlPolicy {
        UrlPolicy::default()
    }

    fn refused(url: &str) -> bool {
        check_url(url, &deny()).is_err()
    }

    #[test]
    fn public_http_and_https_urls_pass_with_their_ports() {
        let u = check_url("https://hooks.example.com/x?y#z", &deny()).unwrap();
        assert_eq!(u.host, Host::Domain("hooks.example.com"));
        assert_eq!(u.port, 443);
        assert!(u.https);
        let u = check_url("HTTP://user:pw@8.8.8.8:8080/", &deny()).unwrap();
        assert_eq!(u.host, Host::Ip("8.8.8.8".parse().unwrap()));
        assert_eq!(u.port, 8080);
        let u = check_url("http://[2606:4700::1111]:81", &deny()).unwrap();
        assert_eq!(u.port, 81);
        assert!(check_url("http://example.com:/", &deny()).is_ok());
    }

    #[test]
    fn other_schemes_and_broken_urls_are_refused() {
        for u in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "example.com",
            "http:/example.com",
            "http://",
            "http://:80/",
            "http://exa mple.com/",
            "http://example.com:99999/",
            "http://example.com:8o/",
            "http://[::1/",
            "http://[::1]x/",
            "http://ex%61mple.com/",
            "http://bücher.de/",
            "http://a..b/",
            "http://1.2.3.4.5/",
            "http://256.0.0.1/",
        ] {
            assert!(refused(u), "{u}");
        }
        assert_eq!(
            check_url(
                "https://example.com",
                &UrlPolicy {
                    require_https: true,
                    ..deny()
                }
            )
            .map(|u| u.port),
            Ok(443)
        );
        assert_eq!(
            check_url(
                "http://example.com",
                &UrlPolicy {
                    require_https: true,
                    ..deny()
                }
            ),
            Err(UrlError::HttpsRequired)
        );
    }

    #[test]
    fn private_loopback_and_reserved_literals_are_refused() {
        for u in [
            "http://127.0.0.1/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://172.31.255.255/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://192.0.2.1/",
            "http://198.51.100.7/",
            "http://203.0.113.9/",
            "http://198.18.0.1/",
            "http://[::1]/",
            "http://[::]/",
            "http://[fe80::1]/",
            "http://[fc00::1]/",
            "http://[fd12:3456::1]/",
            "http://[ff02::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::ffff:10.0.0.1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2002:c0a8:0101::1]/",
            "http://[2001:db8::1]/",
            "http://[2001::1]/",
            "http://localhost:3000/",
            "http://LOCALHOST./",
            "http://api.localhost/",
        ] {
            assert!(refused(u), "{u}");
        }
        // Public neighbours are fine.
        for u in [
            "http://172.32.0.1/",
            "http://100.128.0.1/",
            "http://[::ffff:8.8.8.8]/",
            "http://[64:ff9b::808:808]/",
            "http://[2002:0808:0808::1]/",
            "http://notlocalhost.com/",
        ] {
            assert!(!refused(u), "{u}");
        }
    }

    #[test]
    fn whatwg_ipv4_shorthands_are_read_like_the_http_client_reads_them() {
        for u in [
            "http://127.1/",
            "http://0x7f.0.0.1/",
            "http://0177.0.0.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://127.0.0.1./",
            "http://0/",
            "http://10.0x10203/",
        ] {
            assert!(
                matches!(
                    check_url(u, &deny()),
                    Err(UrlError::ForbiddenAddress { .. })
                ),
                "{u}"
            );
        }
        assert_eq!(
            parse_whatwg_ipv4("0x7f.1"),
            Ok(Some(Ipv4Addr::new(127, 0, 0, 1)))
        );
        assert_eq!(parse_whatwg_ipv4("example.com"), Ok(None));
        assert!(parse_whatwg_ipv4("1.2.3.09").is_err());
        assert!(parse_whatwg_ipv4("4294967296").is_err());
    }

    #[test]
    fn userinfo_and_backslashes_cannot_hide_the_real_host() {
        // The host is what follows the last '@'.
        assert!(refused("http://example.com@127.0.0.1/"));
        assert!(refused("http://a@b@10.0.0.1/"));
        // '\' ends the authority (as in browsers): the host is example.com.
        assert_eq!(
            check_url("http://example.com\\@127.0.0.1/", &deny()).map(|u| u.host),
            Ok(Host::Domain("example.com"))
        );
    }

    #[test]
    fn allow_private_lets_local_testing_through() {
        let p = UrlPolicy {
            allow_private: true,
            ..deny()
        };
        assert!(check_url("http://127.0.0.1:8080/hook", &p).is_ok());
        assert!(check_url("http://localhost/hook", &p).is_ok());
        assert!(check_ip("10.0.0.1".parse().unwrap(), &p).is_ok());
    }

    #[test]
    fn check_ip_reports_the_embedded_address_and_range() {
        let e = check_ip("::ffff:192.168.0.1".parse().unwrap(), &deny()).unwrap_err();
        assert_eq!(
            e,
            UrlError::ForbiddenAddress {
                ip: "192.168.0.1".parse().unwrap(),
                range: "private 192.168.0.0/16"
            }
        );
        assert!(alloc::format!("{e}").contains("allow_private"));
        assert!(check_ip("1.1.1.1".parse().unwrap(), &deny()).is_ok());
        assert!(check_ip("2606:4700:4700::1111".parse().unwrap(), &deny()).is_ok());
    }
}
