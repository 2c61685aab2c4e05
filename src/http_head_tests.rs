#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test
use super::*;
use proptest::prelude::*;

fn parse_all(input: &[u8], limits: HeadLimits) -> Result<Option<HttpRequest>, String> {
    let mut parser = HeadParser::new(limits);
    parser.feed(input).map_err(|e| format!("{e:?}"))
}

fn parse_bytewise(input: &[u8], limits: HeadLimits) -> Result<Option<HttpRequest>, String> {
    let mut parser = HeadParser::new(limits);
    for (i, b) in input.iter().enumerate() {
        match parser.feed(std::slice::from_ref(b)) {
            Ok(Some(mut request)) => {
                request.leftover.extend_from_slice(&input[i + 1..]);
                return Ok(Some(request));
            }
            Ok(None) => {}
            Err(e) => return Err(format!("{e:?}")),
        }
    }
    Ok(None)
}

fn status_of(result: Result<Option<HttpRequest>, HeadError>) -> Option<u16> {
    match result {
        Err(HeadError::Respond { status, .. }) => Some(status),
        _ => None,
    }
}

#[test]
fn parses_a_websocket_request_with_leftover() {
    let input = b"GET /echo?x=1 HTTP/1.1\r\nHost: a\r\nUpgrade:  websocket \r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n\x81\x00";
    let request = parse_all(input, HeadLimits::default()).unwrap().unwrap();
    assert_eq!(request.method, "GET");
    assert_eq!(request.target, "/echo?x=1");
    assert_eq!(request.version, "HTTP/1.1");
    assert_eq!(request.header("upgrade"), Some("websocket "));
    assert_eq!(request.header("X-DUP"), Some("1"));
    assert_eq!(request.headers.len(), 4);
    assert_eq!(request.headers[3].0, "x-dup");
    assert_eq!(request.raw_lines.len(), 5);
    assert_eq!(request.raw_lines[0], b"GET /echo?x=1 HTTP/1.1\r\n");
    assert_eq!(request.leftover, b"\x81\x00");
    assert_eq!(request.request_line(), "GET /echo?x=1 HTTP/1.1");
}

#[test]
fn bare_newlines_and_folded_headers() {
    let input = b"GET / HTTP/1.0\nA: x\n  y\n\n";
    let request = parse_all(input, HeadLimits::default()).unwrap().unwrap();
    assert_eq!(request.header("a"), Some("x\r\n  y"));
    assert_eq!(request.version, "HTTP/1.0");
}

#[test]
fn double_slash_is_reduced() {
    let request = parse_all(b"GET //evil/x HTTP/1.1\r\n\r\n", HeadLimits::default());
    assert_eq!(request.unwrap().unwrap().target, "/evil/x");
}

#[test]
fn request_line_errors_match_http_server() {
    let limits = HeadLimits::default();
    let mut parser = HeadParser::new(limits);
    match parser.feed(b"GET / HTTP/1.x\r\n") {
        Err(HeadError::Respond {
            status: 400,
            message: Some(m),
            ..
        }) => {
            assert_eq!(m, "Bad request version ('HTTP/1.x')")
        }
        other => panic!("{other:?}"),
    }
    let mut parser = HeadParser::new(limits);
    match parser.feed(b"GET / HTTP/2.0\r\n") {
        Err(HeadError::Respond {
            status: 505,
            message: Some(m),
            ..
        }) => {
            assert_eq!(m, "Invalid HTTP version (2.0)")
        }
        other => panic!("{other:?}"),
    }
    let mut parser = HeadParser::new(limits);
    match parser.feed(b"GET a b HTTP/1.1\r\n") {
        Err(HeadError::Respond {
            status: 400,
            message: Some(m),
            ..
        }) => {
            assert_eq!(m, "Bad request syntax ('GET a b HTTP/1.1')")
        }
        other => panic!("{other:?}"),
    }
    let mut parser = HeadParser::new(limits);
    match parser.feed(b"POST /\r\n") {
        Err(HeadError::Respond {
            status: 400,
            message: Some(m),
            ..
        }) => {
            assert_eq!(m, "Bad HTTP/0.9 request type ('POST')")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        HeadParser::new(limits).feed(b"\r\n"),
        Err(HeadError::Silent)
    ));
}

