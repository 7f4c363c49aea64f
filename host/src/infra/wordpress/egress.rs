//! Where bbws connects on a tenant's behalf. An attached WordPress's URL is
//! the tenant's to choose, so without a rule bbws would reach whatever its
//! host reaches: its own loopback (bbws itself), the private network, the
//! cloud's metadata service at 169.254.169.254.
//!
//! [`Egress::PublicOnly`], the default, refuses every address that is not
//! public unicast ([`classify`] names the ranges):
//! - when a site is attached or its credentials change ([`check`]: the host
//!   resolved, every address checked);
//! - on every connection: names are resolved through [`PublicResolver`],
//!   which drops refused addresses (DNS may answer otherwise later than at
//!   attach time: rebinding), and an IP-literal host, which reqwest connects
//!   to without asking a resolver, is checked before each request
//!   ([`check_literal`]);
//! - at every redirect hop ([`guarded`]'s policy: a literal checked, a name
//!   left to the resolver), at most [`MAX_REDIRECTS`] of them;
//! - proxies from the environment are not used (they would connect for us).
//!
//! [`Egress::AllowPrivate`] (`--wordpress-allow-private`) lifts the rule:
//! for development and tests, whose WordPress is on loopback.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Redirects followed at most for one request.
pub const MAX_REDIRECTS: usize = 5;

/// How long resolving a host at attach time may take; past it the check
/// passes, and the connection's resolver decides.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Which addresses bbws may connect to for an attached WordPress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Egress {
    /// Public unicast addresses only.
    #[default]
    PublicOnly,
    /// Any address, private networks and loopback included.
    AllowPrivate,
}

impl Egress {
    /// `--wordpress-allow-private`.
    pub fn allowing_private(allow: bool) -> Self {
        if allow {
            Egress::AllowPrivate
        } else {
            Egress::PublicOnly
        }
    }
}

/// A range of addresses bbws does not connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Unspecified,
    ThisNetwork,
    Loopback,
    Private,
    SharedCgnat,
    LinkLocal,
    IetfProtocols,
    Documentation,
    Benchmarking,
    Relay6to4,
    Multicast,
    Broadcast,
    Reserved,
    Ipv4Compatible,
    LocalNat64,
    DiscardOnly,
    UniqueLocal,
    SiteLocal,
    NotGlobalUnicast,
}

impl Range {
    /// For people: the range and its prefix.
    pub fn describe(self) -> &'static str {
        match self {
            Range::Unspecified => "unspecified, 0.0.0.0 or ::",
            Range::ThisNetwork => "\"this network\", 0.0.0.0/8",
            Range::Loopback => "loopback, 127.0.0.0/8 or ::1",
            Range::Private => "private, 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16",
            Range::SharedCgnat => "shared address space (CGNAT), 100.64.0.0/10",
            Range::LinkLocal => "link-local, 169.254.0.0/16 (cloud metadata) or fe80::/10",
            Range::IetfProtocols => "IETF protocol assignments, 192.0.0.0/24 or 2001::/23",
            Range::Documentation => {
                "documentation, 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32 or 3fff::/20"
            }
            Range::Benchmarking => "benchmarking, 198.18.0.0/15",
            Range::Relay6to4 => "6to4 relay anycast, 192.88.99.0/24",
            Range::Multicast => "multicast, 224.0.0.0/4 or ff00::/8",
            Range::Broadcast => "broadcast, 255.255.255.255",
            Range::Reserved => "reserved, 240.0.0.0/4",
            Range::Ipv4Compatible => "IPv4-compatible IPv6 (deprecated), ::/96",
            Range::LocalNat64 => "local-use NAT64, 64:ff9b:1::/48",
            Range::DiscardOnly => "discard-only, 100::/64",
            Range::UniqueLocal => "unique local, fc00::/7",
            Range::SiteLocal => "site-local (deprecated), fec0::/10",
            Range::NotGlobalUnicast => "not IPv6 global unicast, outside 2000::/3",
        }
    }
}

