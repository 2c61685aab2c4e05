//! Absolute `ws://` / `wss://` request targets, reduced as upstream `http_header_util.parse_uri`
//! does with `urllib.parse.urlsplit`, and the handler lookup key of `Dispatcher`.

#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// Not a ws(s) URI: used as is.
    Relative,
    /// ws(s) URI without a usable host or with a bad port: falls back to static files.
    Invalid,
    Absolute {
        host: String,
        port: u16,
        path: String,
    },
}

pub fn parse_ws_uri(target: &str) -> Target {
    let Some((scheme, rest)) = target.split_once(':') else {
        return Target::Relative;
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "ws" && scheme != "wss" {
        return Target::Relative;
    }
    let (netloc, after) = match rest.strip_prefix("//") {
        Some(tail) => {
            let end = tail.find(['/', '?', '#']).unwrap_or(tail.len());
            (&tail[..end], &tail[end..])
        }
        None => ("", rest),
    };
    let (before_fragment, fragment) = after.split_once('#').unwrap_or((after, ""));
    let (path, query) = before_fragment
        .split_once('?')
        .unwrap_or((before_fragment, ""));
    let hostinfo = netloc.rsplit_once('@').map_or(netloc, |(_, h)| h);
    let (host, port_text) = if let Some(bracketed) = hostinfo.strip_prefix('[') {
        match bracketed.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':')),
            None => return Target::Invalid,
        }
    } else {
        match hostinfo.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostinfo, None),
        }
    };
    if host.is_empty() {
        return Target::Invalid;
    }
    let port = match port_text.filter(|p| !p.is_empty()) {
        None if scheme == "ws" => 80,
        None => 443,
        Some(text) if text.bytes().all(|b| b.is_ascii_digit()) => match text.parse::<u16>() {
            Ok(port) => port,
            Err(_) => return Target::Invalid,
        },
        Some(_) => return Target::Invalid,
    };
    let mut resource = if path.is_empty() {
        "/".to_string()
    } else {
        path.to_string()
    };
    if !query.is_empty() {
        resource.push('?');
        resource.push_str(query);
    }
    if !fragment.is_empty() {
        resource.push('#');
        resource.push_str(fragment);
    }
    Target::Absolute {
        host: host.to_ascii_lowercase(),
        port,
        path: resource,
    }
}

/// `Dispatcher.get_handler_suite`'s key: fragment split off, then the query removed.
pub fn handler_key(path: &str) -> (&str, bool) {
    let (without_fragment, has_fragment) = match path.split_once('#') {
        Some((before, _)) => (before, true),
        None => (path, false),
    };
    (
        without_fragment.split('?').next().unwrap_or(""),
        has_fragment,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn absolute(host: &str, port: u16, path: &str) -> Target {
        Target::Absolute {
            host: host.into(),
            port,
            path: path.into(),
        }
    }

    #[test]
    fn reduces_like_urlsplit() {
        assert_eq!(parse_ws_uri("/echo?x"), Target::Relative);
        assert_eq!(parse_ws_uri("http://h/echo"), Target::Relative);
        assert_eq!(
            parse_ws_uri("ws://Host:8080/echo?a=b#f"),
            absolute("host", 8080, "/echo?a=b#f")
        );
        assert_eq!(parse_ws_uri("wss://h"), absolute("h", 443, "/"));
        assert_eq!(parse_ws_uri("WS://u:p@[::1]/x"), absolute("::1", 80, "/x"));
        assert_eq!(parse_ws_uri("ws://h:/x"), absolute("h", 80, "/x"));
        assert_eq!(parse_ws_uri("ws:///echo"), Target::Invalid);
        assert_eq!(parse_ws_uri("ws://h:bad/echo"), Target::Invalid);
        assert_eq!(parse_ws_uri("ws://h:70000/echo"), Target::Invalid);
    }

    #[test]
    fn handler_keys() {
        assert_eq!(handler_key("/echo?x=1#f"), ("/echo", true));
        assert_eq!(handler_key("/echo#f?x"), ("/echo", true));
        assert_eq!(handler_key("/echo"), ("/echo", false));
    }
}
