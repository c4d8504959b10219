//! Fetching a torrent's info dictionary from peers (BEP 9), without a
//! session: for a DHT crawler that found info-hashes, or a tool that turns a
//! magnet link into a .torrent file. (A [`Session`](crate::Session) fetches
//! the metadata of its magnets inside its own peer connections.)
//!
//! ```text
//!  TCP connect ─► BEP 3 handshake (extension bit) ─► BEP 10 handshakes
//!     ─► ut_metadata requests, a few 16 KiB pieces in flight ─► assemble
//!     ─► SHA-1 (v1) / SHA-256 (v2) against the info-hash ─► info bytes
//! ```
//!
//! [`fetch_metadata`] asks one peer; [`MetadataFetcher`] asks the candidates
//! that trackers, the DHT or a magnet's `x.pe` give, several at once, and
//! returns the first info dictionary that hashes to the info-hash. Each
//! fetch is bounded by [`MetadataLimits`] (time, size, requests in flight)
//! and fails with a typed [`MetadataError`] that names the peer.
//!
//! From a magnet link and a peer to a torrent:
//!
//! ```no_run
//! use bitswarm_core::PeerId;
//! use bitswarm_metainfo::{Magnet, Metainfo};
//! use bitswarm_session::metadata::{MetadataLimits, fetch_metadata};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let magnet = Magnet::parse(
//!     "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&tr=udp://t.example:1337",
//! )?;
//! let info_hash = magnet.info_hash().ok_or("no info-hash in the link")?;
//! let peer = "192.0.2.7:6881".parse()?;
//! let info = fetch_metadata(peer, info_hash, PeerId::random(), &MetadataLimits::default()).await?;
//!
//! // The magnet's trackers and web seeds go into the torrent...
//! let torrent: Metainfo = magnet.to_metainfo(&info)?;
//! println!("{}: {} bytes", torrent.name(), torrent.total_length());
//! // ...or, from a bare info-hash (a DHT crawler), the info dictionary alone.
//! let bare = Metainfo::from_info_bytes(&info, info_hash)?;
//! assert_eq!(bare.info_hash(), info_hash);
//! std::fs::write(format!("{info_hash}.torrent"), bare.as_bytes())?;
//! # Ok(()) }
//! ```

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use bitswarm_core::{InfoHash, PeerId};
use bitswarm_handshake::{Extensions, Handshake};
use bitswarm_peer::extension::{
    ExtensionHandshake, ExtensionIds, METADATA_PIECE_SIZE, UtMetadata, names,
};
use bitswarm_peer::{Message, PeerCodec};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// The BEP 10 extended message id (BEP 3 message id 20).
const EXTENDED: u8 = 20;

/// Bounds on one fetch from one peer.
///
/// The defaults: 10 s to connect, 30 s for the rest, metadata up to
/// 16 MiB, 4 piece requests in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataLimits {
    /// Connecting over TCP.
    pub connect_timeout: Duration,
    /// Everything after connecting: handshakes and every piece.
    pub timeout: Duration,
    /// The largest `metadata_size` accepted, in bytes; a peer announcing
    /// more gets [`MetadataError::BadSize`]. The buffer of this size is
    /// allocated only once the peer announced it.
    pub max_size: u64,
    /// How many piece requests are outstanding at once (at least 1).
    pub requests_in_flight: usize,
}

impl Default for MetadataLimits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_size: 16 << 20,
            requests_in_flight: 4,
        }
    }
}

