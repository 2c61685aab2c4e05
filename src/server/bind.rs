//! Listening sockets the way upstream `WebSocketServer` makes them: create all, bind all
//! (SO_REUSEADDR; port 0 reused for later sockets), listen all; failures are dropped with INFO.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, ToSocketAddrs};

use socket2::{Domain, Protocol, Socket, Type};

/// One `(family, host, port)` entry of the `addresses` config key.
#[derive(Debug, Clone)]
pub struct BindAddress {
    pub family: i32,
    pub host: String,
    pub port: u16,
}

/// A log line for Python (levels are Python's: 20 INFO, 50 CRITICAL).
pub type LogLine = (u8, String);

pub struct Bound {
    pub listeners: Vec<TcpListener>,
    /// The port every socket ended up on (the first assigned one for port 0).
    pub port: u16,
    pub log: Vec<LogLine>,
}

fn describe(address: &BindAddress) -> String {
    let family = match address.family {
        libc::AF_INET6 => "AF_INET6",
        libc::AF_INET => "AF_INET",
        _ => "AF_UNKNOWN",
    };
    format!("({family}, {:?}, {})", address.host, address.port)
}

fn resolve(address: &BindAddress, port: u16) -> std::io::Result<SocketAddr> {
    let unspecified = match address.family {
        libc::AF_INET6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    };
    if address.host.is_empty() {
        return Ok(SocketAddr::new(unspecified, port));
    }
    if let Ok(ip) = address.host.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let want_v6 = address.family == libc::AF_INET6;
    (address.host.as_str(), port)
        .to_socket_addrs()?
        .find(|candidate| candidate.is_ipv6() == want_v6)
        .ok_or_else(|| std::io::Error::other(format!("cannot resolve {:?}", address.host)))
}

pub fn bind_all(addresses: &[BindAddress], backlog: i32) -> Bound {
    let mut log = Vec::new();
    let mut sockets = Vec::new();
    for address in addresses {
        log.push((20, format!("Create socket on: {}", describe(address))));
        let domain = if address.family == libc::AF_INET6 {
            Domain::IPV6
        } else {
            Domain::IPV4
        };
        match Socket::new(domain, Type::STREAM, Some(Protocol::TCP)) {
            Ok(socket) => sockets.push((socket, address)),
            Err(e) => log.push((20, format!("Skip by failure: {e}"))),
        }
    }
    let mut port = addresses.first().map(|a| a.port).unwrap_or(0);
    let mut bound = Vec::new();
    for (socket, address) in sockets {
        log.push((20, format!("Bind on: {}", describe(address))));
        let _ = socket.set_reuse_address(true);
        let result = resolve(address, port).and_then(|addr| socket.bind(&addr.into()));
        if let Err(e) = result {
            log.push((20, format!("Skip by failure: {e}")));
            continue;
        }
        if port == 0 {
            if let Some(assigned) = socket.local_addr().ok().and_then(|a| a.as_socket()) {
                port = assigned.port();
                log.push((20, format!("Port {port} is assigned")));
            }
        }
        bound.push((socket, address));
    }
    let mut listeners = Vec::new();
    for (socket, address) in bound {
        log.push((20, format!("Listen on: {}", describe(address))));
        match socket.listen(backlog) {
            Ok(()) => listeners.push(TcpListener::from(socket)),
            Err(e) => log.push((20, format!("Skip by failure: {e}"))),
        }
    }
    if listeners.is_empty() {
        log.push((
            50,
            "No sockets activated. Use info log level to see the reason.".into(),
        ));
    }
    Bound {
        listeners,
        port,
        log,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn v4(port: u16) -> BindAddress {
        BindAddress {
            family: libc::AF_INET,
            host: "127.0.0.1".into(),
            port,
        }
    }

    #[test]
    fn port_zero_is_assigned_once_and_reused() {
        let bound = bind_all(
            &[
                v4(0),
                BindAddress {
                    family: libc::AF_INET6,
                    host: "::1".into(),
                    port: 0,
                },
            ],
            5,
        );
        assert!(!bound.listeners.is_empty());
        assert_ne!(bound.port, 0);
        for listener in &bound.listeners {
            assert_eq!(listener.local_addr().unwrap().port(), bound.port);
        }
    }

    #[test]
    fn a_failed_bind_is_dropped_and_none_is_critical() {
        let first = bind_all(&[v4(0)], 5);
        let taken = first.port;
        let second = bind_all(&[v4(taken)], 5);
        assert!(second.listeners.is_empty());
        assert!(second
            .log
            .iter()
            .any(|(level, m)| *level == 20 && m.starts_with("Skip by failure")));
        assert_eq!(second.log.last().unwrap().0, 50);
    }
}
