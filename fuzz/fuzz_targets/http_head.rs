#![no_main]
//! The HTTP request head parser: fed in pieces (byte by byte or random sizes) it answers as
//! when fed at once, never buffers more than its limit, and only fails with the statuses
//! http.server uses.

use libfuzzer_sys::fuzz_target;
use pywebsocket::http_head::{HeadError, HeadLimits, HeadParser, HttpRequest};
use pywebsocket_rs_fuzz::{split_points, Knobs};

/// What a parse came to, in a form two runs can be compared by.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Request(HttpRequest),
    Respond(u16, Option<String>, String),
    Silent,
    Incomplete,
}

fn outcome(result: Result<Option<HttpRequest>, HeadError>) -> Option<Outcome> {
    match result {
        Ok(Some(request)) => Some(Outcome::Request(request)),
        Ok(None) => None,
        Err(HeadError::Respond {
            status,
            message,
            request_line,
            ..
        }) => Some(Outcome::Respond(status, message, request_line)),
        Err(HeadError::Silent) => Some(Outcome::Silent),
        Err(HeadError::Io(err)) => panic!("no I/O here: {err}"),
    }
}

fn parse(input: &[u8], ends: &[usize], limits: HeadLimits) -> Outcome {
    let mut parser = HeadParser::new(limits);
    let mut start = 0;
    for &end in ends {
        if let Some(done) = outcome(parser.feed(&input[start..end])) {
            // What came after the head is handed on whole, whatever the pieces were.
            if let Outcome::Request(mut request) = done {
                request.leftover.extend_from_slice(&input[end..]);
                return Outcome::Request(request);
            }
            return done;
        }
        start = end;
    }
    Outcome::Incomplete
}

fuzz_target!(|input: &[u8]| {
    let mut knobs = Knobs { rest: input };
    let cut_seed = knobs.byte();
    let limits = HeadLimits {
        max_bytes: usize::from(knobs.byte()) * 8 + 1,
        max_headers: usize::from(knobs.byte() % 16),
    };
    let head = knobs.rest;
    let at_once = parse(head, &[head.len()], limits);
    let in_pieces = parse(head, &split_points(cut_seed, head.len()), limits);
    assert_eq!(at_once, in_pieces, "pieces changed the outcome");
    match &at_once {
        Outcome::Request(request) => {
            let head_len = head.len() - request.leftover.len();
            assert!(
                head_len <= limits.max_bytes,
                "a head over the limit was accepted"
            );
            assert!(request.headers.len() <= limits.max_headers);
            assert!(
                ["HTTP/0.9", "HTTP/1.0", "HTTP/1.1"].contains(&request.version.as_str())
                    || request.version.starts_with("HTTP/")
            );
            assert!(!request.target.starts_with("//"));
        }
        Outcome::Respond(status, _, _) => assert!([400, 414, 431, 505].contains(status)),
        Outcome::Silent => {}
        Outcome::Incomplete => assert!(head.len() < limits.max_bytes),
    }
});
