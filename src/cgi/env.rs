//! The CGI/1.1 environment for a request, as CGIHTTPRequestHandler.run_cgi sets it, plus the
//! other request headers as HTTP_* (which the stdlib left as a TODO).

use base64::Engine as _;

use super::{CgiContext, CgiScript};
use crate::http_head::HttpRequest;
use crate::static_files::path::translate_path;

/// Headers with their own variable, or never passed on: credentials, and `Proxy`, which as
/// HTTP_PROXY would redirect the script's own HTTP clients (httpoxy).
const NOT_PASSED_AS_HTTP: &[&str] = &[
    "content-type",
    "content-length",
    "authorization",
    "proxy-authorization",
    "proxy",
];

fn all_values<'a>(req: &'a HttpRequest, name: &str) -> impl Iterator<Item = &'a str> + 'a {
    let name = name.to_owned();
    req.headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(&name))
        .map(|(_, v)| v.as_str())
}

/// `AUTH_TYPE` and, for Basic credentials, `REMOTE_USER`, as the stdlib derives them.
fn auth_vars(req: &HttpRequest, env: &mut Vec<(String, String)>) {
    let Some(authorization) = req.header("Authorization") else {
        return;
    };
    let parts: Vec<&str> = authorization.split_whitespace().collect();
    let [scheme, credentials] = parts.as_slice() else {
        return;
    };
    env.push(("AUTH_TYPE".into(), (*scheme).into()));
    if !scheme.eq_ignore_ascii_case("basic") {
        return;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|text| text.is_ascii());
    if let Some(decoded) = decoded {
        let fields: Vec<&str> = decoded.split(':').collect();
        if let [user, _] = fields.as_slice() {
            env.push(("REMOTE_USER".into(), (*user).into()));
        }
    }
}

/// `HTTP_X_FOO` for header `X-Foo`; None for names that could alias another header.
fn http_var_name(header: &str) -> Option<String> {
    let plain = header
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    (plain && !header.is_empty())
        .then(|| format!("HTTP_{}", header.to_ascii_uppercase().replace('-', "_")))
}

