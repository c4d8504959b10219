//! The HTTP JSON API under `/v1`, its handlers, and its OpenAPI document.
//!
//! Every error is JSON, `{"error": "..."}`, with a status that says whose
//! fault it was: 400 bad input, 401 no or wrong token, 404 unknown torrent
//! or route, 405 wrong method, 409 duplicate torrent (or an action that
//! needs metadata the torrent lacks, or priorities that do not fit its
//! files), 413 body too large, 415 wrong content type, 503 shutting down or
//! too many event streams.

// The code `utoipa::path` generates for `params(...)` names types by full path.
#![allow(unused_qualifications)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bitswarm_core::InfoHashV1;
use bitswarm_metainfo::{Magnet, Metainfo};
use bitswarm_session::{
    AddTorrent, FileStatus, PeerStatus, Session, SessionEvent, SessionStats, TorrentId,
    TorrentSource, TorrentState, TorrentStatus,
};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, watch};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Response as DocResponse, ResponseBuilder, SecurityRequirement};
use utoipa::{IntoParams, OpenApi, PartialSchema, ToSchema};

/// The largest request body: a .torrent file of a very large torrent fits.
pub(crate) const MAX_BODY_BYTES: usize = 16 << 20;

/// The most event streams open at once.
const MAX_EVENT_STREAMS: usize = 32;

/// The longest `output` folder accepted, in characters.
const MAX_OUTPUT_LEN: usize = 4096;

/// The media type of .torrent files.
const BITTORRENT_MEDIA_TYPE: &str = "application/x-bittorrent";

/// What every handler shares.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    /// The engine.
    session: Session,
    /// Relative `output` folders are taken from here.
    download_dir: PathBuf,
    /// `Some` when every request needs `Authorization: Bearer <token>`.
    token: Option<Arc<str>>,
    /// The OpenAPI document, serialized once.
    openapi_json: Arc<str>,
    /// Becomes `true` when the daemon stops: event streams end.
    stopping: watch::Receiver<bool>,
    /// Permits for event streams.
    event_streams: Arc<Semaphore>,
}

impl AppState {
    /// The state of a daemon around `session`.
    pub(crate) fn new(
        session: Session,
        download_dir: PathBuf,
        token: Option<String>,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        let doc = openapi(token.is_some());
        let openapi_json = doc.to_json().unwrap_or_else(|e| {
            tracing::error!("serializing the OpenAPI document: {e}");
            "{}".to_owned()
        });
        Self {
            session,
            download_dir,
            token: token.map(Arc::from),
            openapi_json: Arc::from(openapi_json),
            stopping,
            event_streams: Arc::new(Semaphore::new(MAX_EVENT_STREAMS)),
        }
    }
}

/// The API's routes, with the token check and body limit.
pub(crate) fn router(state: AppState) -> Router {
    let guarded = Router::new()
        .route("/v1/torrents", get(list_torrents).post(add_torrent))
        .route(
            "/v1/torrents/{info_hash}",
            get(get_torrent).delete(delete_torrent),
        )
        .route("/v1/torrents/{info_hash}/pause", post(pause_torrent))
        .route("/v1/torrents/{info_hash}/resume", post(resume_torrent))
        .route("/v1/torrents/{info_hash}/recheck", post(recheck_torrent))
        .route(
            "/v1/torrents/{info_hash}/files",
            get(get_files).put(put_file_priorities),
        )
        .route("/v1/torrents/{info_hash}/peers", get(get_peers))
        .route("/v1/stats", get(get_stats))
        .route("/v1/events", get(get_events))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/v1/openapi.json", get(get_openapi))
        .merge(guarded)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

// ---------------------------------------------------------------------------
// JSON bodies

/// An error: what went wrong, for people.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong.
    error: String,
}

/// Where a torrent is in its life.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StateJson {
    /// Waiting for the info dictionary from peers (a magnet).
    FetchingMetadata,
    /// Hashing what is on disk.
    Checking,
    /// Getting pieces.
    Downloading,
    /// Has every wanted piece; uploading.
    Seeding,
    /// Paused.
    Paused,
    /// Stopped by an error (see `error`).
    Error,
}

impl From<TorrentState> for StateJson {
    fn from(s: TorrentState) -> Self {
        match s {
            TorrentState::FetchingMetadata => Self::FetchingMetadata,
            TorrentState::Checking => Self::Checking,
            TorrentState::Downloading => Self::Downloading,
            TorrentState::Seeding => Self::Seeding,
            TorrentState::Paused => Self::Paused,
            TorrentState::Error => Self::Error,
        }
    }
}

