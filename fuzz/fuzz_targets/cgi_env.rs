#![no_main]
//! The CGI environment built from a request: Basic credentials decoding (AUTH_TYPE,
//! REMOTE_USER), header names turned into HTTP_* variables, PATH_INFO/PATH_TRANSLATED.
//! No panic, no variable name or value with a NUL (the exec would fail), and
//! PATH_TRANSLATED under the document root.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pywebsocket::cgi::{build_env, CgiContext, CgiScript};
use pywebsocket::http_head::HttpRequest;

#[derive(Arbitrary, Debug)]
struct Case {
    authorization: String,
    path_info: String,
    query: String,
    headers: Vec<(String, String)>,
}

fuzz_target!(|case: Case| {
    let mut headers = vec![("Authorization".to_string(), case.authorization)];
    headers.extend(case.headers.into_iter().take(8));
    let request = HttpRequest {
        method: "GET".into(),
        target: "/cgi-bin/script".into(),
        version: "HTTP/1.1".into(),
        headers,
        ..HttpRequest::default()
    };
    let script = CgiScript {
        script_path: PathBuf::from("/srv/docroot/cgi-bin/script"),
        script_name: "/cgi-bin/script".into(),
        path_info: case.path_info,
        query: case.query,
        document_root: PathBuf::from("/srv/docroot"),
    };
    let context = CgiContext {
        server_port: 80,
        server_name: "localhost".into(),
        remote_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 1234)),
        https: false,
        server_version: "SimpleHTTP/0.6 Python/3.11.7".into(),
    };
    let env = build_env(&request, &script, &context);
    for (name, value) in &env {
        assert!(
            !name.is_empty() && !name.contains(['=', '\0']),
            "variable name {name:?}"
        );
        if name == "PATH_TRANSLATED" {
            assert!(value.starts_with("/srv/docroot"), "{value:?}");
        }
    }
});
