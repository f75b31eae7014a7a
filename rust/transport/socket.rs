//! Resolve and connect TCP with the socket options set before `connect()`, so `SO_RCVBUF`
//! takes part in the window negotiated by the handshake.

use tokio::net::{TcpSocket, TcpStream, lookup_host};

use super::url::Target;
use crate::config::ConnectConfig;
use crate::error::{Error, Result};

/// Connects to the first address of `target` that accepts.
///
/// # Errors
/// [`Error::Resolve`] when the name does not resolve; [`Error::Connect`] with the last
/// address's error when none accepts.
pub async fn connect(config: &ConnectConfig, target: &Target) -> Result<TcpStream> {
    let resolve_error =
        |source| Error::Resolve { url: config.url.clone(), host: target.host.clone(), source };
    let addrs: Vec<_> =
        lookup_host((target.host.as_str(), target.port)).await.map_err(resolve_error)?.collect();
    if addrs.is_empty() {
        return Err(resolve_error(std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses")));
    }
    let mut last_error = None;
    for addr in addrs {
        let attempt = async {
            let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
            if let Some(bytes) = config.recv_buffer_bytes {
                socket.set_recv_buffer_size(bytes)?;
            }
            if let Some(bytes) = config.send_buffer_bytes {
                socket.set_send_buffer_size(bytes)?;
            }
            let stream = socket.connect(addr).await?;
            stream.set_nodelay(config.nodelay)?;
            Ok::<_, std::io::Error>(stream)
        };
        match attempt.await {
            Ok(stream) => return Ok(stream),
            Err(source) => last_error = Some(Error::Connect { url: config.url.clone(), addr, source }),
        }
    }
    Err(last_error.expect("at least one address was tried"))
}