/// One torrent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct TorrentJson {
    /// The info-hash used on the wire, 40 hex digits.
    #[schema(pattern = "^[0-9a-f]{40}$")]
    info_hash: String,
    /// Its name; null until the metadata is known.
    name: Option<String>,
    /// Its state.
    state: StateJson,
    /// Verified bytes over wanted bytes, 0 to 1.
    #[schema(minimum = 0.0, maximum = 1.0)]
    progress: f64,
    /// Payload bytes received since the daemon started.
    downloaded: u64,
    /// Payload bytes sent since the daemon started.
    uploaded: u64,
    /// Content length; null until the metadata is known.
    total_length: Option<u64>,
    /// Bytes per second received.
    download_rate: u64,
    /// Bytes per second sent.
    upload_rate: u64,
    /// Connected peers.
    peers: u64,
    /// Seconds left at the current rate; null when unknown.
    eta_seconds: Option<u64>,
    /// The error that stopped it.
    error: Option<String>,
    /// The folder its files are in.
    save_path: String,
    /// Verified pieces.
    pieces_done: u32,
    /// Pieces in the torrent (0 until the metadata is known).
    pieces_total: u32,
}

impl From<TorrentStatus> for TorrentJson {
    fn from(s: TorrentStatus) -> Self {
        Self {
            info_hash: s.id.to_string(),
            // A magnet's display name is not the torrent's name: null until
            // the metadata (and so the length) is known.
            name: s.name.filter(|_| s.total_length.is_some()),
            state: s.state.into(),
            progress: if s.progress.is_finite() {
                s.progress.clamp(0.0, 1.0)
            } else {
                0.0
            },
            downloaded: s.downloaded,
            uploaded: s.uploaded,
            total_length: s.total_length,
            download_rate: s.download_rate,
            upload_rate: s.upload_rate,
            peers: s.peers as u64,
            eta_seconds: s.eta.map(|d| d.as_secs()),
            error: s.error,
            save_path: s.save_path.display().to_string(),
            pieces_done: s.pieces.0,
            pieces_total: s.pieces.1,
        }
    }
}

/// One file of a torrent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct FileJson {
    /// Its position in the torrent, from 0.
    index: u64,
    /// Its path inside the torrent, components joined with `/`.
    path: String,
    /// Its length in bytes.
    length: u64,
    /// Verified bytes of it.
    downloaded: u64,
    /// 0 skips it; 1 to 7 (4 is normal).
    #[schema(minimum = 0, maximum = 7)]
    priority: u8,
}

impl FileJson {
    fn new(index: usize, f: FileStatus) -> Self {
        Self {
            index: index as u64,
            path: f.path,
            length: f.length,
            downloaded: f.downloaded,
            priority: f.priority,
        }
    }
}

/// New priorities of every file of a torrent, in file order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct PrioritiesJson {
    /// One per file: 0 skips it; 1 to 7 (4 is normal).
    #[schema(max_items = 1_000_000)]
    priorities: Vec<Priority>,
}

/// A file priority: 0 skips the file; 1 to 7 (4 is normal).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(try_from = "f64")]
pub(crate) struct Priority(u8);

impl TryFrom<f64> for Priority {
    type Error = String;

    /// JSON numbers such as `4` and `4.0` are the same integer.
    fn try_from(n: f64) -> Result<Self, String> {
        if n.fract() == 0.0 && (0.0..=7.0).contains(&n) {
            Ok(Self(n as u8))
        } else {
            Err(format!("priority {n} is not an integer from 0 to 7"))
        }
    }
}

impl PartialSchema for Priority {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            .maximum(Some(7))
            .description(Some("0 skips the file; 1 to 7 (4 is normal)"))
            .into()
    }
}

impl ToSchema for Priority {}

/// One connected peer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct PeerJson {
    /// Its address, `ip:port`.
    addr: String,
    /// Its client, from its peer id, when known.
    client: Option<String>,
    /// Bytes per second received from it.
    download_rate: u64,
    /// Bytes per second sent to it.
    upload_rate: u64,
    /// Its share of the torrent's pieces, 0 to 1.
    #[schema(minimum = 0.0, maximum = 1.0)]
    progress: f64,
}