#[test]
fn too_many_headers_is_431() {
    let mut input = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..100 {
        input.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
    }
    let mut ok = input.clone();
    ok.extend_from_slice(b"\r\n");
    assert!(parse_all(&ok, HeadLimits::default()).unwrap().is_some());
    input.extend_from_slice(b"One-more: v\r\n\r\n");
    let mut parser = HeadParser::new(HeadLimits::default());
    match parser.feed(&input) {
        Err(HeadError::Respond {
            status: 431,
            message: Some(m),
            explain: Some(e),
            ..
        }) => {
            assert_eq!(m, "Too many headers");
            assert_eq!(e, "got more than 100 headers");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn oversized_heads_are_rejected_without_buffering_them() {
    let limits = HeadLimits {
        max_bytes: 1024,
        max_headers: 100,
    };
    let long_target = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(2000));
    assert_eq!(
        status_of(HeadParser::new(limits).feed(long_target.as_bytes())),
        Some(414)
    );
    let mut parser = HeadParser::new(limits);
    assert!(parser.feed(b"GET / HTTP/1.1\r\n").unwrap().is_none());
    let big_header = format!("X: {}\r\n", "b".repeat(5000));
    assert_eq!(status_of(parser.feed(big_header.as_bytes())), Some(431));
    assert!(parser.buf.len() <= 1024);
}

#[test]
fn head_exactly_at_the_limit_is_accepted() {
    let head = b"GET / HTTP/1.1\r\nA: b\r\n\r\n";
    let limits = HeadLimits {
        max_bytes: head.len(),
        max_headers: 100,
    };
    let mut input = head.to_vec();
    input.extend_from_slice(b"tail bytes");
    let request = parse_all(&input, limits).unwrap().unwrap();
    assert_eq!(request.leftover, b"tail bytes");
}

#[test]
fn malformed_header_lines_are_400() {
    for input in [
        &b"GET / HTTP/1.1\r\nno colon\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\n folded\r\n\r\n",
    ] {
        assert_eq!(
            status_of(HeadParser::new(HeadLimits::default()).feed(input)),
            Some(400)
        );
    }
}

#[test]
fn python_repr_quotes_like_python() {
    assert_eq!(py_repr("a'b"), "\"a'b\"");
    assert_eq!(py_repr("a'\"b"), "'a\\'\"b'");
    assert_eq!(
        py_repr("\u{a0}\u{ad}\u{85}\u{e9}\u{7f}\\"),
        "'\\xa0\\xad\\x85\u{e9}\\x7f\\\\'"
    );
}

#[tokio::test]
async fn read_head_reads_from_a_stream() {
    let (mut client, mut server) = tokio::io::duplex(64);
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        for piece in [&b"GET /a HT"[..], b"TP/1.1\r\nHost: x\r", b"\n\r\nrest"] {
            client.write_all(piece).await.unwrap();
        }
    });
    let request = read_head(&mut server, HeadLimits::default()).await.unwrap();
    assert_eq!(request.target, "/a");
    assert_eq!(request.leftover, b"rest");
}

#[tokio::test]
async fn read_head_is_silent_on_early_eof() {
    let (client, mut server) = tokio::io::duplex(64);
    drop(client);
    assert!(matches!(
        read_head(&mut server, HeadLimits::default()).await,
        Err(HeadError::Silent)
    ));
}

proptest! {
    #[test]
    fn no_panic_and_chunking_does_not_matter(input in proptest::collection::vec(any::<u8>(), 0..600),
                                             max in 16usize..700) {
        let limits = HeadLimits { max_bytes: max, max_headers: 5 };
        let whole = parse_all(&input, limits);
        let bytewise = parse_bytewise(&input, limits);
        prop_assert_eq!(whole, bytewise);
    }

    #[test]
    fn valid_heads_parse_in_any_chunking(names in proptest::collection::vec("[A-Za-z-]{1,12}", 0..8),
                                         split in 0usize..200) {
        let mut head = "GET /x HTTP/1.1\r\n".to_string();
        for (i, name) in names.iter().enumerate() {
            head.push_str(&format!("{name}: v{i}\r\n"));
        }
        head.push_str("\r\nbody");
        let bytes = head.as_bytes();
        let cut = split.min(bytes.len());
        let mut parser = HeadParser::new(HeadLimits::default());
        let first = parser.feed(&bytes[..cut]).unwrap();
        let request = match first {
            Some(mut r) => { r.leftover.extend_from_slice(&bytes[cut..]); r }
            None => parser.feed(&bytes[cut..]).unwrap().unwrap(),
        };
        prop_assert_eq!(request.headers.len(), names.len());
        prop_assert_eq!(request.leftover, b"body".to_vec());
    }
}