/// The range `ip` is in if bbws does not connect to it; `None` for a
/// public unicast address. IPv4-mapped (`::ffff:a.b.c.d`), NAT64
/// (`64:ff9b::a.b.c.d`) and 6to4 (`2002:AABB:CCDD::`) addresses are judged
/// by the IPv4 address they carry.
pub fn classify(ip: IpAddr) -> Option<Range> {
    match ip {
        IpAddr::V4(ip) => classify_v4(ip),
        IpAddr::V6(ip) => classify_v6(ip),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Range> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() => Range::Unspecified,
        (0, ..) => Range::ThisNetwork,
        (127, ..) => Range::Loopback,
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => Range::Private,
        (100, 64..=127, _) => Range::SharedCgnat,
        (169, 254, _) => Range::LinkLocal,
        (192, 0, 0) => Range::IetfProtocols,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Range::Documentation,
        (198, 18..=19, _) => Range::Benchmarking,
        (192, 88, 99) => Range::Relay6to4,
        (224..=239, ..) => Range::Multicast,
        _ if ip.is_broadcast() => Range::Broadcast,
        (240..=255, ..) => Range::Reserved,
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<Range> {
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    Some(match s {
        _ if ip.is_unspecified() => Range::Unspecified,
        _ if ip.is_loopback() => Range::Loopback,
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => return classify_v4(embedded(hi, lo)),
        [0, 0, 0, 0, 0, 0, _, _] => Range::Ipv4Compatible,
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => return classify_v4(embedded(hi, lo)),
        [0x64, 0xff9b, 1, ..] => Range::LocalNat64,
        [0x100, 0, 0, 0, ..] => Range::DiscardOnly,
        [first, ..] if first & 0xfe00 == 0xfc00 => Range::UniqueLocal,
        [first, ..] if first & 0xffc0 == 0xfe80 => Range::LinkLocal,
        [first, ..] if first & 0xffc0 == 0xfec0 => Range::SiteLocal,
        [first, ..] if first & 0xff00 == 0xff00 => Range::Multicast,
        [0x2001, 0xdb8, ..] => Range::Documentation,
        [0x3fff, second, ..] if second < 0x1000 => Range::Documentation,
        [0x2001, second, ..] if second < 0x200 => Range::IetfProtocols,
        [0x2002, hi, lo, ..] => return classify_v4(embedded(hi, lo)),
        [first, ..] if first & 0xe000 != 0x2000 => Range::NotGlobalUnicast,
        _ => return None,
    })
}

/// An address bbws does not connect to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{} not a public address ({}): bbws reaches attached WordPress sites only at public addresses",
    self.subject(),
    .range.describe()
)]
pub struct NotAllowed {
    /// The name that resolved to the address; `None` for an IP literal.
    pub host: Option<String>,
    pub address: IpAddr,
    pub range: Range,
}

impl NotAllowed {
    fn subject(&self) -> String {
        match &self.host {
            Some(host) => format!("{host} resolves to {}, which is", self.address),
            None => format!("{} is", self.address),
        }
    }
}

/// More redirects than [`MAX_REDIRECTS`].
#[derive(Debug, thiserror::Error)]
#[error("more than {MAX_REDIRECTS} redirects")]
pub struct TooManyRedirects;

/// A redirect to something other than an http(s) URL.
#[derive(Debug, thiserror::Error)]
#[error("a redirect to a URL that is not http:// or https://")]
pub struct BadRedirect;

/// The host of `url` when it is an IP literal (`127.0.0.1`, `[::1]`).
fn literal(url: &Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.parse().ok()
}

/// Refuses an IP-literal host bbws may not connect to (a name passes: the
/// resolver judges its addresses).
pub fn check_literal(url: &Url, egress: Egress) -> Result<(), NotAllowed> {
    if egress == Egress::AllowPrivate {
        return Ok(());
    }
    match literal(url) {
        Some(address) => match classify(address) {
            Some(range) => Err(NotAllowed {
                host: None,
                address,
                range,
            }),
            None => Ok(()),
        },
        None => Ok(()),
    }
}