impl From<PeerStatus> for PeerJson {
    fn from(p: PeerStatus) -> Self {
        Self {
            addr: p.addr.to_string(),
            client: p.client,
            download_rate: p.download_rate,
            upload_rate: p.upload_rate,
            progress: if p.progress.is_finite() {
                p.progress.clamp(0.0, 1.0)
            } else {
                0.0
            },
        }
    }
}

/// Totals of the whole session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct StatsJson {
    /// Torrents in the session.
    torrents: u64,
    /// Connected peers.
    peers: u64,
    /// Bytes per second received.
    download_rate: u64,
    /// Bytes per second sent.
    upload_rate: u64,
    /// Payload bytes received since the daemon started.
    downloaded: u64,
    /// Payload bytes sent since the daemon started.
    uploaded: u64,
    /// Nodes in the DHT routing table (0 without DHT).
    dht_nodes: u64,
    /// Where peers connect to us.
    listen_addrs: Vec<String>,
    /// The DHT node's address; null without DHT.
    dht_addr: Option<String>,
}

impl StatsJson {
    fn new(s: SessionStats, listen: &[SocketAddr], dht: Option<SocketAddr>) -> Self {
        Self {
            torrents: s.torrents as u64,
            peers: s.peers as u64,
            download_rate: s.download_rate,
            upload_rate: s.upload_rate,
            downloaded: s.downloaded,
            uploaded: s.uploaded,
            dht_nodes: s.dht_nodes as u64,
            listen_addrs: listen.iter().map(ToString::to_string).collect(),
            dht_addr: dht.map(|a| a.to_string()),
        }
    }
}

/// One event of `GET /v1/events`, the `data` of a server-sent event whose
/// `event` field is the same as `type`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum EventJson {
    /// A torrent was added.
    TorrentAdded {
        /// The torrent.
        info_hash: String,
    },
    /// A magnet's metadata arrived and verified.
    MetadataReceived {
        /// The torrent.
        info_hash: String,
    },
    /// A torrent changed state.
    StateChanged {
        /// The torrent.
        info_hash: String,
        /// Its new state.
        state: StateJson,
    },
    /// A piece verified.
    PieceDone {
        /// The torrent.
        info_hash: String,
        /// The piece.
        piece: u32,
    },
    /// Every wanted piece is verified.
    Finished {
        /// The torrent.
        info_hash: String,
    },
    /// A torrent hit an error.
    TorrentError {
        /// The torrent.
        info_hash: String,
        /// What went wrong.
        error: String,
    },
    /// A peer connected.
    PeerConnected {
        /// The torrent.
        info_hash: String,
        /// The peer, `ip:port`.
        peer: String,
    },
    /// A peer disconnected.
    PeerDisconnected {
        /// The torrent.
        info_hash: String,
        /// The peer, `ip:port`.
        peer: String,
    },
    /// A peer was banned.
    PeerBanned {
        /// The torrent.
        info_hash: String,
        /// The peer, `ip:port`.
        peer: String,
    },
    /// A torrent was removed.
    TorrentRemoved {
        /// The torrent.
        info_hash: String,
    },
    /// This stream fell behind and missed events.
    Lagged {
        /// How many.
        missed: u64,
    },
}

impl EventJson {
    /// The JSON form of a session event; `None` for kinds this version does not know.
    fn new(e: SessionEvent) -> Option<Self> {
        let h = |id: TorrentId| id.to_string();
        Some(match e {
            SessionEvent::TorrentAdded(id) => Self::TorrentAdded { info_hash: h(id) },
            SessionEvent::MetadataReceived(id) => Self::MetadataReceived { info_hash: h(id) },
            SessionEvent::StateChanged(id, s) => Self::StateChanged {
                info_hash: h(id),
                state: s.into(),
            },
            SessionEvent::PieceDone(id, piece) => Self::PieceDone {
                info_hash: h(id),
                piece,
            },
            SessionEvent::Finished(id) => Self::Finished { info_hash: h(id) },
            SessionEvent::TorrentError(id, error) => Self::TorrentError {
                info_hash: h(id),
                error,
            },
            SessionEvent::PeerConnected(id, a) => Self::PeerConnected {
                info_hash: h(id),
                peer: a.to_string(),
            },
            SessionEvent::PeerDisconnected(id, a) => Self::PeerDisconnected {
                info_hash: h(id),
                peer: a.to_string(),
            },
            SessionEvent::PeerBanned(id, a) => Self::PeerBanned {
                info_hash: h(id),
                peer: a.to_string(),
            },
            SessionEvent::TorrentRemoved(id) => Self::TorrentRemoved { info_hash: h(id) },
            SessionEvent::Lagged(missed) => Self::Lagged { missed },
            _ => return None,
        })
    }

