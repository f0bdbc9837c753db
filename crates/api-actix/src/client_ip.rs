//! Who the client is, for rate limits and session records: the peer address, or, when the peer
//! is a configured trusted proxy, the address that proxy reports in `X-Forwarded-For`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use actix_web::HttpRequest;
use ipnet::{IpNet, Ipv6Net};

/// The proxies whose `X-Forwarded-For` is believed. Configuration reads them from a
/// comma-separated string.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct TrustedProxies(Vec<IpNet>);

impl TryFrom<String> for TrustedProxies {
    type Error = String;

    fn try_from(list: String) -> Result<Self, String> {
        Self::parse(&list)
    }
}

impl TrustedProxies {
    /// A comma-separated list of addresses (`10.0.0.1`) or networks (`10.0.0.0/8`).
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{item:?} is not an IP address or network"))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address. Behind trusted proxies, `X-Forwarded-For` is read from the right
    /// (the entries the proxies appended) and the first address no trusted proxy owns is the
    /// client; whatever the client itself put further left is never read, so junk there changes
    /// nothing. An entry that cannot be read where the client should be leaves the nearest
    /// trusted hop as the client. Ports are dropped and IPv4-mapped IPv6 addresses read as IPv4.
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip().to_canonical();
        if !self.trusts(peer) {
            return Some(peer);
        }
        // Read lossily: bytes that are not text (which only a client can have put there) spoil
        // only their own entry, never the entries a proxy appended to their right.
        let headers: Vec<String> = req
            .headers()
            .get_all("x-forwarded-for")
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .collect();
        let entries: Vec<&str> = headers.iter().flat_map(|value| value.split(',')).collect();
        let mut client = peer;
        for entry in entries.into_iter().rev() {
            let Some(hop) = parse_hop(entry) else {
                break;
            };
            client = hop;
            if !self.trusts(hop) {
                break;
            }
        }
        Some(client)
    }
}

/// One `X-Forwarded-For` entry: `a.b.c.d`, `a.b.c.d:port`, an IPv6 address, or `[v6]` with or
/// without `:port`.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let address = if let Some(rest) = entry.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        inside.parse::<Ipv6Addr>().ok().map(IpAddr::V6)?
    } else if let Ok(ip) = entry.parse::<IpAddr>() {
        ip
    } else {
        let (host, port) = entry.rsplit_once(':')?;
        if !is_port(port) {
            return None;
        }
        host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)?
    };
    Some(address.to_canonical())
}

fn is_port(text: &str) -> bool {
    text.parse::<u16>().is_ok()
}

/// The key a client's request budget is kept under: its IPv4 address, or the /64 its IPv6
/// address is in (one subscriber usually holds a whole /64, so per-address budgets would be
/// 2^64 budgets).
pub fn rate_limit_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => Ipv6Net::new(v6, 64)
            .map(|net| net.trunc().to_string())
            .unwrap_or_else(|_| v6.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn request(peer: &str, forwarded: Option<&str>) -> HttpRequest {
        let peer = std::net::SocketAddr::new(peer.parse().unwrap(), 40000);
        let mut req = TestRequest::default().peer_addr(peer);
        if let Some(value) = forwarded {
            req = req.insert_header(("X-Forwarded-For", value));
        }
        req.to_http_request()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_ip(&request("203.0.113.9", Some("1.2.3.4"))),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").unwrap();
        assert_eq!(
            proxies.client_ip(&request("127.0.0.1", Some("198.51.100.7"))),
            ip("198.51.100.7")
        );
        // The client forged the leftmost entry; the proxy appended the real address.
        assert_eq!(
            proxies.client_ip(&request(
                "127.0.0.1",
                Some("6.6.6.6, 198.51.100.7, 10.1.2.3")
            )),
            ip("198.51.100.7")
        );
        assert_eq!(
            proxies.client_ip(&request("127.0.0.1", None)),
            ip("127.0.0.1")
        );
        assert_eq!(
            proxies.client_ip(&request("127.0.0.1", Some("garbage"))),
            ip("127.0.0.1"),
            "an unreadable header is ignored"
        );
    }

    #[test]
    fn forwarded_spellings_are_read_as_the_contract_says() {
        let proxies = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8").unwrap();
        let client = |xff: &str| proxies.client_ip(&request("127.0.0.1", Some(xff)));
        assert_eq!(
            client("198.51.100.7:51234"),
            ip("198.51.100.7"),
            "port dropped"
        );
        assert_eq!(
            client("[2001:db8::7]:443"),
            ip("2001:db8::7"),
            "bracketed v6 with port"
        );
        assert_eq!(client("[2001:db8::7]"), ip("2001:db8::7"));
        assert_eq!(client("2001:db8::7"), ip("2001:db8::7"));
        assert_eq!(
            client("::ffff:198.51.100.7"),
            ip("198.51.100.7"),
            "v4-mapped is v4"
        );
        assert_eq!(
            client("junk, ###, 198.51.100.7, 10.0.0.2"),
            ip("198.51.100.7"),
            "junk left of the client does not void the header"
        );
        assert_eq!(
            client("198.51.100.7, not-an-ip, 10.0.0.2"),
            ip("10.0.0.2"),
            "junk where the client should be: the nearest trusted hop"
        );
        assert_eq!(
            client("[2001:db8::7]:99999"),
            ip("127.0.0.1"),
            "a port out of range makes the entry junk"
        );
        let raw = TestRequest::default()
            .peer_addr("127.0.0.1:40000".parse().unwrap())
            .insert_header((
                "X-Forwarded-For",
                actix_web::http::header::HeaderValue::from_bytes(b"\xff\xfe, 198.51.100.7")
                    .unwrap(),
            ))
            .to_http_request();
        assert_eq!(
            proxies.client_ip(&raw),
            ip("198.51.100.7"),
            "bytes that are not text left of the client do not void the header"
        );
        // A trusted proxy that itself sits behind a v4-mapped address is still recognised.
        assert_eq!(
            proxies.client_ip(&request("::ffff:127.0.0.1", Some("198.51.100.7"))),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn ipv6_clients_share_a_budget_per_64() {
        let key = |s: &str| rate_limit_key(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(key("198.51.100.7"), "198.51.100.7");
        assert_eq!(key("::ffff:198.51.100.7"), "198.51.100.7");
    }

    #[test]
    fn the_list_is_checked() {
        assert!(TrustedProxies::parse("").is_ok());
        assert!(TrustedProxies::parse("::1, fd00::/8").is_ok());
        assert!(TrustedProxies::parse("10.0.0.0/8, nope").is_err());
    }
}
