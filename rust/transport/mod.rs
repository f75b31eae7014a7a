//! From a URL to an open WebSocket stream: parse the URL, resolve, connect TCP with the socket
//! options, wrap in TLS for `wss://`, put the reusable read buffer on top, and do the upgrade.
//!
//! Per-message deflate is never offered: tungstenite does not implement it, and no
//! `Sec-WebSocket-Extensions` header is sent, so every frame reaches the parser as sent.

mod buffered;
mod socket;
mod tls;
mod url;

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Error as WsError};

pub use buffered::{BufferedStream, ReadCapacity};
pub use url::Target;

use crate::config::ConnectConfig;
use crate::error::{Error, Result};

/// Bytes tungstenite reads from the [`BufferedStream`] per call. Small on purpose: tungstenite
/// zero-fills the spare room of its buffer before every read, so a small window keeps that cost
/// per wake-up low while the socket itself is read in large chunks by [`BufferedStream`].
pub const FRAME_READ_WINDOW_BYTES: usize = 16 * 1024;

/// The byte stream under the WebSocket protocol: plain TCP or TLS over TCP.
pub enum Transport {
    /// `ws://`
    Plain(TcpStream),
    /// `wss://`
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// A WebSocket stream as tickwire opens it.
pub type WsStream = WebSocketStream<BufferedStream<Transport>>;

/// Opens the WebSocket described by `config`, within no time limit of its own (the caller
/// bounds it with `open_timeout`).
///
/// # Errors
/// Any of the opening errors of [`Error`], each naming the URL.
pub async fn open(config: &ConnectConfig, read_capacity: &ReadCapacity) -> Result<WsStream> {
    let target = Target::parse(&config.url)?;
    let request = build_request(config)?;
    let tcp = socket::connect(config, &target).await?;
    let transport = if target.secure {
        let tls = tls::connect(config, &target, tcp).await?;
        Transport::Tls(Box::new(tls))
    } else {
        Transport::Plain(tcp)
    };
    let stream = BufferedStream::new(transport, read_capacity.clone());
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(FRAME_READ_WINDOW_BYTES)
        .max_message_size(Some(config.max_message_bytes))
        .max_frame_size(Some(config.max_frame_bytes));
    match tokio_tungstenite::client_async_with_config(request, stream, Some(ws_config)).await {
        Ok((ws, _response)) => Ok(ws),
        Err(WsError::Http(response)) => {
            Err(Error::HandshakeRejected { url: config.url.clone(), status: response.status().as_u16() })
        }
        Err(source) => Err(Error::Handshake { url: config.url.clone(), source }),
    }
}

fn build_request(config: &ConnectConfig) -> Result<tungstenite::handshake::client::Request> {
    let invalid = |reason: String| Error::InvalidUrl { url: config.url.clone(), reason };
    let mut request = config.url.as_str().into_client_request().map_err(|err| invalid(err.to_string()))?;
    for (name, value) in &config.headers {
        let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|err| Error::InvalidOption {
            name: "headers",
            reason: format!("header name {name:?}: {err}"),
        })?;
        let header_value = HeaderValue::from_str(value).map_err(|err| Error::InvalidOption {
            name: "headers",
            reason: format!("value of header {name:?}: {err}"),
        })?;
        request.headers_mut().append(header_name, header_value);
    }
    Ok(request)
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(stream) => stream.is_write_vectored(),
            Self::Tls(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}
