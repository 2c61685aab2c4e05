//! `--proxy-protocol`: the PROXY protocol header (HAProxy's spec, v1 text and v2 binary) that
//! a load balancer sends before anything else. The parser is pure and bounded (v1: 107 bytes,
//! v2: 16 + a 16-bit length); the reader peeks, then consumes exactly the header's bytes, so
//! what follows (HTTP or TLS) stays in the socket.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

#[cfg(test)]
mod tests;

const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest v1 line the spec allows, "\r\n" included.
const V1_MAX: usize = 107;
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
const V2_FIXED: usize = 16;
/// How long an untrusted peer's first bytes may look like the start of a header before
/// they are looked at again (they stay in the socket until then).
const UNDECIDED_RECHECK: Duration = Duration::from_millis(10);

/// Which header a trusted peer must send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyProtocol {
    V1,
    V2,
    Auto,
}

impl ProxyProtocol {
    pub fn parse(text: &str) -> Result<ProxyProtocol, String> {
        match text {
            "v1" => Ok(ProxyProtocol::V1),
            "v2" => Ok(ProxyProtocol::V2),
            "auto" => Ok(ProxyProtocol::Auto),
            _ => Err(format!(
                "--proxy-protocol {text:?}: expected v1, v2 or auto"
            )),
        }
    }

