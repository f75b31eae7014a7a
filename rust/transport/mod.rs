//! From a URL to an open WebSocket byte stream: parse the URL, resolve, connect TCP with the
//! socket options, wrap in TLS for `wss://`, and run the opening handshake. The result is split
//! into a read half for the reader task and a write half for the writer task.
//!
//! Per-message deflate is never offered (no `Sec-WebSocket-Extensions` header is sent, and an
//! answer that names an extension is refused), so every frame reaches the parser as sent.

mod socket;
mod tls;
mod url;

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_rustls::client::TlsStream;
use tungstenite::http::{HeaderName, HeaderValue};

pub use url::Target;

use crate::config::ConnectConfig;
use crate::error::{Error, Result};
use crate::protocol::handshake::{Refusal, Upgrade};

/// An open WebSocket: the two halves of its byte stream, and the bytes the server sent right
/// after its handshake answer (already WebSocket frames).
pub struct Opened {
    /// What the reader task reads.
    pub read: ReadHalf,
    /// What the writer task writes.
    pub write: WriteHalf,
    /// Frame bytes that arrived with the handshake answer.
    pub early_bytes: Vec<u8>,
}

/// Opens the WebSocket described by `config`, within no time limit of its own (the caller
/// bounds it with `open_timeout`).
///
/// # Errors
/// Any of the opening errors of [`Error`], each naming the URL.
pub async fn open(config: &ConnectConfig) -> Result<Opened> {
    let target = Target::parse(&config.url)?;
    check_headers(&config.headers)?;
    let tcp = socket::connect(config, &target).await?;
    if target.secure {
        let mut tls = tls::connect(config, &target, tcp).await?;
        let early_bytes = handshake(config, &target, &mut tls).await?;
        let (read, write) = tokio::io::split(tls);
        Ok(Opened { read: ReadHalf::Tls(read), write: WriteHalf::Tls(write), early_bytes })
    } else {
        let mut tcp = tcp;
        let early_bytes = handshake(config, &target, &mut tcp).await?;
        let (read, write) = tcp.into_split();
        Ok(Opened { read: ReadHalf::Plain(read), write: WriteHalf::Plain(write), early_bytes })
    }
}

fn check_headers(headers: &[(String, String)]) -> Result<()> {
    for (name, value) in headers {
        HeaderName::from_bytes(name.as_bytes()).map_err(|err| Error::InvalidOption {
            name: "headers",
            reason: format!("header name {name:?}: {err}"),
        })?;
        HeaderValue::from_str(value).map_err(|err| Error::InvalidOption {
            name: "headers",
            reason: format!("value of header {name:?}: {err}"),
        })?;
    }
    Ok(())
}

/// Sends the upgrade request and reads the answer; returns the bytes that followed it.
async fn handshake<S>(config: &ConnectConfig, target: &Target, stream: &mut S) -> Result<Vec<u8>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let failed = |reason: String| Error::Handshake { url: config.url.clone(), reason };
    let upgrade = Upgrade::new(&target.path, &target.host_header, &config.headers);
    stream.write_all(&upgrade.request).await.map_err(|err| failed(format!("sending the request: {err}")))?;
    stream.flush().await.map_err(|err| failed(format!("sending the request: {err}")))?;
    let mut answer = Vec::with_capacity(1024);
    loop {
        let read =
            stream.read_buf(&mut answer).await.map_err(|err| failed(format!("reading the answer: {err}")))?;
        match upgrade.check_response(&answer) {
            Ok(Some(length)) => return Ok(answer.split_off(length)),
            Ok(None) if read == 0 => {
                return Err(failed("the server closed the connection during the handshake".into()));
            }
            Ok(None) => {}
            Err(Refusal::Status(status)) => {
                return Err(Error::HandshakeRejected { url: config.url.clone(), status });
            }
            Err(Refusal::Invalid(reason)) => return Err(failed(reason)),
        }
    }
}

/// The read half of a connection's byte stream.
pub enum ReadHalf {
    /// `ws://`: lock-free half of the TCP stream.
    Plain(OwnedReadHalf),
    /// `wss://`: TLS needs both directions, so its halves share the stream.
    Tls(tokio::io::ReadHalf<TlsStream<TcpStream>>),
}

/// The write half of a connection's byte stream.
pub enum WriteHalf {
    /// `ws://`
    Plain(OwnedWriteHalf),
    /// `wss://`
    Tls(tokio::io::WriteHalf<TlsStream<TcpStream>>),
}

impl AsyncRead for ReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(half) => Pin::new(half).poll_read(cx, buf),
            Self::Tls(half) => Pin::new(half).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for WriteHalf {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(half) => Pin::new(half).poll_write(cx, buf),
            Self::Tls(half) => Pin::new(half).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(half) => Pin::new(half).poll_flush(cx),
            Self::Tls(half) => Pin::new(half).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(half) => Pin::new(half).poll_shutdown(cx),
            Self::Tls(half) => Pin::new(half).poll_shutdown(cx),
        }
    }
}
