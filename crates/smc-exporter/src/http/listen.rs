//! `--web.listen-address` values, as Prometheus exporters take them:
//! `:PORT` (every interface: one `[::]` socket with `IPV6_V6ONLY` off, so
//! IPv4 clients reach it too, as Go listens; `0.0.0.0` where the host has no
//! IPv6), `HOST:PORT` (resolved; every
//! address bound), `IP:PORT` and `[IPv6]:PORT`.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::net::TcpListener;

/// One `--web.listen-address`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddress {
    /// `:PORT`.
    Any(u16),
    /// An IP address and port.
    Addr(SocketAddr),
    /// A host name and port, resolved when bound.
    Host(String, u16),
}

impl std::fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddress::Any(p) => write!(f, ":{p}"),
            ListenAddress::Addr(a) => write!(f, "{a}"),
            ListenAddress::Host(h, p) => write!(f, "{h}:{p}"),
        }
    }
}

const EXPECTED: &str = "expected :PORT, HOST:PORT, IP:PORT or [IPv6]:PORT (e.g. \":9791\")";

/// Parse a flag value (clap's value parser).
pub fn parse(s: &str) -> Result<ListenAddress, String> {
    let bad = |why: &str| format!("{s:?}: {why}");
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(ListenAddress::Addr(a));
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(bad(EXPECTED));
    };
    let port: u16 = port
        .parse()
        .map_err(|_| bad(&format!("port {port:?} is not a number from 0 to 65535")))?;
    if host.is_empty() {
        return Ok(ListenAddress::Any(port));
    }
    if host.contains(':') || host.starts_with('[') {
        return Err(bad("an IPv6 address goes in brackets: [IPv6]:PORT"));
    }
    let valid = host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !valid {
        return Err(bad(&format!("{host:?} is not a host name; {EXPECTED}")));
    }
    Ok(ListenAddress::Host(host.to_string(), port))
}

/// Why an address could not be listened on.
#[derive(Debug, thiserror::Error)]
#[error("listen on {what}: {source}")]
pub struct BindError {
    what: String,
    #[source]
    source: std::io::Error,
}

/// Bind every address `a` stands for.
pub async fn bind(a: &ListenAddress) -> Result<Vec<TcpListener>, BindError> {
    let err = |what: String| move |source| BindError { what, source };
    match a {
        ListenAddress::Addr(addr) => Ok(vec![
            TcpListener::bind(addr)
                .await
                .map_err(err(addr.to_string()))?,
        ]),
        ListenAddress::Any(port) => match dual_stack(Ipv6Addr::UNSPECIFIED, *port) {
            Ok(l) => Ok(vec![l]),
            // No IPv6 on this host: IPv4 only.
            Err(_) => Ok(vec![
                TcpListener::bind((Ipv4Addr::UNSPECIFIED, *port))
                    .await
                    .map_err(err(a.to_string()))?,
            ]),
        },
        ListenAddress::Host(host, port) => {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), *port))
                .await
                .map_err(err(a.to_string()))?
                .collect();
            let mut out = Vec::with_capacity(addrs.len());
            for addr in dedup(addrs) {
                out.push(
                    TcpListener::bind(addr)
                        .await
                        .map_err(err(format!("{a} ({addr})")))?,
                );
            }
            Ok(out)
        }
    }
}

/// A listening socket on `ip` that also takes IPv4 (`IPV6_V6ONLY` off,
/// whatever `net.ipv6.bindv6only` says).
fn dual_stack(ip: Ipv6Addr, port: u16) -> std::io::Result<TcpListener> {
    let s = dual_stack_socket()?;
    s.bind(&SocketAddr::from((ip, port)).into())?;
    s.listen(1024)?;
    TcpListener::from_std(s.into())
}

/// An unbound IPv6 TCP socket with `IPV6_V6ONLY` off.
fn dual_stack_socket() -> std::io::Result<socket2::Socket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
    s.set_only_v6(false)?;
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

fn dedup(mut v: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let mut seen = Vec::new();
    v.retain(|a| {
        let new = !seen.contains(a);
        seen.push(*a);
        new
    });
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_parses() {
        assert_eq!(parse(":9791"), Ok(ListenAddress::Any(9791)));
        assert_eq!(
            parse("127.0.0.1:0"),
            Ok(ListenAddress::Addr("127.0.0.1:0".parse().unwrap()))
        );
        assert_eq!(
            parse("[::1]:9791"),
            Ok(ListenAddress::Addr("[::1]:9791".parse().unwrap()))
        );
        assert_eq!(
            parse("localhost:9791"),
            Ok(ListenAddress::Host("localhost".into(), 9791))
        );
    }

    #[test]
    fn bad_values_say_why() {
        assert_eq!(
            parse("9791").unwrap_err(),
            "\"9791\": expected :PORT, HOST:PORT, IP:PORT or [IPv6]:PORT (e.g. \":9791\")"
        );
        assert_eq!(
            parse(":http").unwrap_err(),
            "\":http\": port \"http\" is not a number from 0 to 65535"
        );
        assert_eq!(
            parse("::1:9791").unwrap_err(),
            "\"::1:9791\": an IPv6 address goes in brackets: [IPv6]:PORT"
        );
        assert_eq!(
            parse("a b:1").unwrap_err(),
            "\"a b:1\": \"a b\" is not a host name; expected :PORT, HOST:PORT, IP:PORT or [IPv6]:PORT (e.g. \":9791\")"
        );
    }

    #[tokio::test]
    async fn the_every_interface_socket_has_ipv6_only_off() {
        // The socket [::] is bound with; tests bind loopback only, where
        // Linux turns IPV6_V6ONLY back on (a specific address is one family).
        assert!(!dual_stack_socket().unwrap().only_v6().unwrap());
        let l = dual_stack(Ipv6Addr::LOCALHOST, 0).unwrap();
        let addr = l.local_addr().unwrap();
        assert!(addr.ip().is_loopback() && addr.is_ipv6());
        let (_client, accepted) = tokio::join!(tokio::net::TcpStream::connect(addr), l.accept());
        accepted.unwrap();
    }

    #[tokio::test]
    async fn a_host_name_binds_each_of_its_addresses() {
        let ls = bind(&ListenAddress::Host("localhost".into(), 0))
            .await
            .unwrap();
        assert!(!ls.is_empty());
        for l in &ls {
            assert!(l.local_addr().unwrap().ip().is_loopback());
        }
    }
}
