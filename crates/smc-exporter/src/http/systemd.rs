//! `--web.systemd-socket`: the listening sockets systemd passes to a
//! socket-activated service (`LISTEN_FDS`, `LISTEN_PID`; fds from 3 on).

use tokio::net::TcpListener;

/// Why no socket could be taken from systemd.
#[derive(Debug, thiserror::Error)]
pub enum SystemdSocketError {
    #[error(
        "--web.systemd-socket: no socket passed by systemd (LISTEN_FDS unset, or for another process)"
    )]
    None,
    #[error("--web.systemd-socket: socket {index}: {source}")]
    Socket {
        index: usize,
        #[source]
        source: std::io::Error,
    },
}

/// Every TCP listening socket systemd passed, in order.
pub fn listeners() -> Result<Vec<TcpListener>, SystemdSocketError> {
    let mut fds = listenfd::ListenFd::from_env();
    let mut out = Vec::with_capacity(fds.len());
    for index in 0..fds.len() {
        let err = |source| SystemdSocketError::Socket { index, source };
        let Some(l) = fds.take_tcp_listener(index).map_err(err)? else {
            continue;
        };
        l.set_nonblocking(true).map_err(err)?;
        out.push(TcpListener::from_std(l).map_err(err)?);
    }
    if out.is_empty() {
        return Err(SystemdSocketError::None);
    }
    Ok(out)
}
