//! The client's address from `X-Forwarded-For` or `Forwarded: for=` (RFC 7239), believed only
//! from a trusted peer: walk the hops from the right (the nearest proxy's entry last), skip
//! trusted ones; the first untrusted address is the client. A port missing from the header
//! is 0 (the proxy's source port says nothing about the client).

use std::net::{IpAddr, SocketAddr};

use super::trusted::TrustedProxies;
use crate::http_head::HttpRequest;

/// The hops a request names, leftmost (farthest) first. `X-Forwarded-For` wins when both
/// are present: proxies that append it usually pass a client's `Forwarded` on untouched.
fn hops(request: &HttpRequest) -> Vec<&str> {
    let values = |name: &str| -> Vec<&str> {
        request
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let forwarded_for = values("X-Forwarded-For");
    if !forwarded_for.is_empty() {
        return forwarded_for
            .into_iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
    }
    values("Forwarded")
        .into_iter()
        .flat_map(split_outside_quotes)
        .map(for_parameter)
        .collect()
}

/// `Forwarded` elements are separated by commas, which a quoted value may contain.
fn split_outside_quotes(value: &str) -> Vec<&str> {
    let mut elements = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (index, byte) in value.bytes().enumerate() {
        match byte {
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                elements.push(&value[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    elements.push(&value[start..]);
    elements
}

/// The `for=` value of one element, unquoted; "" when the element has none.
fn for_parameter(element: &str) -> &str {
    element
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
        .map(|(_, value)| value.trim().trim_matches('"'))
        .unwrap_or("")
}

/// `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:80`; None
/// for `unknown`, obfuscated (`_hidden`) or malformed nodes. An obfuscated port becomes 0.
fn parse_node(node: &str) -> Option<SocketAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 0));
    }
    let (host, port) = if let Some(rest) = node.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        let (host, port) = node.split_once(':')?;
        (host, Some(port))
    };
    let ip: IpAddr = host.parse().ok()?;
    let port = match port {
        None => 0,
        Some(port) if port.starts_with('_') => 0,
        Some(port) => port.parse().ok()?,
    };
    Some(SocketAddr::new(ip, port))
}

/// Who the client is: `peer` itself unless `peer` is trusted and the headers name others.
/// An unusable hop (`unknown`, obfuscated, garbage) ends the walk at the hop to its right.
pub fn client_address(
    request: &HttpRequest,
    peer: SocketAddr,
    trusted: &TrustedProxies,
) -> SocketAddr {
    if !trusted.contains(peer.ip()) {
        return peer;
    }
    let mut client = peer;
    for node in hops(request).into_iter().rev() {
        let Some(address) = parse_node(node) else {
            return client;
        };
        client = address;
        if !trusted.contains(address.ip()) {
            return client;
        }
    }
    client
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn trusted() -> TrustedProxies {
        TrustedProxies::parse(&["127.0.0.1", "10.0.0.0/8", "fd00::/8"]).unwrap()
    }

    fn client(headers: &[(&str, &str)], peer: &str) -> String {
        let request = HttpRequest::for_test("GET", "/", headers, b"");
        client_address(&request, peer.parse().unwrap(), &trusted()).to_string()
    }

    const PROXY: &str = "127.0.0.1:40000";

    #[test]
    fn untrusted_peer_headers_are_ignored() {
        let spoof = [("X-Forwarded-For", "1.2.3.4"), ("Forwarded", "for=5.6.7.8")];
        assert_eq!(client(&spoof, "192.0.2.9:5000"), "192.0.2.9:5000");
    }

    #[test]
    fn rightmost_untrusted_is_the_client() {
        let xff = [("X-Forwarded-For", "6.6.6.6, 203.0.113.5, 10.1.1.1")];
        assert_eq!(client(&xff, PROXY), "203.0.113.5:0");
        let lines = [
            ("X-Forwarded-For", "6.6.6.6"),
            ("x-forwarded-for", "203.0.113.5,10.0.0.2"),
        ];
        assert_eq!(client(&lines, PROXY), "203.0.113.5:0");
    }

    #[test]
    fn all_trusted_gives_the_leftmost() {
        let xff = [("X-Forwarded-For", "10.0.0.1, 10.0.0.2")];
        assert_eq!(client(&xff, PROXY), "10.0.0.1:0");
    }

    #[test]
    fn no_header_keeps_the_peer() {
        assert_eq!(client(&[], PROXY), PROXY);
        assert_eq!(client(&[("X-Forwarded-For", "")], PROXY), PROXY);
    }

    #[test]
    fn ports_and_ipv6_forms() {
        let xff = [("X-Forwarded-For", "[2001:db8::1]:4711")];
        assert_eq!(client(&xff, PROXY), "[2001:db8::1]:4711");
        let xff = [("X-Forwarded-For", "2001:db8::2")];
        assert_eq!(client(&xff, PROXY), "[2001:db8::2]:0");
        let xff = [("X-Forwarded-For", "198.51.100.1:8080")];
        assert_eq!(client(&xff, PROXY), "198.51.100.1:8080");
    }

    #[test]
    fn forwarded_rfc7239() {
        let header = [(
            "Forwarded",
            "for=192.0.2.43;proto=https, For=\"[2001:db8:cafe::17]:4711\";by=10.0.0.1, \
             for=10.0.0.7",
        )];
        assert_eq!(client(&header, PROXY), "[2001:db8:cafe::17]:4711");
        let obfuscated_port = [("Forwarded", "for=\"198.51.100.17:_p1\"")];
        assert_eq!(client(&obfuscated_port, PROXY), "198.51.100.17:0");
    }

    #[test]
    fn unknown_and_obfuscated_end_the_walk() {
        let unknown = [("Forwarded", "for=1.2.3.4, for=unknown, for=10.0.0.7")];
        assert_eq!(client(&unknown, PROXY), "10.0.0.7:0");
        let hidden = [("Forwarded", "for=1.2.3.4, for=_hidden")];
        assert_eq!(client(&hidden, PROXY), PROXY);
        let garbage = [("X-Forwarded-For", "1.2.3.4, not-an-ip")];
        assert_eq!(client(&garbage, PROXY), PROXY);
        let bad_port = [("X-Forwarded-For", "1.2.3.4:99999")];
        assert_eq!(client(&bad_port, PROXY), PROXY);
    }

    #[test]
    fn x_forwarded_for_wins_over_forwarded() {
        let both = [
            ("Forwarded", "for=6.6.6.6"),
            ("X-Forwarded-For", "203.0.113.5"),
        ];
        assert_eq!(client(&both, PROXY), "203.0.113.5:0");
    }

    #[test]
    fn quoted_commas_do_not_split_elements() {
        let header = [("Forwarded", "for=203.0.113.9;x=\"a,b\"")];
        assert_eq!(client(&header, PROXY), "203.0.113.9:0");
    }

    #[test]
    fn trusted_mapped_peer() {
        let xff = [("X-Forwarded-For", "203.0.113.5")];
        assert_eq!(client(&xff, "[::ffff:127.0.0.1]:1"), "203.0.113.5:0");
    }
}