    /// The SSE `event` name: the `type` tag.
    fn kind(&self) -> &'static str {
        match self {
            Self::TorrentAdded { .. } => "torrent_added",
            Self::MetadataReceived { .. } => "metadata_received",
            Self::StateChanged { .. } => "state_changed",
            Self::PieceDone { .. } => "piece_done",
            Self::Finished { .. } => "finished",
            Self::TorrentError { .. } => "torrent_error",
            Self::PeerConnected { .. } => "peer_connected",
            Self::PeerDisconnected { .. } => "peer_disconnected",
            Self::PeerBanned { .. } => "peer_banned",
            Self::TorrentRemoved { .. } => "torrent_removed",
            Self::Lagged { .. } => "lagged",
        }
    }
}

/// A magnet link, the `text/plain` body of `POST /v1/torrents`.
#[derive(Debug)]
pub(crate) struct MagnetText;

impl PartialSchema for MagnetText {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(
                "^magnet:\\?xt=urn:btih:[0-9a-fA-F]{40}(&(dn|tr)=[0-9A-Za-z%._~-]*)*$",
            ))
            .max_length(Some(bitswarm_metainfo::MAX_MAGNET_LEN))
            .description(Some(
                "A magnet link (BEP 9). Any magnet link is accepted; `x.pe` peers \
                 (`ip:port`) are connected to, `tr` trackers announced to. The pattern \
                 is the subset that needs no network to be valid.",
            ))
            .examples([
                "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=example&x.pe=127.0.0.1:6881",
            ])
            .into()
    }
}

impl ToSchema for MagnetText {}

/// The bytes of a .torrent file, the `application/x-bittorrent` body of `POST /v1/torrents`.
#[derive(Debug)]
pub(crate) struct TorrentFile;

impl PartialSchema for TorrentFile {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .description(Some("A .torrent file (BEP 3, 52)"))
            .into()
    }
}

impl ToSchema for TorrentFile {}

// ---------------------------------------------------------------------------
// Parameters

/// The torrent named in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct InfoHashPath {
    /// The torrent's info-hash, 40 hex digits.
    #[param(pattern = "^[0-9a-fA-F]{40}$", min_length = 40, max_length = 40)]
    info_hash: String,
}

/// How to add a torrent.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AddQuery {
    /// Add it paused.
    paused: Option<bool>,
    /// Download pieces in order (for streaming).
    sequential: Option<bool>,
    /// The folder its files go in, relative to the daemon's download
    /// folder: `/`-separated names, none of them `.` or `..`.
    // Each name: 0 to 2 dots then another character, or 3 dots or more; no
    // `/` and no control character (what `output_dir` checks).
    #[param(
        min_length = 1,
        max_length = 4096,
        pattern = r"^(\.{0,2}[^/.\u0000-\u001f\u007f-\u009f][^/\u0000-\u001f\u007f-\u009f]*|\.{3,}[^/\u0000-\u001f\u007f-\u009f]*)(/(\.{0,2}[^/.\u0000-\u001f\u007f-\u009f][^/\u0000-\u001f\u007f-\u009f]*|\.{3,}[^/\u0000-\u001f\u007f-\u009f]*))*$"
    )]
    output: Option<String>,
}

/// How to remove a torrent.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeleteQuery {
    /// Delete its downloaded files too (default false).
    delete_files: Option<bool>,
}

// ---------------------------------------------------------------------------
// Errors

/// An error answer: a status and `{"error": "..."}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"bitswarmd\""),
            );
        }
        response
    }
}

impl From<bitswarm_session::Error> for ApiError {
    fn from(e: bitswarm_session::Error) -> Self {
        use bitswarm_session::Error as E;
        let status = match &e {
            E::UnknownTorrent(_) => StatusCode::NOT_FOUND,
            E::DuplicateTorrent(_) => StatusCode::CONFLICT,
            E::Metainfo(_) | E::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            E::NoMetadata(_) => StatusCode::CONFLICT,
            E::Shutdown => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::warn!("request failed: {e}");
        }
        Self::new(status, e.to_string())
    }
}

macro_rules! from_rejection {
    ($($t:ty),*) => {$(
        impl From<$t> for ApiError {
            fn from(r: $t) -> Self {
                // Malformed input is the client's fault whatever the extractor says.
                let status = match r.status() {
                    StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
                    s => s,
                };
                Self::new(status, r.body_text())
            }
        }
    )*};
}
from_rejection!(BytesRejection, JsonRejection, PathRejection, QueryRejection);