    fn accepts(self, version: Version) -> bool {
        matches!(
            (self, version),
            (ProxyProtocol::Auto, _)
                | (ProxyProtocol::V1, Version::V1)
                | (ProxyProtocol::V2, Version::V2)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// What the first bytes of a connection are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Header(Version),
    NotHeader,
    /// Too few bytes yet: they are a prefix of a signature.
    Undecided,
}

pub fn classify(bytes: &[u8]) -> Start {
    if bytes.starts_with(V1_PREFIX) {
        Start::Header(Version::V1)
    } else if bytes.starts_with(V2_SIGNATURE) {
        Start::Header(Version::V2)
    } else if V1_PREFIX.starts_with(bytes) || V2_SIGNATURE.starts_with(bytes) {
        Start::Undecided
    } else {
        Start::NotHeader
    }
}

/// A complete header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: Version,
    /// The client's address; None for LOCAL, UNKNOWN, AF_UNSPEC or AF_UNIX (use the peer).
    pub source: Option<SocketAddr>,
    /// Bytes the header takes, to be consumed.
    pub length: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parse {
    Incomplete,
    Complete(Header),
}

/// Parses the header at the start of `bytes`; never looks past its end.
pub fn parse(bytes: &[u8]) -> Result<Parse, String> {
    match classify(bytes) {
        Start::Undecided => Ok(Parse::Incomplete),
        Start::NotHeader => Err("no PROXY protocol header".into()),
        Start::Header(Version::V1) => parse_v1(bytes),
        Start::Header(Version::V2) => parse_v2(bytes),
    }
}

fn parse_v1(bytes: &[u8]) -> Result<Parse, String> {
    let window = &bytes[..bytes.len().min(V1_MAX)];
    let Some(end) = window.iter().position(|&b| b == b'\n') else {
        if let Some(bad) = window
            .iter()
            .find(|&&b| !(b == b'\r' || (0x20..0x7f).contains(&b)))
        {
            return Err(format!("PROXY v1: byte {bad:#04x} in the header line"));
        }
        if bytes.len() >= V1_MAX {
            return Err(format!("PROXY v1: no line end within {V1_MAX} bytes"));
        }
        return Ok(Parse::Incomplete);
    };
    let line = match &window[..end].strip_suffix(b"\r") {
        // Printable ASCII only, as while the line was incomplete (UNKNOWN's rest included).
        Some(line) => match line.iter().find(|&&b| !(0x20..0x7f).contains(&b)) {
            Some(bad) => return Err(format!("PROXY v1: byte {bad:#04x} in the header line")),
            None => std::str::from_utf8(line).map_err(|_| "PROXY v1: not ASCII")?,
        },
        None => return Err("PROXY v1: line ends without CR".into()),
    };
    let source = v1_source(line)?;
    Ok(Parse::Complete(Header {
        version: Version::V1,
        source,
        length: end + 1,
    }))
}

fn v1_source(line: &str) -> Result<Option<SocketAddr>, String> {
    let fields: Vec<&str> = line.split(' ').collect();
    let bad = || format!("PROXY v1: malformed header {line:?}");
    match fields.get(1).copied() {
        Some("UNKNOWN") => return Ok(None),
        Some("TCP4" | "TCP6") if fields.len() == 6 => {}
        _ => return Err(bad()),
    }
    let source: IpAddr = if fields[1] == "TCP4" {
        fields[2].parse::<Ipv4Addr>().map_err(|_| bad())?.into()
    } else {
        fields[2].parse::<Ipv6Addr>().map_err(|_| bad())?.into()
    };
    let port = |text: &str| -> Result<u16, String> {
        let digits_only = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        let leading_zero = text.len() > 1 && text.starts_with('0');
        match text.parse() {
            Ok(port) if digits_only && !leading_zero => Ok(port),
            _ => Err(bad()),
        }
    };
    let source_port = port(fields[4])?;
    port(fields[5])?;
    let destination_ok = if fields[1] == "TCP4" {
        fields[3].parse::<Ipv4Addr>().is_ok()
    } else {
        fields[3].parse::<Ipv6Addr>().is_ok()
    };
    if !destination_ok {
        return Err(bad());
    }
    Ok(Some(SocketAddr::new(source, source_port)))
}

fn parse_v2(bytes: &[u8]) -> Result<Parse, String> {
    if bytes.len() < V2_FIXED {
        return Ok(Parse::Incomplete);
    }
    let version_command = bytes[12];
    if version_command >> 4 != 2 {
        return Err(format!(
            "PROXY v2: version {} in the header",
            version_command >> 4
        ));
    }
    let local = match version_command & 0x0f {
        0 => true,
        1 => false,
        other => return Err(format!("PROXY v2: unknown command {other}")),
    };
    let family = bytes[13] >> 4;
    let length = V2_FIXED + usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
    if bytes.len() < length {
        return Ok(Parse::Incomplete);
    }
    let block = &bytes[V2_FIXED..length];
    // TLVs after the addresses are skipped; LOCAL and families without an IP use the peer.
    let source = match (local, family) {
        (true, _) | (false, 0 | 3) => None,
        (false, 1) => match block {
            [a, b, c, d, _, _, _, _, p1, p2, _, _, ..] => Some(SocketAddr::new(
                Ipv4Addr::new(*a, *b, *c, *d).into(),
                u16::from_be_bytes([*p1, *p2]),
            )),
            _ => return Err("PROXY v2: address block too short for AF_INET".into()),
        },
        (false, 2) => {
            if block.len() < 36 {
                return Err("PROXY v2: address block too short for AF_INET6".into());
            }
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&block[..16]);
            let port = u16::from_be_bytes([block[32], block[33]]);
            Some(SocketAddr::new(Ipv6Addr::from(octets).into(), port))
        }
        (false, other) => return Err(format!("PROXY v2: unknown address family {other}")),
    };
    Ok(Parse::Complete(Header {
        version: Version::V2,
        source,
        length,
    }))
}

/// Reads a trusted peer's header, consuming exactly its bytes: the client's address, or None
/// when the header says to use the peer's. Bounded by the header's own limits.
pub async fn read_header(
    tcp: &mut TcpStream,
    expected: ProxyProtocol,
) -> Result<Option<SocketAddr>, String> {
    let mut consumed: Vec<u8> = Vec::new();
    let mut peeked = [0u8; 512];
    loop {
        let count = tcp
            .peek(&mut peeked)
            .await
            .map_err(|e| format!("reading the PROXY header failed: {e}"))?;
        if count == 0 {
            return Err("connection closed before a complete PROXY header".into());
        }
        let mut candidate = consumed.clone();
        candidate.extend_from_slice(&peeked[..count]);
        match parse(&candidate)? {
            Parse::Complete(header) => {
                if !expected.accepts(header.version) {
                    return Err(format!(
                        "PROXY {:?} header sent, {expected:?} expected",
                        header.version
                    ));
                }
                let rest = header.length - consumed.len();
                discard(tcp, rest).await?;
                return Ok(header.source);
            }
            // Every byte seen belongs to the header (or to a trusted peer's garbage).
            Parse::Incomplete => {
                discard(tcp, count).await?;
                consumed = candidate;
            }
        }
    }
}

async fn discard(tcp: &mut TcpStream, count: usize) -> Result<(), String> {
    let mut sink = vec![0u8; count];
    tcp.read_exact(&mut sink)
        .await
        .map(drop)
        .map_err(|e| format!("reading the PROXY header failed: {e}"))
}

/// Whether an untrusted peer starts with a PROXY header; nothing is consumed.
pub async fn starts_with_header(tcp: &TcpStream) -> std::io::Result<bool> {
    let mut peeked = [0u8; V2_SIGNATURE.len()];
    loop {
        let count = tcp.peek(&mut peeked).await?;
        match classify(&peeked[..count]) {
            _ if count == 0 => return Ok(false),
            Start::Header(_) => return Ok(true),
            Start::NotHeader => return Ok(false),
            // The rest is still in flight; peek would return the same bytes at once.
            Start::Undecided => tokio::time::sleep(UNDECIDED_RECHECK).await,
        }
    }
}