/// Refuses `url` if its host is, or resolves to, an address bbws may not
/// connect to (any of its addresses: a name with a private one among public
/// ones is refused). A name that does not resolve passes: nothing is
/// reached through it, and the connection's resolver judges it again.
pub async fn check(url: &Url, egress: Egress) -> Result<(), NotAllowed> {
    if egress == Egress::AllowPrivate {
        return Ok(());
    }
    if literal(url).is_some() {
        return check_literal(url, egress);
    }
    let Some(host) = url.host_str() else {
        return Ok(());
    };
    let found = match tokio::time::timeout(LOOKUP_TIMEOUT, lookup(host)).await {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => {
            tracing::info!(%host, error = %e, "the WordPress host does not resolve (yet)");
            return Ok(());
        }
        Err(_) => {
            tracing::info!(%host, "resolving the WordPress host timed out");
            return Ok(());
        }
    };
    for address in found {
        if let Some(range) = classify(address.ip()) {
            return Err(NotAllowed {
                host: Some(host.to_string()),
                address: address.ip(),
                range,
            });
        }
    }
    Ok(())
}

async fn lookup(host: &str) -> std::io::Result<Vec<SocketAddr>> {
    Ok(tokio::net::lookup_host((host, 0)).await?.collect())
}

/// Resolves names through the system resolver and keeps only the addresses
/// bbws may connect to; a name with none left is refused ([`NotAllowed`]).
#[derive(Debug, Default)]
pub struct PublicResolver;

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found = lookup(&host).await?;
            let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
                found.into_iter().partition(|a| classify(a.ip()).is_none());
            if let Some(first) = refused.first() {
                tracing::warn!(%host, refused = ?refused, allowed = ?allowed, "dropping the WordPress host's non-public addresses");
                if allowed.is_empty() {
                    let refusal = NotAllowed {
                        host: Some(host.clone()),
                        address: first.ip(),
                        range: classify(first.ip()).unwrap_or(Range::Reserved),
                    };
                    return Err(Box::new(refusal) as Box<dyn std::error::Error + Send + Sync>);
                }
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Whether a redirect to `url` may be followed: http(s), and an IP-literal
/// host allowed (a name goes through the resolver when connecting).
fn check_hop(url: &Url, egress: Egress) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(Box::new(BadRedirect));
    }
    check_literal(url, egress).map_err(|e| Box::new(e) as _)
}

/// `builder` held to `egress`: no proxies, the redirect policy, and under
/// [`Egress::PublicOnly`] the filtering resolver. IP-literal hosts of the
/// first request are the caller's to check ([`check_literal`]).
pub fn guarded(builder: reqwest::ClientBuilder, egress: Egress) -> reqwest::ClientBuilder {
    let builder = builder
        .no_proxy()
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(TooManyRedirects);
            }
            match check_hop(attempt.url(), egress) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(e),
            }
        }));
    match egress {
        Egress::PublicOnly => builder.dns_resolver(Arc::new(PublicResolver)),
        Egress::AllowPrivate => builder,
    }
}

