//! `--trusted-proxy`: the networks whose connections may say who the client is (forwarding
//! headers, PROXY protocol). IPv4-mapped IPv6 peers match IPv4 networks.

use std::net::IpAddr;

/// One network: an address and how many leading bits must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `10.0.0.0/8`, `2001:db8::/32`, `[::1]`, or a plain address (a /32 or /128).
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let bad = || format!("--trusted-proxy {text:?}: not an address or CIDR network");
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address = address.trim().trim_start_matches('[').trim_end_matches(']');
        let network: IpAddr = address.parse().map_err(|_| bad())?;
        let network = network.to_canonical();
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(prefix) => match prefix.trim().parse::<u8>() {
                Ok(bits) if bits <= width => bits,
                _ => return Err(bad()),
            },
        };
        Ok(Cidr { network, prefix })
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => same_prefix(
                u128::from(u32::from(net)),
                u128::from(u32::from(ip)),
                32,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                same_prefix(u128::from(net), u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn same_prefix(network: u128, address: u128, width: u8, prefix: u8) -> bool {
    let ignored = u32::from(width - prefix);
    network.checked_shr(ignored).unwrap_or(0) == address.checked_shr(ignored).unwrap_or(0)
}

/// The configured networks; empty means no peer is trusted.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    networks: Vec<Cidr>,
}

impl TrustedProxies {
    /// Every entry may itself list several, separated by commas or spaces.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<TrustedProxies, String> {
        let mut networks = Vec::new();
        for entry in entries {
            for item in entry.as_ref().split([',', ' ', '\t']) {
                if !item.is_empty() {
                    networks.push(Cidr::parse(item)?);
                }
            }
        }
        Ok(TrustedProxies { networks })
    }

    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        self.networks.iter().any(|cidr| cidr.contains(address))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_and_plain_addresses() {
        let trusted =
            TrustedProxies::parse(&["10.0.0.0/8, 192.168.1.7", "2001:db8::/32 [::1]"]).unwrap();
        assert!(trusted.contains(ip("10.255.0.1")));
        assert!(!trusted.contains(ip("11.0.0.1")));
        assert!(trusted.contains(ip("192.168.1.7")));
        assert!(!trusted.contains(ip("192.168.1.8")));
        assert!(trusted.contains(ip("2001:db8:ffff::1")));
        assert!(!trusted.contains(ip("2001:db9::1")));
        assert!(trusted.contains(ip("::1")));
        assert!(!trusted.contains(ip("::2")));
    }

    #[test]
    fn mapped_ipv6_matches_ipv4_networks() {
        let trusted = TrustedProxies::parse(&["127.0.0.0/8"]).unwrap();
        assert!(trusted.contains(ip("::ffff:127.0.0.1")));
        let mapped = TrustedProxies::parse(&["::ffff:10.1.2.3"]).unwrap();
        assert!(mapped.contains(ip("10.1.2.3")));
    }

    #[test]
    fn zero_and_full_prefixes() {
        let all = TrustedProxies::parse(&["0.0.0.0/0", "::/0"]).unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        assert!(all.contains(ip("2001:db8::1")));
        let one = TrustedProxies::parse(&["8.8.8.8/32"]).unwrap();
        assert!(one.contains(ip("8.8.8.8")));
        assert!(!one.contains(ip("8.8.8.9")));
    }

    #[test]
    fn bad_entries_are_errors() {
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "example.com",
            "1.2.3.4/x",
            "/8",
        ] {
            let err = TrustedProxies::parse(&[bad]).unwrap_err();
            assert!(err.contains("--trusted-proxy"), "{err}");
        }
        assert!(TrustedProxies::parse::<&str>(&[]).unwrap().is_empty());
    }
}