/// Why metadata could not be fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// The TCP connection failed.
    #[error("connecting to {addr}: {source}")]
    Connect {
        /// The peer.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The peer took longer than the limit.
    #[error("{addr}: no metadata within {limit:?}")]
    Timeout {
        /// The peer.
        addr: SocketAddr,
        /// The limit.
        limit: Duration,
    },
    /// The BEP 3 handshake failed.
    #[error("handshake with {addr}: {source}")]
    Handshake {
        /// The peer.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: bitswarm_handshake::Error,
    },
    /// The peer does not set the extension protocol bit (BEP 10).
    #[error("{addr} does not support the extension protocol (BEP 10)")]
    NoExtensionProtocol {
        /// The peer.
        addr: SocketAddr,
    },
    /// The peer's extension handshake has no `ut_metadata` (BEP 9).
    #[error("{addr} does not offer ut_metadata (BEP 9)")]
    NoUtMetadata {
        /// The peer.
        addr: SocketAddr,
    },
    /// The peer's extension handshake has no `metadata_size`.
    #[error("{addr} announced no metadata_size")]
    NoMetadataSize {
        /// The peer.
        addr: SocketAddr,
    },
    /// The announced size is zero or above the limit.
    #[error("{addr} announced metadata of {size} bytes, outside 1..={max}")]
    BadSize {
        /// The peer.
        addr: SocketAddr,
        /// The size announced.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The peer rejected a piece request.
    #[error("{addr} rejected metadata piece {piece}")]
    Rejected {
        /// The peer.
        addr: SocketAddr,
        /// The piece.
        piece: u32,
    },
    /// The peer sent a piece that does not fit what was asked.
    #[error("{addr} sent a bad metadata piece {piece}: {reason}")]
    BadPiece {
        /// The peer.
        addr: SocketAddr,
        /// The piece.
        piece: u32,
        /// What was wrong.
        reason: &'static str,
    },
    /// A message could not be read.
    #[error("{addr}: {source}")]
    Wire {
        /// The peer.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: bitswarm_peer::Error,
    },
    /// The connection failed or closed.
    #[error("connection with {addr}: {source}")]
    Io {
        /// The peer.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The assembled metadata does not hash to the info-hash.
    #[error("metadata from {addr} does not match the info-hash: {source}")]
    HashMismatch {
        /// The peer.
        addr: SocketAddr,
        /// The hashes.
        #[source]
        source: bitswarm_metainfo::Error,
    },
    /// The metadata hashes right but is not a valid info dictionary.
    #[error("metadata from {addr} is not a valid info dictionary: {source}")]
    Invalid {
        /// The peer.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: bitswarm_metainfo::Error,
    },
    /// Every candidate was tried and none gave the metadata.
    #[error("no peer gave the metadata ({tried} tried){}", last_error(.last.as_deref()))]
    Exhausted {
        /// How many peers were tried.
        tried: usize,
        /// The last peer's error.
        last: Option<Box<Self>>,
    },
    /// The deadline passed before a peer gave the metadata.
    #[error("no peer gave the metadata in time ({tried} tried){}", last_error(.last.as_deref()))]
    Deadline {
        /// How many peers were tried.
        tried: usize,
        /// The last peer's error.
        last: Option<Box<Self>>,
    },
}

fn last_error(last: Option<&MetadataError>) -> String {
    last.map(|e| format!("; last: {e}")).unwrap_or_default()
}

/// Fetches the info dictionary of `info_hash` from the peer at `addr` and
/// returns its bytes once they hash to `info_hash` (SHA-1 for a v1 hash,
/// SHA-256 for a v2 hash; a v2 hash is sent truncated in the handshake).
///
/// The bytes are a valid info dictionary: [`Metainfo::from_info_bytes`]
/// or [`Magnet::to_metainfo`] make a torrent of them. `our_id` is the peer
/// id sent in the handshake.
///
/// [`Metainfo::from_info_bytes`]: bitswarm_metainfo::Metainfo::from_info_bytes
/// [`Magnet::to_metainfo`]: bitswarm_metainfo::Magnet::to_metainfo
pub async fn fetch_metadata(
    addr: SocketAddr,
    info_hash: InfoHash,
    our_id: PeerId,
    limits: &MetadataLimits,
) -> Result<Bytes, MetadataError> {
    let stream = tokio::time::timeout(limits.connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| MetadataError::Timeout {
            addr,
            limit: limits.connect_timeout,
        })?
        .map_err(|source| MetadataError::Connect { addr, source })?;
    // Small requests answered one by one: no Nagle delay.
    let _ = stream.set_nodelay(true);
    fetch_metadata_over(stream, addr, info_hash, our_id, limits).await
}

/// [`fetch_metadata`] over a transport that is already connected (and not
/// handshaken yet), within [`MetadataLimits::timeout`]: for a connection
/// made another way (a proxy, a socket option). `addr` only names the peer
/// in errors.
pub async fn fetch_metadata_over<T: AsyncRead + AsyncWrite + Unpin>(
    io: T,
    addr: SocketAddr,
    info_hash: InfoHash,
    our_id: PeerId,
    limits: &MetadataLimits,
) -> Result<Bytes, MetadataError> {
    let exchange = Exchange {
        io: BufReader::new(io),
        addr,
        max_frame: PeerCodec::default().max_len(),
    };
    tokio::time::timeout(limits.timeout, exchange.run(info_hash, our_id, limits))
        .await
        .map_err(|_| MetadataError::Timeout {
            addr,
            limit: limits.timeout,
        })?
}

/// One connection's BEP 9 exchange.
struct Exchange<T> {
    io: BufReader<T>,
    addr: SocketAddr,
    /// The longest frame read (the peer crate's default bound).
    max_frame: u32,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Exchange<T> {
    async fn run(
        mut self,
        info_hash: InfoHash,
        our_id: PeerId,
        limits: &MetadataLimits,
    ) -> Result<Bytes, MetadataError> {
        let addr = self.addr;
        let ours = Handshake {
            extensions: Extensions::EXTENSION_PROTOCOL,
            info_hash: info_hash.wire(),
            peer_id: our_id,
        };
        let theirs = bitswarm_handshake::initiate(&mut self.io, &ours, addr)
            .await
            .map_err(|source| MetadataError::Handshake { addr, source })?;
        if !theirs.extensions.supports(Extensions::EXTENSION_PROTOCOL) {
            return Err(MetadataError::NoExtensionProtocol { addr });
        }
        let ours_ext = ExtensionHandshake {
            m: [(
                names::UT_METADATA.to_owned(),
                ExtensionIds::OURS.ut_metadata,
            )]
            .into_iter()
            .collect(),
            v: Some(concat!("bitswarm ", env!("CARGO_PKG_VERSION")).to_owned()),
            ..ExtensionHandshake::default()
        };
        self.send(&Message::Extended {
            id: 0,
            payload: ours_ext.to_bytes(),
        })
        .await?;

        // Their extension handshake; whatever comes before it (bitfield,
        // have, ...) is of no use here.
        let theirs_ext = loop {
            if let Some((0, payload)) = self.next_extended().await? {
                break ExtensionHandshake::decode(&payload)
                    .map_err(|source| MetadataError::Wire { addr, source })?;
            }
        };
        let their_id = ExtensionIds::from_handshake(&theirs_ext).ut_metadata;
        if their_id == 0 {
            return Err(MetadataError::NoUtMetadata { addr });
        }
        let size = theirs_ext
            .metadata_size
            .ok_or(MetadataError::NoMetadataSize { addr })?;
        if size == 0 || size > limits.max_size {
            return Err(MetadataError::BadSize {
                addr,
                size,
                max: limits.max_size,
            });
        }
        let info = self.download(their_id, size, limits).await?;
        match bitswarm_metainfo::Metainfo::from_info_bytes(&info, info_hash) {
            Ok(_) => Ok(Bytes::from(info)),
            Err(source @ bitswarm_metainfo::Error::InfoHashMismatch { .. }) => {
                Err(MetadataError::HashMismatch { addr, source })
            }
            Err(source) => Err(MetadataError::Invalid { addr, source }),
        }
    }

    /// Requests every piece of `size` bytes of metadata, a few at a time,
    /// and assembles them.
    async fn download(
        &mut self,
        their_id: u8,
        size: u64,
        limits: &MetadataLimits,
    ) -> Result<Vec<u8>, MetadataError> {
        let addr = self.addr;
        // `size` is bounded by `max_size`, far below u32::MAX pieces.
        let size = usize::try_from(size).map_err(|_| MetadataError::BadSize {
            addr,
            size,
            max: limits.max_size,
        })?;
        let pieces = u32::try_from(size.div_ceil(METADATA_PIECE_SIZE)).unwrap_or(u32::MAX);
        let mut info = vec![0u8; size];
        let mut received = vec![false; pieces as usize];
        let mut missing = pieces;
        let mut next = 0u32;
        let mut in_flight = 0usize;
        while missing > 0 {
            while next < pieces && in_flight < limits.requests_in_flight.max(1) {
                self.send_ut_metadata(their_id, &UtMetadata::Request { piece: next })
                    .await?;
                next += 1;
                in_flight += 1;
            }
            let Some((id, payload)) = self.next_extended().await? else {
                continue;
            };
            if id != ExtensionIds::OURS.ut_metadata {
                continue;
            }
            let message = UtMetadata::decode(payload)
                .map_err(|source| MetadataError::Wire { addr, source })?;
            match message {
                UtMetadata::Request { piece } => {
                    // We have no metadata to give.
                    self.send_ut_metadata(their_id, &UtMetadata::Reject { piece })
                        .await?;
                }
                UtMetadata::Reject { piece } => {
                    return Err(MetadataError::Rejected { addr, piece });
                }
                UtMetadata::Data {
                    piece,
                    total_size,
                    data,
                } => {
                    let bad = |reason| MetadataError::BadPiece {
                        addr,
                        piece,
                        reason,
                    };
                    if piece >= next {
                        return Err(bad("not requested"));
                    }
                    let slot = received
                        .get_mut(piece as usize)
                        .ok_or_else(|| bad("not requested"))?;
                    if *slot {
                        return Err(bad("sent twice"));
                    }
                    if total_size != size as u64 {
                        return Err(bad("total_size differs from metadata_size"));
                    }
                    let start = piece as usize * METADATA_PIECE_SIZE;
                    let end = (start + METADATA_PIECE_SIZE).min(size);
                    if data.len() != end - start {
                        return Err(bad("wrong length"));
                    }
                    info[start..end].copy_from_slice(&data);
                    *slot = true;
                    missing -= 1;
                    in_flight = in_flight.saturating_sub(1);
                }
            }
        }
        Ok(info)
    }

    async fn send_ut_metadata(
        &mut self,
        their_id: u8,
        m: &UtMetadata,
    ) -> Result<(), MetadataError> {
        self.send(&Message::Extended {
            id: their_id,
            payload: m.to_bytes(),
        })
        .await
    }

    async fn send(&mut self, message: &Message) -> Result<(), MetadataError> {
        let addr = self.addr;
        let io = self.io.get_mut();
        io.write_all(&message.to_bytes())
            .await
            .map_err(|source| MetadataError::Io { addr, source })?;
        io.flush()
            .await
            .map_err(|source| MetadataError::Io { addr, source })
    }

    /// The next frame; `Some((extended id, payload))` for a BEP 10 message,
    /// `None` for any other message (skipped unread).
    async fn next_extended(&mut self) -> Result<Option<(u8, Bytes)>, MetadataError> {
        let addr = self.addr;
        let io_error = |source: std::io::Error| {
            if source.kind() == std::io::ErrorKind::UnexpectedEof {
                MetadataError::Io {
                    addr,
                    source: std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the peer closed the connection",
                    ),
                }
            } else {
                MetadataError::Io { addr, source }
            }
        };
        let len = self.io.read_u32().await.map_err(io_error)?;
        if len > self.max_frame {
            return Err(MetadataError::Wire {
                addr,
                source: bitswarm_peer::Error::MessageTooLong {
                    len,
                    max: self.max_frame,
                },
            });
        }
        let mut frame = BytesMut::zeroed(len as usize);
        self.io.read_exact(&mut frame).await.map_err(io_error)?;
        if frame.first() != Some(&EXTENDED) {
            return Ok(None);
        }
        match Message::decode_frame(frame.freeze()) {
            Ok(Message::Extended { id, payload }) => Ok(Some((id, payload))),
            Ok(_) => Ok(None),
            Err(source) => Err(MetadataError::Wire { addr, source }),
        }
    }
}

/// Asks candidate peers for a torrent's metadata, several at once, and
/// returns the first that hashes right.
///
/// The defaults: [`MetadataLimits::default`] per peer, 8 peers at once,
/// 4,096 addresses remembered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataFetcher {
    /// Bounds on each peer's fetch.
    pub limits: MetadataLimits,
    /// How many peers are asked at once (at least 1).
    pub concurrency: usize,
    /// How many distinct addresses are remembered to skip repeats; past
    /// this, new addresses are tried but not remembered.
    pub max_remembered: usize,
}

impl Default for MetadataFetcher {
    fn default() -> Self {
        Self {
            limits: MetadataLimits::default(),
            concurrency: 8,
            max_remembered: 4096,
        }
    }
}

impl MetadataFetcher {
    /// Tries the addresses that arrive on `candidates` (each once) until one
    /// gives the verified info dictionary of `info_hash`, `candidates` is
    /// closed and every attempt failed ([`MetadataError::Exhausted`]), or
    /// `deadline` passes ([`MetadataError::Deadline`]). Returns the peer
    /// and the info dictionary's bytes.
    ///
    /// Feed `candidates` from any source (tracker replies, DHT lookups,
    /// a magnet's `x.pe`) and drop the sender when there are no more. The
    /// attempts still running when it returns are cancelled.
    pub async fn fetch(
        &self,
        info_hash: InfoHash,
        our_id: PeerId,
        candidates: &mut mpsc::Receiver<SocketAddr>,
        deadline: tokio::time::Instant,
    ) -> Result<(SocketAddr, Bytes), MetadataError> {
        let mut running = JoinSet::new();
        let mut seen = HashSet::new();
        let mut open = true;
        let mut tried = 0usize;
        let mut last: Option<Box<MetadataError>> = None;
        let sleep = tokio::time::sleep_until(deadline);
        tokio::pin!(sleep);
        loop {
            if !open && running.is_empty() {
                return Err(MetadataError::Exhausted { tried, last });
            }
            let room = running.len() < self.concurrency.max(1);
            tokio::select! {
                () = &mut sleep => return Err(MetadataError::Deadline { tried, last }),
                candidate = candidates.recv(), if open && room => match candidate {
                    None => open = false,
                    Some(addr) => {
                        if seen.contains(&addr) {
                            continue;
                        }
                        if seen.len() < self.max_remembered {
                            seen.insert(addr);
                        }
                        tried += 1;
                        let limits = self.limits.clone();
                        running.spawn(async move {
                            let result = fetch_metadata(addr, info_hash, our_id, &limits).await;
                            (addr, result)
                        });
                    }
                },
                Some(done) = running.join_next(), if !running.is_empty() => match done {
                    Ok((addr, Ok(info))) => {
                        tracing::debug!(%addr, len = info.len(), "metadata fetched");
                        return Ok((addr, info));
                    }
                    Ok((addr, Err(e))) => {
                        tracing::debug!(%addr, error = %e, "metadata fetch failed");
                        last = Some(Box::new(e));
                    }
                    Err(e) => tracing::warn!(error = %e, "metadata fetch task ended abnormally"),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use bitswarm_bencode::{Encode, dict};
    use bitswarm_metainfo::Metainfo;
    use tokio::net::TcpListener;

    use super::*;

    /// An info dictionary of about `pieces` × 20 bytes of `pieces` hashes.
    fn info_dict(pieces: usize, seed: u8) -> Vec<u8> {
        let hashes: Vec<u8> = (0..pieces * 20)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect();
        dict! {
            "length" => (pieces as i64) * 16384,
            "name" => "data.bin",
            "piece length" => 16384,
            "pieces" => hashes,
        }
        .to_bencode()
    }

    fn hash_of(info: &[u8]) -> InfoHash {
        Metainfo::from_info_bytes_unchecked(info)
            .unwrap()
            .info_hash()
    }

    /// How a fake peer behaves.
    #[derive(Clone)]
    enum Serve {
        /// Serves these bytes as the metadata.
        Metadata(Vec<u8>),
        /// Announces `metadata_size` of this many bytes.
        Size(u64),
        /// Announces metadata of this many bytes but rejects every request.
        Reject(u64),
        /// Sets no extension bit in its handshake.
        NoExtensions,
        /// Handshakes, then says nothing.
        Silent,
    }

    async fn read_frame(io: &mut TcpStream) -> Option<Bytes> {
        let len = io.read_u32().await.ok()?;
        let mut frame = BytesMut::zeroed(len as usize);
        io.read_exact(&mut frame).await.ok()?;
        Some(frame.freeze())
    }

    /// A fake peer on 127.0.0.1 serving every connection as `serve` says.
    async fn fake_peer(serve: Serve) -> SocketAddr {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((io, _)) = listener.accept().await {
                tokio::spawn(serve_one(io, serve.clone()));
            }
        });
        addr
    }

    async fn serve_one(mut io: TcpStream, serve: Serve) -> Option<()> {
        let mut theirs = [0u8; 68];
        io.read_exact(&mut theirs).await.ok()?;
        let theirs = Handshake::decode(&theirs).ok()??;
        let extensions = match serve {
            Serve::NoExtensions => Extensions::NONE,
            _ => Extensions::EXTENSION_PROTOCOL | Extensions::FAST,
        };
        let ours = Handshake {
            extensions,
            info_hash: theirs.info_hash,
            peer_id: PeerId([7; 20]),
        };
        io.write_all(&ours.to_bytes()).await.ok()?;
        // Messages a real peer sends first, to be skipped.
        io.write_all(&Message::HaveAll.to_bytes()).await.ok()?;
        io.write_all(&Message::Unchoke.to_bytes()).await.ok()?;
        if matches!(serve, Serve::Silent) {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        let size = match &serve {
            Serve::Metadata(m) => m.len() as u64,
            Serve::Size(n) | Serve::Reject(n) => *n,
            Serve::NoExtensions | Serve::Silent => 0,
        };
        const OUR_UT_METADATA: u8 = 3;
        let hs = ExtensionHandshake {
            m: [("ut_metadata".to_owned(), OUR_UT_METADATA)]
                .into_iter()
                .collect(),
            metadata_size: Some(size),
            ..ExtensionHandshake::default()
        };
        let hs = Message::Extended {
            id: 0,
            payload: hs.to_bytes(),
        };
        io.write_all(&hs.to_bytes()).await.ok()?;
        let mut their_id = 0;
        loop {
            let frame = read_frame(&mut io).await?;
            let Ok(Message::Extended { id, payload }) = Message::decode_frame(frame) else {
                continue;
            };
            if id == 0 {
                their_id =
                    ExtensionIds::from_handshake(&ExtensionHandshake::decode(&payload).ok()?)
                        .ut_metadata;
                continue;
            }
            assert_eq!(id, OUR_UT_METADATA);
            let Ok(UtMetadata::Request { piece }) = UtMetadata::decode(payload) else {
                continue;
            };
            let reply = match &serve {
                Serve::Metadata(m) => {
                    let start = piece as usize * METADATA_PIECE_SIZE;
                    let end = (start + METADATA_PIECE_SIZE).min(m.len());
                    UtMetadata::Data {
                        piece,
                        total_size: size,
                        data: Bytes::copy_from_slice(&m[start..end]),
                    }
                }
                _ => UtMetadata::Reject { piece },
            };
            let message = Message::Extended {
                id: their_id,
                payload: reply.to_bytes(),
            };
            io.write_all(&message.to_bytes()).await.ok()?;
        }
    }

    fn quick() -> MetadataLimits {
        MetadataLimits {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(5),
            ..MetadataLimits::default()
        }
    }

    #[tokio::test]
    async fn fetches_and_verifies_metadata_of_several_pieces() {
        // 2,000 piece hashes: 40 kB of metadata, three 16 KiB pieces.
        let info = info_dict(2000, 1);
        assert!(info.len() > 2 * METADATA_PIECE_SIZE);
        let addr = fake_peer(Serve::Metadata(info.clone())).await;
        let got = fetch_metadata(addr, hash_of(&info), PeerId([1; 20]), &quick())
            .await
            .unwrap();
        assert_eq!(&got[..], &info[..]);
    }

    #[tokio::test]
    async fn metadata_of_another_torrent_is_a_hash_mismatch() {
        let wanted = info_dict(10, 1);
        let served = info_dict(10, 2);
        let addr = fake_peer(Serve::Metadata(served)).await;
        let err = fetch_metadata(addr, hash_of(&wanted), PeerId([1; 20]), &quick())
            .await
            .unwrap_err();
        assert!(
            matches!(err, MetadataError::HashMismatch { addr: a, .. } if a == addr),
            "{err}"
        );
    }

    #[tokio::test]
    async fn refusals_and_limits_are_typed_errors() {
        let hash = hash_of(&info_dict(10, 1));
        let id = PeerId([1; 20]);

        let addr = fake_peer(Serve::Reject(100)).await;
        let err = fetch_metadata(addr, hash, id, &quick()).await.unwrap_err();
        assert!(
            matches!(err, MetadataError::Rejected { piece: 0, .. }),
            "{err}"
        );

        let addr = fake_peer(Serve::NoExtensions).await;
        let err = fetch_metadata(addr, hash, id, &quick()).await.unwrap_err();
        assert!(
            matches!(err, MetadataError::NoExtensionProtocol { .. }),
            "{err}"
        );

        let addr = fake_peer(Serve::Size(17 << 20)).await;
        let err = fetch_metadata(addr, hash, id, &quick()).await.unwrap_err();
        assert!(
            matches!(err, MetadataError::BadSize { size, .. } if size == 17 << 20),
            "{err}"
        );

        let addr = fake_peer(Serve::Size(0)).await;
        let err = fetch_metadata(addr, hash, id, &quick()).await.unwrap_err();
        assert!(
            matches!(err, MetadataError::BadSize { size: 0, .. }),
            "{err}"
        );

        let addr = fake_peer(Serve::Silent).await;
        let limits = MetadataLimits {
            timeout: Duration::from_millis(300),
            ..quick()
        };
        let err = fetch_metadata(addr, hash, id, &limits).await.unwrap_err();
        assert!(matches!(err, MetadataError::Timeout { .. }), "{err}");

        // Nobody listens on a port just released.
        let closed = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let err = fetch_metadata(closed, hash, id, &quick())
            .await
            .unwrap_err();
        assert!(matches!(err, MetadataError::Connect { .. }), "{err}");
    }

    #[tokio::test]
    async fn fetcher_skips_bad_peers_and_returns_the_good_one() {
        let info = info_dict(50, 1);
        let hash = hash_of(&info);
        let wrong = fake_peer(Serve::Metadata(info_dict(50, 9))).await;
        let rejecting = fake_peer(Serve::Reject(info.len() as u64)).await;
        let good = fake_peer(Serve::Metadata(info.clone())).await;
        let (tx, mut rx) = mpsc::channel(16);
        for a in [wrong, rejecting, wrong, good] {
            tx.send(a).await.unwrap();
        }
        let fetcher = MetadataFetcher {
            limits: quick(),
            concurrency: 2,
            ..MetadataFetcher::default()
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let (from, got) = fetcher
            .fetch(hash, PeerId([1; 20]), &mut rx, deadline)
            .await
            .unwrap();
        assert_eq!(from, good);
        assert_eq!(&got[..], &info[..]);

        // With only bad peers and the channel closed, it gives up.
        drop(tx);
        let (tx, mut rx) = mpsc::channel(4);
        for a in [wrong, rejecting] {
            tx.send(a).await.unwrap();
        }
        drop(tx);
        let err = fetcher
            .fetch(hash, PeerId([1; 20]), &mut rx, deadline)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                MetadataError::Exhausted {
                    tried: 2,
                    last: Some(_)
                }
            ),
            "{err}"
        );

        // With the channel open and no good peer, the deadline ends it.
        let (_keep, mut rx) = mpsc::channel::<SocketAddr>(1);
        let soon = tokio::time::Instant::now() + Duration::from_millis(200);
        let err = fetcher
            .fetch(hash, PeerId([1; 20]), &mut rx, soon)
            .await
            .unwrap_err();
        assert!(
            matches!(err, MetadataError::Deadline { tried: 0, .. }),
            "{err}"
        );
    }

    /// Starts a libtorrent seeder of generated content and returns it with
    /// the torrent's hashes.
    fn lt_seeder(
        dir: &std::path::Path,
        v1_only: bool,
    ) -> (
        bitswarm_testkit::lt_session::LtSession,
        bitswarm_testkit::libtorrent::InfoHashes,
    ) {
        use bitswarm_testkit::lt_session::{LtSession, SessionSpec, TorrentSpec};
        use bitswarm_testkit::{content, libtorrent};
        let data = dir.join("data");
        // Several files and 3,000 pieces: metadata of several 16 KiB pieces.
        content::write_tree(
            &data,
            &[
                ("a.bin", 3000 * 16384 - 7),
                ("b/c.bin", 12_345),
                ("d.bin", 1),
            ],
            42,
        )
        .unwrap();
        let torrent = dir.join("data.torrent");
        let options = libtorrent::CreateOptions {
            v1_only,
            piece_size: Some(16384),
        };
        let hashes = libtorrent::create_torrent_with(&data, &torrent, &options)
            .unwrap()
            .hashes;
        let spec = SessionSpec {
            torrents: vec![TorrentSpec {
                torrent: Some(torrent),
                seed_mode: true,
                ..TorrentSpec::new(dir)
            }],
            ..SessionSpec::default()
        };
        (LtSession::start(&spec).unwrap(), hashes)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs python3-libtorrent: run scripts/test-all"]
    async fn fetches_metadata_from_libtorrent() {
        let dir = tempfile::tempdir().unwrap();
        let (seeder, hashes) = lt_seeder(dir.path(), true);
        let v1: InfoHash = hashes.v1.unwrap().parse().unwrap();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, seeder.port()));
        let info = fetch_metadata(addr, v1, PeerId::random(), &MetadataLimits::default())
            .await
            .unwrap();
        assert!(info.len() > 2 * METADATA_PIECE_SIZE, "{}", info.len());
        let meta = Metainfo::from_info_bytes(&info, v1).unwrap();
        assert_eq!(meta.info_hash(), v1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs python3-libtorrent: run scripts/test-all"]
    async fn fetches_hybrid_metadata_from_libtorrent_by_either_hash() {
        let dir = tempfile::tempdir().unwrap();
        let (seeder, hashes) = lt_seeder(dir.path(), false);
        let v2: InfoHash = hashes.v2.unwrap().parse().unwrap();
        let v1: InfoHash = hashes.v1.unwrap().parse().unwrap();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, seeder.port()));

        // By the v1 hash, through the fetcher, behind a candidate that
        // refuses connections. (This comes first: once an address has
        // connected by the v2 hash, libtorrent 2.0.8 answers its v1
        // handshakes with the truncated v2 hash, which `initiate` refuses.)
        let closed = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let (tx, mut rx) = mpsc::channel(4);
        tx.send(closed).await.unwrap();
        tx.send(addr).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let (from, info) = MetadataFetcher::default()
            .fetch(v1, PeerId::random(), &mut rx, deadline)
            .await
            .unwrap();
        assert_eq!(from, addr);
        assert!(info.len() > 2 * METADATA_PIECE_SIZE, "{}", info.len());

        // By the v2 hash (truncated in the handshake), checked with SHA-256:
        // the same bytes.
        let again = fetch_metadata(addr, v2, PeerId::random(), &MetadataLimits::default())
            .await
            .unwrap();
        assert_eq!(again, info);
        Metainfo::from_info_bytes(&info, v2).unwrap();
        Metainfo::from_info_bytes(&info, v1).unwrap();
    }
}
