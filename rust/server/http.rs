//! [`Server`]: the listener, the HTTP side (hyper) and the WebSocket upgrade.
//!
//! Routes: `/ws` (the upgrade: token, Origin and connection limit checked before it, answered
//! 401, 403 and 503), `/` and `/static/<file>` (the dashboard), `/config.json` (the page's
//! WebSocket URL), `/health`, `/metrics` (Prometheus text). CORS: responses carry
//! `Access-Control-Allow-Origin` for allowed origins, and preflight requests are answered.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::config::{ServerConfig, ServerError, TlsFiles};
use super::hub::Hub;
use super::message::Kind;
use super::session;

type Body = Full<Bytes>;

/// A file of the dashboard, read at start.
#[derive(Debug)]
struct Asset {
    content_type: &'static str,
    body: Bytes,
}

/// What every connection task shares.
struct Shared {
    hub: Arc<Hub>,
    assets: HashMap<String, Asset>,
    shutdown: watch::Receiver<bool>,
    address: SocketAddr,
    tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("address", &self.address)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// How long a client has for the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor, ServerError> {
    let error =
        |reason: String| ServerError::Tls { cert: files.cert.clone(), key: files.key.clone(), reason };
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(e.to_string()))?;
    if certs.is_empty() {
        return Err(error("no PEM certificate in the certificate file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| error(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| error(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| error(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A running broadcast server. [`Server::stop`] (or dropping it) stops it.
#[derive(Debug)]
pub struct Server {
    hub: Arc<Hub>,
    address: SocketAddr,
    shutdown: watch::Sender<bool>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds and starts serving on the crate's runtime.
    ///
    /// # Errors
    ///
    /// [`ServerError`]: a bad setting, an address that cannot be bound, unreadable dashboard
    /// files, the runtime.
    pub fn start(config: ServerConfig) -> Result<Self, ServerError> {
        config.validate()?;
        let runtime = crate::runtime::runtime()?;
        let assets = match &config.dashboard_dir {
            Some(dir) => read_assets(dir)?,
            None => HashMap::new(),
        };
        let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
        let wanted = format!("{}:{}", config.host, config.port);
        let bind = |source| ServerError::Bind { address: wanted.clone(), source };
        let listener = std::net::TcpListener::bind(&wanted).map_err(bind)?;
        listener.set_nonblocking(true).map_err(bind)?;
        let address = listener.local_addr().map_err(bind)?;
        let _entered = runtime.enter();
        let listener = TcpListener::from_std(listener).map_err(bind)?;
        let (shutdown, stopped) = watch::channel(false);
        let hub = Arc::new(Hub::new(config));
        let shared = Arc::new(Shared { hub: hub.clone(), assets, shutdown: stopped, address, tls });
        let accept = runtime.spawn(accept_loop(listener, shared));
        hub.log(20, format!("listening address={address}"));
        Ok(Self { hub, address, shutdown, accept: Some(accept) })
    }

    /// The address it listens on.
    #[must_use]
    pub const fn address(&self) -> SocketAddr {
        self.address
    }

    /// The shared state: publishing, metrics, logs.
    #[must_use]
    pub const fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Publishes a message of the type named `kind` (a broadcast type); returns its sequence
    /// number.
    ///
    /// # Errors
    ///
    /// [`ServerError::Publish`]: a type that is not broadcast, `data` that is not a JSON
    /// object.
    pub fn publish(
        &self,
        kind: &str,
        symbol: Option<&str>,
        sub_key: u8,
        data: Option<&str>,
        message: Option<&str>,
    ) -> Result<u64, ServerError> {
        let kind = Kind::channel(kind).ok_or_else(|| {
            let valid: Vec<&str> = Kind::CHANNELS.iter().map(|kind| kind.as_str()).collect();
            ServerError::Publish(format!("{kind:?} is not a broadcast type; expected one of {valid:?}"))
        })?;
        if let Some(data) = data {
            let value: &serde_json::value::RawValue = serde_json::from_str(data)
                .map_err(|error| ServerError::Publish(format!("data is not JSON: {error}")))?;
            if !value.get().trim_start().starts_with('{') {
                return Err(ServerError::Publish("data must be a JSON object".into()));
            }
        }
        Ok(self.hub.publish(kind, symbol, sub_key, data, message))
    }

    /// Stops accepting, closes every connection (1001), and waits (at most `timeout`) until
    /// they have ended.
    pub async fn stop(&mut self, timeout: Duration) {
        let _ = self.shutdown.send(true);
        self.hub.wake_all();
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
        let deadline = tokio::time::Instant::now() + timeout;
        while self.hub.metrics.connections_active.get() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.hub.log(20, format!("stopped address={}", self.address));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
    }
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

fn read_assets(dir: &Path) -> Result<HashMap<String, Asset>, ServerError> {
    let error = |source| ServerError::Dashboard { path: dir.to_owned(), source };
    let mut assets = HashMap::new();
    for entry in std::fs::read_dir(dir).map_err(error)? {
        let entry = entry.map_err(error)?;
        if !entry.file_type().map_err(error)?.is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let body = Bytes::from(std::fs::read(entry.path()).map_err(error)?);
        assets.insert(name.clone(), Asset { content_type: content_type(&name), body });
    }
    Ok(assets)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else {
                    // Out of descriptors or similar: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                match shared.tls.clone() {
                    None => {
                        tokio::spawn(serve_http(stream, peer, shared));
                    }
                    Some(acceptor) => {
                        tokio::spawn(async move {
                            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                                Ok(Ok(stream)) => serve_http(stream, peer, shared).await,
                                Ok(Err(error)) => {
                                    shared.hub.metrics.connection_errors.inc();
                                    shared.hub.log(30, format!("tls_failed peer={peer} error={error}"));
                                }
                                Err(_) => shared.hub.log(30, format!("tls_timeout peer={peer}")),
                            }
                        });
                    }
                }
            }
        }
    }
}

