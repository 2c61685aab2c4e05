#![no_main]
//! The PROXY protocol header (v1 text, v2 binary) and the forwarding headers behind a trusted
//! proxy: never a panic on peer bytes; a complete header claims no more bytes than it was
//! given (107 at most for v1) and parses the same from exactly those bytes; every shorter
//! prefix of it is incomplete, never an error; the client found through X-Forwarded-For or
//! Forwarded is the peer itself unless the peer is trusted.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use pywebsocket::http_head::HttpRequest;
use pywebsocket::server::proxy_protocol::{parse, Parse, Version};
use pywebsocket::server::{forwarded, TrustedProxies};

fn request(forwarded_for: &str, forwarded: &str) -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        target: "/".into(),
        version: "HTTP/1.1".into(),
        headers: vec![
            ("X-Forwarded-For".into(), forwarded_for.into()),
            ("Forwarded".into(), forwarded.into()),
        ],
        raw_lines: Vec::new(),
        leftover: Vec::new(),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(Parse::Complete(header)) = parse(data) {
        assert!(header.length <= data.len());
        if header.version == Version::V1 {
            assert!(header.length <= 107);
        }
        assert_eq!(parse(&data[..header.length]), Ok(Parse::Complete(header)));
        for cut in 0..header.length {
            assert_eq!(
                parse(&data[..cut]),
                Ok(Parse::Incomplete),
                "prefix of {cut}"
            );
        }
    }

    let text = String::from_utf8_lossy(data);
    let (xff, fwd) = text.split_once('\n').unwrap_or((&text, ""));
    let trusted =
        TrustedProxies::parse(&["127.0.0.0/8", "10.0.0.0/8", "::1"]).expect("fixed networks parse");
    let proxy = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 40000);
    let stranger = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9)), 40001);
    let headers = request(xff, fwd);
    assert_eq!(
        forwarded::client_address(&headers, stranger, &trusted),
        stranger
    );
    let client = forwarded::client_address(&headers, proxy, &trusted);
    // Either the proxy stood (nothing usable) or an address from the headers came out.
    assert!(client == proxy || text.contains(&client.ip().to_string()) || client.ip().is_ipv6());
});