/// Answers for requests to no route.
async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such endpoint")
}

/// Answers for a known route with the wrong method.
async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this endpoint",
    )
}

/// The torrent a path names.
fn torrent_id(path: Result<Path<InfoHashPath>, PathRejection>) -> Result<TorrentId, ApiError> {
    let Path(p) = path?;
    let hex = p.info_hash;
    if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(format!(
            "info-hash {:?} is not 40 hex digits",
            hex.chars().take(64).collect::<String>()
        )));
    }
    hex.parse::<InfoHashV1>()
        .map(TorrentId)
        .map_err(|e| ApiError::bad_request(format!("info-hash: {e}")))
}

// ---------------------------------------------------------------------------
// Authentication

/// Lets a request through when the daemon needs no token or it carries the right one.
async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(token) = &state.token else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    match given {
        Some(given) if same_secret(given, token.as_bytes()) => next.run(request).await,
        Some(_) => ApiError::new(StatusCode::UNAUTHORIZED, "wrong bearer token").into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this daemon needs `Authorization: Bearer <api_token>`",
        )
        .into_response(),
    }
}

/// Compares two secrets in time that depends on their lengths only.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

// ---------------------------------------------------------------------------
// Handlers

/// The OpenAPI document of this API.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
async fn get_openapi(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi_json.to_string(),
    )
        .into_response()
}

/// Every torrent.
#[utoipa::path(get, path = "/v1/torrents", tag = "torrents",
    responses((status = 200, description = "Every torrent", body = [TorrentJson])))]
async fn list_torrents(State(state): State<AppState>) -> Json<Vec<TorrentJson>> {
    let mut list: Vec<TorrentJson> = state
        .session
        .torrents()
        .await
        .into_iter()
        .map(TorrentJson::from)
        .collect();
    list.sort_by(|a, b| a.name.cmp(&b.name).then(a.info_hash.cmp(&b.info_hash)));
    Json(list)
}

/// Adds a torrent from a magnet link or a .torrent file.
#[utoipa::path(post, path = "/v1/torrents", tag = "torrents", params(AddQuery),
    request_body(description = "A magnet link (`text/plain`) or a .torrent file (`application/x-bittorrent`)",
        content((MagnetText = "text/plain"), (TorrentFile = "application/x-bittorrent"))),
    responses(
        (status = 201, description = "Added", body = TorrentJson,
            headers(("Location" = String, description = "The torrent's URL"))),
        (status = 400, description = "Not a magnet link or .torrent file, or a bad parameter", body = ErrorBody),
        (status = 409, description = "The torrent is already in the session", body = ErrorBody),
        (status = 413, description = "The body is over 16 MiB", body = ErrorBody),
        (status = 415, description = "The body is neither text/plain nor application/x-bittorrent", body = ErrorBody),
    ))]
async fn add_torrent(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<AddQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let body = body?;
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    // A magnet's `x.pe` peers are the session's to connect to.
    let source = match media_type.as_str() {
        "text/plain" => {
            let text = std::str::from_utf8(&body)
                .map_err(|_| ApiError::bad_request("the magnet link is not UTF-8"))?;
            let magnet = Magnet::parse(text.trim())
                .map_err(|e| ApiError::bad_request(format!("magnet link: {e}")))?;
            TorrentSource::Magnet(Box::new(magnet))
        }
        BITTORRENT_MEDIA_TYPE => {
            let metainfo = Metainfo::from_bytes(&body)
                .map_err(|e| ApiError::bad_request(format!(".torrent file: {e}")))?;
            TorrentSource::Torrent(Box::new(metainfo))
        }
        "" => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type is missing: text/plain for a magnet link, application/x-bittorrent for a .torrent file",
            ));
        }
        other => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "Content-Type {other:?}: text/plain for a magnet link, application/x-bittorrent for a .torrent file"
                ),
            ));
        }
    };
    let output = query
        .output
        .as_deref()
        .map(|o| output_dir(&state.download_dir, o))
        .transpose()?;
    let add = AddTorrent {
        output,
        paused: query.paused.unwrap_or(false),
        sequential: query.sequential.unwrap_or(false),
        ..AddTorrent::new(source)
    };
    let id = state.session.add_torrent(add).await?;
    let status = state.session.status(id).await?;
    let location = format!("/v1/torrents/{id}");
    let mut response = (StatusCode::CREATED, Json(TorrentJson::from(status))).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    tracing::info!(torrent = %id, "added");
    Ok(response)
}

