//! Who the client is, for rate limits and session records: the peer address, or, when the peer
//! is a configured trusted proxy, the address that proxy reports in `X-Forwarded-For`.

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

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
    /// client; whatever the client itself put further left is never believed.
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.trusts(peer) {
            return Some(peer);
        }
        let forwarded: Vec<IpAddr> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(|item| item.trim().parse::<IpAddr>())
            .collect::<Result<_, _>>()
            .unwrap_or_default();
        let mut client = peer;
        for hop in forwarded.into_iter().rev() {
            client = hop;
            if !self.trusts(hop) {
                break;
            }
        }
        Some(client)
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn request(peer: &str, forwarded: Option<&str>) -> HttpRequest {
        let mut req = TestRequest::default().peer_addr(format!("{peer}:40000").parse().unwrap());
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
    fn the_list_is_checked() {
        assert!(TrustedProxies::parse("").is_ok());
        assert!(TrustedProxies::parse("::1, fd00::/8").is_ok());
        assert!(TrustedProxies::parse("10.0.0.0/8, nope").is_err());
    }
}