async fn serve_http<S>(stream: S, peer: SocketAddr, shared: Arc<Shared>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut shutdown = shared.shutdown.clone();
    let service = {
        let shared = shared.clone();
        service_fn(move |request| {
            let shared = shared.clone();
            async move { Ok::<_, Infallible>(route(request, peer, &shared)) }
        })
    };
    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service).with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = shutdown.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(2), connection).await;
        }
    }
}

fn response(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    response(status, "text/plain; charset=utf-8", body.into())
}

/// Whether a page from `origin` may use this server.
fn origin_allowed(origin: &str, config: &ServerConfig, address: SocketAddr) -> bool {
    if let Some(allowed) = &config.allowed_origins {
        return allowed.iter().any(|entry| entry == "*" || entry.eq_ignore_ascii_case(origin));
    }
    let host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    let host = host.rsplit_once(':').map_or(host, |(host, _)| host);
    matches!(host, "localhost" | "127.0.0.1" | "[::1]") || host == address.ip().to_string()
}

fn route(request: Request<Incoming>, peer: SocketAddr, shared: &Shared) -> Response<Body> {
    let hub = &shared.hub;
    let origin =
        request.headers().get(header::ORIGIN).and_then(|value| value.to_str().ok()).map(str::to_owned);
    let allowed = origin.as_deref().is_none_or(|origin| origin_allowed(origin, hub.config(), shared.address));
    let mut answer = if request.method() == Method::OPTIONS {
        if allowed {
            let mut answer = text(StatusCode::NO_CONTENT, "");
            let headers = answer.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, OPTIONS"));
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type"),
            );
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
            answer
        } else {
            text(StatusCode::FORBIDDEN, "origin not allowed")
        }
    } else if request.method() != Method::GET {
        text(StatusCode::METHOD_NOT_ALLOWED, "only GET")
    } else {
        match request.uri().path() {
            "/ws" => upgrade(request, peer, shared, allowed, Route::Broadcast),
            "/echo" if hub.config().echo_route => upgrade(request, peer, shared, allowed, Route::Echo),
            "/" | "/index.html" => match shared.assets.get("index.html") {
                Some(asset) => response(StatusCode::OK, asset.content_type, asset.body.clone()),
                None => {
                    text(StatusCode::OK, "tickwire broadcast server: WebSocket at /ws, /health, /metrics")
                }
            },
            "/config.json" => {
                let host = request.headers().get(header::HOST).and_then(|value| value.to_str().ok());
                let host = host.map_or_else(|| shared.address.to_string(), str::to_owned);
                let scheme = if shared.tls.is_some() { "wss" } else { "ws" };
                let body = serde_json::json!({ "ws_url": format!("{scheme}://{host}/ws"), "realtime": true })
                    .to_string();
                response(StatusCode::OK, "application/json", body)
            }
            "/health" => {
                let body = serde_json::json!({
                    "status": "ok",
                    "connections": hub.client_count(),
                    "uptime_s": hub.uptime_s(),
                    "last_seq": hub.last_seq(),
                })
                .to_string();
                response(StatusCode::OK, "application/json", body)
            }
            "/metrics" => response(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                hub.metrics.prometheus(),
            ),
            path => match path.strip_prefix("/static/").and_then(|name| shared.assets.get(name)) {
                Some(asset) => response(StatusCode::OK, asset.content_type, asset.body.clone()),
                None => text(StatusCode::NOT_FOUND, "not found"),
            },
        }
    };
    if let Some(origin) = origin.filter(|_| allowed)
        && let Ok(value) = HeaderValue::from_str(&origin)
    {
        answer.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        answer.headers_mut().insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    answer
}