/// The folder an `output` parameter names, inside the download folder.
fn output_dir(download_dir: &FsPath, output: &str) -> Result<PathBuf, ApiError> {
    if output.is_empty() || output.chars().count() > MAX_OUTPUT_LEN {
        return Err(ApiError::bad_request(format!(
            "output must be 1 to {MAX_OUTPUT_LEN} characters long"
        )));
    }
    let mut path = download_dir.to_path_buf();
    for name in output.split('/') {
        if name.is_empty() || name == "." || name == ".." || name.chars().any(char::is_control) {
            return Err(ApiError::bad_request(
                "output must be a folder inside the download folder: names separated by `/`, \
                 none empty, `.` or `..`, without control characters",
            ));
        }
        path.push(name);
    }
    Ok(path)
}

/// One torrent.
#[utoipa::path(get, path = "/v1/torrents/{info_hash}", tag = "torrents", params(InfoHashPath),
    responses(
        (status = 200, description = "The torrent", body = TorrentJson),
        (status = 400, description = "Not an info-hash", body = ErrorBody),
        (status = 404, description = "No such torrent", body = ErrorBody),
    ))]
async fn get_torrent(
    State(state): State<AppState>,
    path: Result<Path<InfoHashPath>, PathRejection>,
) -> Result<Json<TorrentJson>, ApiError> {
    let id = torrent_id(path)?;
    Ok(Json(state.session.status(id).await?.into()))
}

/// Removes a torrent.
#[utoipa::path(delete, path = "/v1/torrents/{info_hash}", tag = "torrents", params(InfoHashPath, DeleteQuery),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "Not an info-hash, or a bad parameter", body = ErrorBody),
        (status = 404, description = "No such torrent", body = ErrorBody),
    ))]
async fn delete_torrent(
    State(state): State<AppState>,
    path: Result<Path<InfoHashPath>, PathRejection>,
    query: Result<Query<DeleteQuery>, QueryRejection>,
) -> Result<StatusCode, ApiError> {
    let id = torrent_id(path)?;
    let Query(query) = query?;
    let delete_files = query.delete_files.unwrap_or(false);
    state.session.remove(id, delete_files).await?;
    tracing::info!(torrent = %id, delete_files, "removed");
    Ok(StatusCode::NO_CONTENT)
}

/// Pauses a torrent.
#[utoipa::path(post, path = "/v1/torrents/{info_hash}/pause", tag = "torrents", params(InfoHashPath),
    responses(
        (status = 200, description = "Paused; the torrent as it is now", body = TorrentJson),
        (status = 400, description = "Not an info-hash", body = ErrorBody),
        (status = 404, description = "No such torrent", body = ErrorBody),
    ))]
async fn pause_torrent(
    State(state): State<AppState>,
    path: Result<Path<InfoHashPath>, PathRejection>,
) -> Result<Json<TorrentJson>, ApiError> {
    let id = torrent_id(path)?;
    state.session.pause(id).await?;
    Ok(Json(state.session.status(id).await?.into()))
}

/// Resumes a paused torrent.
#[utoipa::path(post, path = "/v1/torrents/{info_hash}/resume", tag = "torrents", params(InfoHashPath),
    responses(
        (status = 200, description = "Resumed; the torrent as it is now", body = TorrentJson),
        (status = 400, description = "Not an info-hash", body = ErrorBody),
        (status = 404, description = "No such torrent", body = ErrorBody),
    ))]
async fn resume_torrent(
    State(state): State<AppState>,
    path: Result<Path<InfoHashPath>, PathRejection>,
) -> Result<Json<TorrentJson>, ApiError> {
    let id = torrent_id(path)?;
    state.session.resume(id).await?;
    Ok(Json(state.session.status(id).await?.into()))
}

/// Hashes a torrent's files on disk again.
#[utoipa::path(post, path = "/v1/torrents/{info_hash}/recheck", tag = "torrents", params(InfoHashPath),
    responses(
        (status = 200, description = "Checking; the torrent as it is now", body = TorrentJson),
        (status = 400, description = "Not an info-hash", body = ErrorBody),
        (status = 404, description = "No such torrent", body = ErrorBody),
        (status = 409, description = "The torrent has no metadata yet: nothing to check", body = ErrorBody),
    ))]