/// The [`NotAllowed`] somewhere in an error's chain of causes.
pub fn refusal_in<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a NotAllowed> {
    let mut current = Some(e);
    while let Some(e) = current {
        if let Some(refused) = e.downcast_ref::<NotAllowed>() {
            return Some(refused);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
pub(super) mod tests {
    use std::error::Error as _;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn range(ip: &str) -> Option<Range> {
        classify(ip.parse().unwrap())
    }

    #[test]
    fn every_refused_ipv4_range_is_named() {
        for (ip, want) in [
            ("0.0.0.0", Range::Unspecified),
            ("0.1.2.3", Range::ThisNetwork),
            ("0.255.255.255", Range::ThisNetwork),
            ("127.0.0.1", Range::Loopback),
            ("127.255.255.254", Range::Loopback),
            ("10.0.0.1", Range::Private),
            ("10.255.255.255", Range::Private),
            ("172.16.0.1", Range::Private),
            ("172.31.255.255", Range::Private),
            ("192.168.0.1", Range::Private),
            ("192.168.255.255", Range::Private),
            ("100.64.0.1", Range::SharedCgnat),
            ("100.127.255.255", Range::SharedCgnat),
            ("169.254.169.254", Range::LinkLocal),
            ("169.254.0.1", Range::LinkLocal),
            ("192.0.0.8", Range::IetfProtocols),
            ("192.0.2.1", Range::Documentation),
            ("198.51.100.7", Range::Documentation),
            ("203.0.113.9", Range::Documentation),
            ("198.18.0.1", Range::Benchmarking),
            ("198.19.255.255", Range::Benchmarking),
            ("192.88.99.1", Range::Relay6to4),
            ("224.0.0.1", Range::Multicast),
            ("239.255.255.250", Range::Multicast),
            ("240.0.0.1", Range::Reserved),
            ("254.1.2.3", Range::Reserved),
            ("255.255.255.255", Range::Broadcast),
        ] {
            assert_eq!(range(ip), Some(want), "{ip}");
        }
    }

    #[test]
    fn public_ipv4_addresses_and_the_ranges_edges_pass() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.215.14",
            "9.255.255.255",
            "11.0.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "192.0.1.1",
            "192.0.3.1",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.99.1",
            "203.0.112.1",
            "223.255.255.255",
            "126.255.255.255",
            "128.0.0.0",
        ] {
            assert_eq!(range(ip), None, "{ip}");
        }
    }

    #[test]
    fn every_refused_ipv6_range_is_named() {
        for (ip, want) in [
            ("::", Range::Unspecified),
            ("::1", Range::Loopback),
            ("::ffff:127.0.0.1", Range::Loopback),
            ("::ffff:10.1.2.3", Range::Private),
            ("::ffff:169.254.169.254", Range::LinkLocal),
            ("::ffff:0.0.0.0", Range::Unspecified),
            ("::127.0.0.1", Range::Ipv4Compatible),
            ("::8.8.8.8", Range::Ipv4Compatible),
            ("64:ff9b::127.0.0.1", Range::Loopback),
            ("64:ff9b::a9fe:a9fe", Range::LinkLocal),
            ("64:ff9b::192.168.1.1", Range::Private),
            ("64:ff9b:1::1", Range::LocalNat64),
            ("100::1", Range::DiscardOnly),
            ("fc00::1", Range::UniqueLocal),
            ("fd12:3456:789a::1", Range::UniqueLocal),
            ("fe80::1", Range::LinkLocal),
            ("febf::1", Range::LinkLocal),
            ("fec0::1", Range::SiteLocal),
            ("ff02::1", Range::Multicast),
            ("ff0e::1", Range::Multicast),
            ("2001:db8::1", Range::Documentation),
            ("3fff::1", Range::Documentation),
            ("3fff:fff::1", Range::Documentation),
            ("2001::1", Range::IetfProtocols),
            ("2001:2::1", Range::IetfProtocols),
            ("2001:1ff::1", Range::IetfProtocols),
            ("2002:7f00:1::", Range::Loopback),
            ("2002:a00:1::1", Range::Private),
            ("4000::1", Range::NotGlobalUnicast),
            ("5f00::1", Range::NotGlobalUnicast),
            ("1::1", Range::NotGlobalUnicast),
        ] {
            assert_eq!(range(ip), Some(want), "{ip}");
        }
    }

    #[test]
    fn public_ipv6_addresses_pass() {
        for ip in [
            "2606:4700:4700::1111",
            "2a00:1450:4001:82a::200e",
            "2001:200::1",
            "2001:db9::1",
            "3fff:1000::1",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:808:808::1",
            "3ffe::1",
        ] {
            assert_eq!(range(ip), None, "{ip}");
        }
    }

    #[test]
    fn literals_are_checked_and_allow_private_lifts_the_rule() {
        let url = |u: &str| Url::parse(u).unwrap();
        // WHATWG URL parsing makes every IPv4 spelling one address.
        for refused in [
            "http://127.0.0.1:8080/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://127.1/",
            "http://[::1]/",
            "http://[::ffff:7f00:1]/",
            "http://169.254.169.254/latest/meta-data/",
            "https://[fd00::1]/",
        ] {
            let err = check_literal(&url(refused), Egress::PublicOnly).unwrap_err();
            assert!(err.to_string().contains("not a public address"), "{err}");
            assert!(check_literal(&url(refused), Egress::AllowPrivate).is_ok());
        }
        assert!(check_literal(&url("http://93.184.215.14/"), Egress::PublicOnly).is_ok());
        assert!(check_literal(&url("https://example.com/"), Egress::PublicOnly).is_ok());
        assert!(check_hop(&url("ftp://93.184.215.14/"), Egress::PublicOnly).is_err());
        assert!(check_hop(&url("http://10.0.0.1/"), Egress::PublicOnly).is_err());
        assert!(check_hop(&url("http://example.com/"), Egress::PublicOnly).is_ok());
    }

    #[tokio::test]
    async fn names_are_resolved_at_check_time() {
        let url = Url::parse("http://localhost:8080/").unwrap();
        let err = check(&url, Egress::PublicOnly).await.unwrap_err();
        assert_eq!(err.host.as_deref(), Some("localhost"));
        assert_eq!(err.range, Range::Loopback);
        assert!(
            err.to_string().starts_with("localhost resolves to"),
            "{err}"
        );
        assert!(check(&url, Egress::AllowPrivate).await.is_ok());
    }

    /// A loopback server answering each request from `route(path, port)`
    /// (a whole HTTP response), and the paths it was asked for.
    pub(in crate::infra::wordpress) async fn serve(
        route: impl Fn(&str, u16) -> String + Send + Sync + 'static,
    ) -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (route, log) = (Arc::new(route), seen.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (route, log) = (route.clone(), log.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&buf[..n]).to_string();
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                    log.lock().unwrap().push(path.clone());
                    let _ = socket.write_all(route(&path, port).as_bytes()).await;
                });
            }
        });
        (port, seen)
    }

    fn redirect(to: &str) -> String {
        format!(
            "HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        )
    }

    /// The real client's redirect policy and resolver. The first request
    /// goes to a loopback literal, which reqwest connects to without a
    /// resolver (the REST client refuses such a host before sending: see
    /// `check_literal`), so that the hops after it can be watched.
    #[tokio::test]
    async fn redirects_to_refused_addresses_are_not_followed() {
        let (port, seen) = serve(|path, port| match path {
            "/to-literal" => redirect(&format!("http://127.0.0.1:{port}/secret")),
            "/to-mapped" => redirect(&format!("http://[::ffff:127.0.0.1]:{port}/secret")),
            "/to-name" => redirect(&format!("http://localhost:{port}/secret")),
            "/to-file" => redirect("file:///etc/passwd"),
            "/loop" => redirect("/loop"),
            _ => "HTTP/1.1 200 OK\r\ncontent-length: 20\r\nconnection: close\r\n\r\nINTERNAL-ONLY-SECRET"
                .to_string(),
        })
        .await;
        let client = guarded(reqwest::Client::builder(), Egress::PublicOnly)
            .build()
            .unwrap();
        for path in ["/to-literal", "/to-mapped", "/to-name"] {
            let err = client
                .get(format!("http://127.0.0.1:{port}{path}"))
                .send()
                .await
                .unwrap_err();
            let refusal = refusal_in(&err).unwrap_or_else(|| panic!("{path}: {err:?}"));
            assert_eq!(refusal.range, Range::Loopback, "{path}");
        }
        // reqwest hands back a redirect to another scheme unfollowed.
        let res = client
            .get(format!("http://127.0.0.1:{port}/to-file"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::FOUND);
        // A name resolving to loopback is refused by the resolver itself.
        let err = client
            .get(format!("http://localhost:{port}/secret"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(refusal_in(&err).map(|r| r.range), Some(Range::Loopback));
        let asked = seen.lock().unwrap().clone();
        assert!(!asked.iter().any(|p| p == "/secret"), "{asked:?}");

        // Allowed, the same redirects are followed.
        let open = guarded(reqwest::Client::builder(), Egress::AllowPrivate)
            .build()
            .unwrap();
        let body = open
            .get(format!("http://127.0.0.1:{port}/to-name"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "INTERNAL-ONLY-SECRET");
        // And hops stay bounded.
        let err = open
            .get(format!("http://127.0.0.1:{port}/loop"))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_redirect(), "{err:?}");
        assert!(
            err.source()
                .is_some_and(|e| e.downcast_ref::<TooManyRedirects>().is_some()),
            "{err:?}"
        );
        let asked = seen.lock().unwrap().clone();
        assert_eq!(
            asked.iter().filter(|p| *p == "/loop").count(),
            MAX_REDIRECTS + 1,
            "{asked:?}"
        );
    }
}