/// Every variable the script gets on top of the server's own environment, in order.
pub fn build_env(req: &HttpRequest, script: &CgiScript, ctx: &CgiContext) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("SERVER_SOFTWARE".into(), ctx.server_version.clone()),
        ("SERVER_NAME".into(), ctx.server_name.clone()),
        ("GATEWAY_INTERFACE".into(), "CGI/1.1".into()),
        ("SERVER_PROTOCOL".into(), "HTTP/1.0".into()),
        ("SERVER_PORT".into(), ctx.server_port.to_string()),
        ("REQUEST_METHOD".into(), req.method.clone()),
    ];
    let path_info = String::from_utf8_lossy(&crate::static_files::path::unquote(&script.path_info))
        .into_owned();
    let translated = translate_path(&path_info, &script.document_root);
    env.push((
        "PATH_TRANSLATED".into(),
        translated.to_string_lossy().into_owned(),
    ));
    env.push(("PATH_INFO".into(), path_info));
    env.push(("SCRIPT_NAME".into(), script.script_name.clone()));
    env.push(("QUERY_STRING".into(), script.query.clone()));
    env.push(("REMOTE_ADDR".into(), ctx.remote_addr.ip().to_string()));
    env.push(("REMOTE_HOST".into(), String::new()));
    auth_vars(req, &mut env);
    let content_type = req.header("Content-Type").unwrap_or("text/plain");
    env.push(("CONTENT_TYPE".into(), content_type.into()));
    let length = req.header("Content-Length").unwrap_or("");
    env.push(("CONTENT_LENGTH".into(), length.into()));
    env.push((
        "HTTP_REFERER".into(),
        req.header("Referer").unwrap_or("").into(),
    ));
    let accept: Vec<&str> = all_values(req, "Accept").collect();
    env.push(("HTTP_ACCEPT".into(), accept.join(",")));
    env.push((
        "HTTP_USER_AGENT".into(),
        req.header("User-Agent").unwrap_or("").into(),
    ));
    let cookies: Vec<&str> = all_values(req, "Cookie")
        .filter(|c| !c.is_empty())
        .collect();
    env.push(("HTTP_COOKIE".into(), cookies.join(", ")));
    if ctx.https {
        env.push(("HTTPS".into(), "on".into()));
    }
    for (name, _) in &req.headers {
        let lower = name.to_ascii_lowercase();
        if NOT_PASSED_AS_HTTP.contains(&lower.as_str()) {
            continue;
        }
        let Some(var) = http_var_name(name) else {
            continue;
        };
        if env.iter().any(|(existing, _)| *existing == var) {
            continue;
        }
        let values: Vec<&str> = all_values(req, name).collect();
        env.push((var, values.join(", ")));
    }
    // The OS refuses variables containing NUL.
    for (_, value) in &mut env {
        value.retain(|c| c != '\0');
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn lookup<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
        env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn sample() -> (HttpRequest, CgiScript, CgiContext) {
        let headers = [
            ("Host", "example.test:8080"),
            ("User-Agent", "probe/1"),
            ("Accept", "text/html"),
            ("accept", "*/*"),
            ("Cookie", "a=1"),
            ("Cookie", "b=2"),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Content-Length", "11"),
            ("Authorization", "Basic dGVzdDpzZWNyZXQ="),
            ("Proxy", "http://evil.test/"),
            ("X-Custom-Thing", "one"),
            ("X-Custom-Thing", "two"),
            ("X_Sneaky", "alias"),
        ];
        let req = HttpRequest {
            method: "POST".into(),
            target: "/cgi-bin/env.py?a=1&b=2".into(),
            version: "HTTP/1.1".into(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).into(), (*v).into()))
                .collect(),
            ..HttpRequest::default()
        };
        let script = CgiScript {
            script_path: PathBuf::from("/srv/root/cgi-bin/env.py"),
            script_name: "/cgi-bin/env.py".into(),
            path_info: String::new(),
            query: "a=1&b=2".into(),
            document_root: PathBuf::from("/srv/root"),
        };
        let ctx = CgiContext {
            server_port: 8080,
            server_name: "localhost".into(),
            remote_addr: "127.0.0.1:54321".parse().expect("addr"),
            https: true,
            server_version: "SimpleHTTP/0.6 Python/3.11.7".into(),
        };
        (req, script, ctx)
    }

    #[test]
    fn standard_variables() {
        let (req, script, ctx) = sample();
        let env = build_env(&req, &script, &ctx);
        let expected = [
            ("SERVER_SOFTWARE", "SimpleHTTP/0.6 Python/3.11.7"),
            ("SERVER_NAME", "localhost"),
            ("GATEWAY_INTERFACE", "CGI/1.1"),
            ("SERVER_PROTOCOL", "HTTP/1.0"),
            ("SERVER_PORT", "8080"),
            ("REQUEST_METHOD", "POST"),
            ("PATH_INFO", ""),
            ("PATH_TRANSLATED", "/srv/root"),
            ("SCRIPT_NAME", "/cgi-bin/env.py"),
            ("QUERY_STRING", "a=1&b=2"),
            ("REMOTE_ADDR", "127.0.0.1"),
            ("AUTH_TYPE", "Basic"),
            ("REMOTE_USER", "test"),
            ("CONTENT_TYPE", "application/x-www-form-urlencoded"),
            ("CONTENT_LENGTH", "11"),
            ("HTTP_ACCEPT", "text/html,*/*"),
            ("HTTP_USER_AGENT", "probe/1"),
            ("HTTP_COOKIE", "a=1, b=2"),
            ("HTTP_REFERER", ""),
            ("HTTPS", "on"),
            ("HTTP_HOST", "example.test:8080"),
            ("HTTP_X_CUSTOM_THING", "one, two"),
        ];
        for (name, value) in expected {
            assert_eq!(lookup(&env, name), Some(value), "{name}");
        }
    }

    #[test]
    fn dangerous_or_ambiguous_headers_are_not_passed() {
        let (req, script, ctx) = sample();
        let env = build_env(&req, &script, &ctx);
        for name in [
            "HTTP_PROXY",
            "HTTP_AUTHORIZATION",
            "HTTP_X_SNEAKY",
            "HTTP_CONTENT_TYPE",
        ] {
            assert_eq!(lookup(&env, name), None, "{name}");
        }
        let names: Vec<&String> = env.iter().map(|(n, _)| n).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "no variable set twice");
    }

    #[test]
    fn defaults_without_headers() {
        let (mut req, script, mut ctx) = sample();
        req.headers.clear();
        req.method = "GET".into();
        ctx.https = false;
        let env = build_env(&req, &script, &ctx);
        assert_eq!(lookup(&env, "CONTENT_TYPE"), Some("text/plain"));
        assert_eq!(lookup(&env, "CONTENT_LENGTH"), Some(""));
        assert_eq!(lookup(&env, "HTTP_ACCEPT"), Some(""));
        assert_eq!(lookup(&env, "HTTP_COOKIE"), Some(""));
        assert_eq!(lookup(&env, "AUTH_TYPE"), None);
        assert_eq!(lookup(&env, "HTTPS"), None);
    }
}