async fn recheck_torrent(
    State(state): State<AppState>,
    path: Result<Path<InfoHashPath>, PathRejection>,
) -> Result<Json<TorrentJson>, ApiError> {
    let id = torrent_id(path)?;
    state.session.recheck(id).await?;
    Ok(Json(state.session.status(id).await?.into()))
}

/// A torrent's files (none until the metadata is known).
#[utoipa::path(get, path = "/v1/torrents/{info_hash}/files", tag = "torrents", params(InfoHashPath),
    responses(
        (status = 200, description = "Its files, in torrent order", body = [FileJson]),
        (status = 400, description = "Not an info-hash", body = ErrorBody),
        (status = 404, description = "No such torrent", body = ErrorBody),
    ))]
async fn get_files(
    State(state): State<AppState>,
    path: Result<Path<InfoHashPath>, PathRejection>,
) -> Result<Json<Vec<FileJson>>, ApiError> {
    let id = torrent_id(path)?;
    let files = state.session.files(id).await?;
    Ok(Json(
        files
            .into_iter()
            .enumerate()
            .map(|(i, f)| FileJson::new(i, f))
            .collect(),
    ))
}

/// Sets the priority of every file of a torrent.
#[utoipa::path(put, path = "/v1/torrents/{info_hash}/files", tag = "torrents", params(InfoHashPath),
    request_body = PrioritiesJson,
    responses(
        (status = 200, description = "Set; the files as they are now", body = [FileJson]),
        (status = 400, description = "Not an info-hash, or not a list of priorities 0 to 7", body = ErrorBody),
        (status = 404, description = "No such torrent", body = ErrorBody),
        (status = 409, description = "Not one priority per file of the torrent, or its files are not known yet", body = ErrorBody),
        (status = 413, description = "The body is over 16 MiB", body = ErrorBody),
        (status = 415, description = "The body is not application/json", body = ErrorBody),
    ))]
async fn put_file_priorities(
    State(state): State<AppState>,
    path: Result<Path<InfoHashPath>, PathRejection>,
    body: Result<Json<PrioritiesJson>, JsonRejection>,
) -> Result<Json<Vec<FileJson>>, ApiError> {
    let id = torrent_id(path)?;
    let Json(body) = body?;
    let files = state.session.files(id).await?;
    if files.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "the torrent's files are not known yet (no metadata)",
        ));
    }
    if body.priorities.len() != files.len() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "{} priorities for the torrent's {} files: give one per file",
                body.priorities.len(),
                files.len()
            ),
        ));
    }
    let priorities = body.priorities.iter().map(|p| p.0).collect();
    state.session.set_file_priorities(id, priorities).await?;
    let files = state.session.files(id).await?;
    Ok(Json(
        files
            .into_iter()
            .enumerate()
            .map(|(i, f)| FileJson::new(i, f))
            .collect(),
    ))
}

/// A torrent's connected peers.
#[utoipa::path(get, path = "/v1/torrents/{info_hash}/peers", tag = "torrents", params(InfoHashPath),
    responses(
        (status = 200, description = "Its connected peers", body = [PeerJson]),
        (status = 400, description = "Not an info-hash", body = ErrorBody),
        (status = 404, description = "No such torrent", body = ErrorBody),
    ))]
async fn get_peers(
    State(state): State<AppState>,
    path: Result<Path<InfoHashPath>, PathRejection>,
) -> Result<Json<Vec<PeerJson>>, ApiError> {
    let id = torrent_id(path)?;
    let peers = state.session.peers(id).await?;
    Ok(Json(peers.into_iter().map(PeerJson::from).collect()))
}

/// Totals of the whole session.
#[utoipa::path(get, path = "/v1/stats", tag = "session",
    responses((status = 200, description = "Session totals", body = StatsJson)))]
async fn get_stats(State(state): State<AppState>) -> Json<StatsJson> {
    let stats = state.session.stats().await;
    Json(StatsJson::new(
        stats,
        &state.session.listen_addrs(),
        state.session.dht_addr(),
    ))
}

/// The session's events as server-sent events, until the client leaves or
/// the daemon stops; `event` is the kind and `data` an `EventJson`.
#[utoipa::path(get, path = "/v1/events", tag = "session",
    responses(
        (status = 200, description = "A stream of server-sent events, each `data` an EventJson",
            content_type = "text/event-stream", body = String),
        (status = 503, description = "Too many event streams are open", body = ErrorBody),
    ))]