fn query_value<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
}

fn refuse(hub: &Hub, status: StatusCode, peer: SocketAddr, why: &str) -> Response<Body> {
    hub.metrics.connections_refused.inc();
    hub.log(30, format!("refused peer={peer} status={} reason={why:?}", status.as_u16()));
    text(status, why.to_owned())
}

/// What an upgraded connection serves.
#[derive(Debug, Clone, Copy)]
enum Route {
    /// The broadcast protocol (`/ws`).
    Broadcast,
    /// Every message echoed (`/echo`, for conformance tests).
    Echo,
}

/// The WebSocket upgrade of `/ws` (and `/echo`), after the checks that refuse it before it
/// happens.
fn upgrade(
    mut request: Request<Incoming>,
    peer: SocketAddr,
    shared: &Shared,
    origin_allowed: bool,
    route: Route,
) -> Response<Body> {
    let hub = &shared.hub;
    let headers = request.headers();
    let is_upgrade = headers
        .get(header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"));
    let connection_upgrade = headers
        .get(header::CONNECTION)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|part| part.trim().eq_ignore_ascii_case("upgrade")));
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY).map(|value| value.as_bytes().to_vec()) else {
        return refuse(hub, StatusCode::BAD_REQUEST, peer, "not a WebSocket upgrade: no Sec-WebSocket-Key");
    };
    if !is_upgrade || !connection_upgrade {
        return refuse(hub, StatusCode::BAD_REQUEST, peer, "not a WebSocket upgrade");
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes) != Some(b"13") {
        let mut answer = refuse(hub, StatusCode::UPGRADE_REQUIRED, peer, "WebSocket version 13 only");
        answer.headers_mut().insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return answer;
    }
    let query = request.uri().query().unwrap_or("");
    if let Some(token) = &hub.config().token {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        let given = query_value(query, "token").or(bearer);
        if !given.is_some_and(|given| constant_time_eq(given.as_bytes(), token.as_bytes())) {
            let mut answer = refuse(hub, StatusCode::UNAUTHORIZED, peer, "a valid token is required");
            answer.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return answer;
        }
    }
    if !origin_allowed {
        return refuse(hub, StatusCode::FORBIDDEN, peer, "origin not allowed");
    }
    let resume = match query_value(query, "resume").map(str::parse::<u64>) {
        None => None,
        Some(Ok(seq)) => Some(seq),
        Some(Err(_)) => {
            return refuse(hub, StatusCode::BAD_REQUEST, peer, "resume must be a sequence number");
        }
    };
    let active = hub.metrics.connections_active.inc();
    if usize::try_from(active).unwrap_or(usize::MAX) >= hub.config().max_connections {
        hub.metrics.connections_active.dec();
        return refuse(hub, StatusCode::SERVICE_UNAVAILABLE, peer, "too many connections");
    }
    let upgrading = hyper::upgrade::on(&mut request);
    // Reads: clients send little (pings, subscriptions), and every idle connection keeps its
    // read buffer, so it is small. Writes: a client's batch is buffered and goes out with the
    // one flush per wake-up (0 here would write every frame with a syscall of its own).
    let config = WebSocketConfig::default()
        .max_message_size(Some(hub.config().max_message_size))
        .max_frame_size(Some(hub.config().max_message_size))
        .read_buffer_size(256)
        .write_buffer_size(64 * 1024);
    let hub_for_task = hub.clone();
    let shutdown = shared.shutdown.clone();
    tokio::spawn(async move {
        match upgrading.await {
            Ok(upgraded) => {
                let socket =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                        .await;
                match route {
                    Route::Broadcast => {
                        session::run(socket, hub_for_task.clone(), resume, peer.to_string(), shutdown).await;
                    }
                    Route::Echo => session::echo(socket, shutdown).await,
                }
            }
            Err(error) => {
                hub_for_task.metrics.connection_errors.inc();
                hub_for_task.log(30, format!("upgrade_failed peer={peer} error={error}"));
            }
        }
        hub_for_task.metrics.connections_active.dec();
    });
    let mut answer = Response::new(Full::new(Bytes::new()));
    *answer.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = answer.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(&key)) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    answer
}

/// Compares without stopping at the first difference, so the time taken says nothing about
/// how much of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |diff, (x, y)| diff | (x ^ y)) == 0
}