async fn get_events(
    State(state): State<AppState>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let permit = Arc::clone(&state.event_streams)
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{MAX_EVENT_STREAMS} event streams are open already"),
            )
        })?;
    let mut stopping = state.stopping.clone();
    let stop = async move {
        // An error means the daemon dropped the sender: it is stopping too.
        let _ = stopping.wait_for(|s| *s).await;
    };
    let stream = state
        .session
        .events()
        .filter_map(move |e| {
            // The permit lives as long as the stream.
            let _held = &permit;
            let event = EventJson::new(e).and_then(|json| {
                Event::default()
                    .event(json.kind())
                    .json_data(&json)
                    .map_err(|err| tracing::warn!("encoding an event: {err}"))
                    .ok()
            });
            std::future::ready(event.map(Ok))
        })
        .take_until(stop);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

// ---------------------------------------------------------------------------
// The OpenAPI document

/// The API's description, generated from the handlers and types above.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "bitswarmd",
        description = "The HTTP JSON API of bitswarmd, a BitTorrent daemon built on bitswarm-session. Errors are `{\"error\": \"...\"}`.",
        license(name = "MIT OR Apache-2.0")
    ),
    paths(
        get_openapi,
        list_torrents,
        add_torrent,
        get_torrent,
        delete_torrent,
        pause_torrent,
        resume_torrent,
        recheck_torrent,
        get_files,
        put_file_priorities,
        get_peers,
        get_stats,
        get_events
    ),
    components(schemas(
        ErrorBody, StateJson, TorrentJson, FileJson, PrioritiesJson, Priority, PeerJson,
        StatsJson, EventJson, MagnetText, TorrentFile
    )),
    tags(
        (name = "torrents", description = "Add, inspect, control and remove torrents"),
        (name = "session", description = "Session totals and events"),
        (name = "meta", description = "This document")
    )
)]
struct ApiDoc;

/// The OpenAPI document; with a token, every operation but the document
/// itself requires bearer authentication and may answer 401.
pub(crate) fn openapi(with_token: bool) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let error = |description: &str| -> RefOr<DocResponse> {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
            .into()
    };
    for (path, item) in &mut doc.paths.paths {
        let guarded = path != "/v1/openapi.json";
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            if guarded && with_token {
                op.responses.responses.insert(
                    "401".to_owned(),
                    error("The bearer token is missing or wrong"),
                );
                op.security = Some(vec![SecurityRequirement::new(
                    "bearer",
                    Vec::<String>::new(),
                )]);
            }
        }
    }
    if with_token {
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_lists_every_route() {
        let doc = openapi(false);
        for p in [
            "/v1/torrents",
            "/v1/torrents/{info_hash}",
            "/v1/torrents/{info_hash}/pause",
            "/v1/torrents/{info_hash}/resume",
            "/v1/torrents/{info_hash}/recheck",
            "/v1/torrents/{info_hash}/files",
            "/v1/torrents/{info_hash}/peers",
            "/v1/stats",
            "/v1/events",
            "/v1/openapi.json",
        ] {
            assert!(doc.paths.paths.contains_key(p), "{p} missing");
        }
        assert!(doc.components.unwrap().security_schemes.is_empty());
    }

    #[test]
    fn document_with_token_asks_for_it() {
        let doc = openapi(true);
        let json = doc.to_json().unwrap();
        assert!(json.contains("\"bearer\""));
        let stats = doc.paths.paths["/v1/stats"].get.as_ref().unwrap();
        assert!(stats.responses.responses.contains_key("401"));
        let me = doc.paths.paths["/v1/openapi.json"].get.as_ref().unwrap();
        assert!(!me.responses.responses.contains_key("401"));
    }

    #[test]
    fn output_folders() {
        let base = FsPath::new("/srv/dl");
        assert_eq!(output_dir(base, "a/b").unwrap(), base.join("a/b"));
        assert_eq!(output_dir(base, "...").unwrap(), base.join("..."));
        assert!(output_dir(base, "/x").is_err());
        assert!(output_dir(base, "a/../../x").is_err());
        assert!(output_dir(base, "a//b").is_err());
        assert!(output_dir(base, "./a").is_err());
        assert!(output_dir(base, "").is_err());
        assert!(output_dir(base, "a\nb").is_err());
    }

    #[test]
    fn secrets_compare() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
    }

    #[test]
    fn event_json_names_its_kind() {
        let e = EventJson::Lagged { missed: 3 };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], e.kind());
    }
}
