//! Client → tracker packets (BEP 15): connect, announce (with BEP 41 options), scrape.

use std::net::Ipv4Addr;

use bitswarm_core::{InfoHashV1, PeerId};
use bytes::BufMut;

use super::{
    ACTION_ANNOUNCE, ACTION_CONNECT, ACTION_SCRAPE, ConnectionId, MAX_SCRAPE_HASHES, PROTOCOL_ID,
    Reader, TransactionId, UrlData, check_len,
};
use crate::error::{DecodeError, PacketKind};

/// A connect request: the first packet to a tracker, answered with a connection id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectRequest {
    /// Echoed in the response.
    pub transaction_id: TransactionId,
}

/// What happened to the download since the last announce (BEP 15 numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AnnounceEvent {
    /// A regular announce (0).
    #[default]
    None,
    /// The download finished (1).
    Completed,
    /// The first announce of a download (2).
    Started,
    /// The client leaves the swarm (3).
    Stopped,
}

impl AnnounceEvent {
    /// The wire number.
    pub fn to_wire(self) -> u32 {
        match self {
            Self::None => 0,
            Self::Completed => 1,
            Self::Started => 2,
            Self::Stopped => 3,
        }
    }

    /// The event of a wire number, if BEP 15 defines it.
    pub fn from_wire(n: u32) -> Option<Self> {
        Some(match n {
            0 => Self::None,
            1 => Self::Completed,
            2 => Self::Started,
            3 => Self::Stopped,
            _ => return None,
        })
    }
}

/// An announce request: a peer tells the tracker where it is and how far along,
/// and asks for other peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceRequest {
    /// The id from the connect response.
    pub connection_id: ConnectionId,
    /// Echoed in the response.
    pub transaction_id: TransactionId,
    /// The torrent.
    pub info_hash: InfoHashV1,
    /// The announcing peer.
    pub peer_id: PeerId,
    /// Bytes downloaded so far.
    pub downloaded: u64,
    /// Bytes still missing; 0 makes the peer a seeder.
    pub left: u64,
    /// Bytes uploaded so far.
    pub uploaded: u64,
    /// What happened.
    pub event: AnnounceEvent,
    /// An address the peer claims instead of the packet's source (0 on the
    /// wire for none). Trackers usually ignore it.
    pub ip: Option<Ipv4Addr>,
    /// A random key that lets the tracker recognise the peer across address changes.
    pub key: u32,
    /// How many peers the client wants; `None` (-1 on the wire) leaves it to the tracker.
    pub num_want: Option<u32>,
    /// The peer's listening port.
    pub port: u16,
    /// BEP 41 URL data: the tracker URL's path and query.
    pub url_data: UrlData,
}

/// A scrape request: swarm counts for up to [`MAX_SCRAPE_HASHES`] torrents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeRequest {
    /// The id from the connect response.
    pub connection_id: ConnectionId,
    /// Echoed in the response.
    pub transaction_id: TransactionId,
    /// The torrents, in the order the response will follow.
    pub info_hashes: Vec<InfoHashV1>,
}

/// Any client → tracker packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Connect.
    Connect(ConnectRequest),
    /// Announce.
    Announce(AnnounceRequest),
    /// Scrape.
    Scrape(ScrapeRequest),
}

/// The fixed part of an announce request, before BEP 41 options.
const ANNOUNCE_LEN: usize = 98;

impl Request {
    /// The transaction id the response must echo.
    pub fn transaction_id(&self) -> TransactionId {
        match self {
            Self::Connect(r) => r.transaction_id,
            Self::Announce(r) => r.transaction_id,
            Self::Scrape(r) => r.transaction_id,
        }
    }

    /// Parses a datagram a tracker received. Bytes after a connect request are
    /// ignored (some clients pad it); a scrape request must be a whole number
    /// of info-hashes, at most [`MAX_SCRAPE_HASHES`].
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        check_len(data, PacketKind::Header)?;
        let mut r = Reader::new(data, PacketKind::Header);
        let first = r.u64("connection id")?;
        let action = r.u32("action")?;
        let transaction_id = TransactionId(r.u32("transaction id")?);
        match action {
            ACTION_CONNECT => {
                if first != PROTOCOL_ID {
                    return Err(DecodeError::BadProtocolId(first));
                }
                Ok(Self::Connect(ConnectRequest { transaction_id }))
            }
            ACTION_ANNOUNCE => {
                r.set_packet(PacketKind::AnnounceRequest);
                let info_hash = InfoHashV1(r.array("info_hash")?);
                let peer_id = PeerId(r.array("peer_id")?);
                let downloaded = r.u64("downloaded")?;
                let left = r.u64("left")?;
                let uploaded = r.u64("uploaded")?;
                let event_number = r.u32("event")?;
                let event = AnnounceEvent::from_wire(event_number)
                    .ok_or(DecodeError::UnknownEvent(event_number))?;
                let ip = match r.u32("ip")? {
                    0 => None,
                    n => Some(Ipv4Addr::from(n)),
                };
                let key = r.u32("key")?;
                let num_want = u32::try_from(r.i32("num_want")?).ok();
                let port = r.u16("port")?;
                let url_data = UrlData::decode(&mut r)?;
                Ok(Self::Announce(AnnounceRequest {
                    connection_id: ConnectionId(first),
                    transaction_id,
                    info_hash,
                    peer_id,
                    downloaded,
                    left,
                    uploaded,
                    event,
                    ip,
                    key,
                    num_want,
                    port,
                    url_data,
                }))
            }
            ACTION_SCRAPE => {
                r.set_packet(PacketKind::ScrapeRequest);
                let hashes = r.entries("info-hashes", 20)?;
                let count = hashes.len() / 20;
                if count > MAX_SCRAPE_HASHES {
                    return Err(DecodeError::Oversized {
                        packet: PacketKind::ScrapeRequest,
                        field: "info-hash count",
                        len: count,
                        max: MAX_SCRAPE_HASHES,
                    });
                }
                let info_hashes = hashes
                    .chunks_exact(20)
                    .filter_map(InfoHashV1::from_slice)
                    .collect();
                Ok(Self::Scrape(ScrapeRequest {
                    connection_id: ConnectionId(first),
                    transaction_id,
                    info_hashes,
                }))
            }
            action => Err(DecodeError::UnknownAction { action, offset: 8 }),
        }
    }

    /// Writes the packet.
    pub fn encode(&self, buf: &mut impl BufMut) {
        match self {
            Self::Connect(r) => {
                buf.put_u64(PROTOCOL_ID);
                buf.put_u32(ACTION_CONNECT);
                buf.put_u32(r.transaction_id.0);
            }
            Self::Announce(r) => {
                buf.put_u64(r.connection_id.0);
                buf.put_u32(ACTION_ANNOUNCE);
                buf.put_u32(r.transaction_id.0);
                buf.put_slice(&r.info_hash.0);
                buf.put_slice(&r.peer_id.0);
                buf.put_u64(r.downloaded);
                buf.put_u64(r.left);
                buf.put_u64(r.uploaded);
                buf.put_u32(r.event.to_wire());
                buf.put_u32(r.ip.map_or(0, u32::from));
                buf.put_u32(r.key);
                buf.put_i32(
                    r.num_want
                        .map_or(-1, |n| i32::try_from(n).unwrap_or(i32::MAX)),
                );
                buf.put_u16(r.port);
                r.url_data.encode(buf);
            }
            Self::Scrape(r) => {
                buf.put_u64(r.connection_id.0);
                buf.put_u32(ACTION_SCRAPE);
                buf.put_u32(r.transaction_id.0);
                for hash in &r.info_hashes {
                    buf.put_slice(&hash.0);
                }
            }
        }
    }

    /// The encoded length.
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::Connect(_) => 16,
            Self::Announce(r) => ANNOUNCE_LEN + r.url_data.encoded_len(),
            Self::Scrape(r) => 16 + 20 * r.info_hashes.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn announce_strategy() -> impl Strategy<Value = AnnounceRequest> {
        (
            (
                any::<u64>(),
                any::<u32>(),
                any::<[u8; 20]>(),
                any::<[u8; 20]>(),
            ),
            (any::<u64>(), any::<u64>(), any::<u64>(), 0u32..4),
            (
                proptest::option::of(1u32..),
                any::<u32>(),
                proptest::option::of(0u32..=i32::MAX as u32),
                any::<u16>(),
                proptest::collection::vec(any::<u8>(), 0..600),
            ),
        )
            .prop_map(
                |((c, t, h, p), (d, l, u, e), (ip, key, num_want, port, url))| AnnounceRequest {
                    connection_id: ConnectionId(c),
                    transaction_id: TransactionId(t),
                    info_hash: InfoHashV1(h),
                    peer_id: PeerId(p),
                    downloaded: d,
                    left: l,
                    uploaded: u,
                    event: AnnounceEvent::from_wire(e).unwrap(),
                    ip: ip.map(Ipv4Addr::from),
                    key,
                    num_want,
                    port,
                    url_data: UrlData::new(url).unwrap(),
                },
            )
    }

    fn request_strategy() -> impl Strategy<Value = Request> {
        prop_oneof![
            any::<u32>().prop_map(|t| Request::Connect(ConnectRequest {
                transaction_id: TransactionId(t)
            })),
            announce_strategy().prop_map(Request::Announce),
            (
                any::<u64>(),
                any::<u32>(),
                proptest::collection::vec(any::<[u8; 20]>(), 0..=MAX_SCRAPE_HASHES)
            )
                .prop_map(|(c, t, hashes)| Request::Scrape(ScrapeRequest {
                    connection_id: ConnectionId(c),
                    transaction_id: TransactionId(t),
                    info_hashes: hashes.into_iter().map(InfoHashV1).collect(),
                })),
        ]
    }

    proptest! {
        #[test]
        fn every_request_round_trips(request in request_strategy()) {
            let mut buf = Vec::new();
            request.encode(&mut buf);
            prop_assert_eq!(buf.len(), request.encoded_len());
            prop_assert_eq!(Request::decode(&buf).unwrap(), request);
        }

        #[test]
        fn every_prefix_of_an_announce_is_a_typed_error(request in announce_strategy(), cut in 0usize..98) {
            let mut buf = Vec::new();
            Request::Announce(request).encode(&mut buf);
            let err = Request::decode(&buf[..cut]).unwrap_err();
            let truncated = matches!(err, DecodeError::Truncated { offset, .. } if offset <= cut);
            prop_assert!(truncated, "{:?}", err);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Request::decode(&data);
        }
    }

    #[test]
    fn connect_request_matches_bep_15_bytes() {
        let mut buf = Vec::new();
        Request::Connect(ConnectRequest {
            transaction_id: TransactionId(0x0102_0304),
        })
        .encode(&mut buf);
        assert_eq!(
            buf,
            [
                0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0, 1, 2, 3, 4
            ]
        );
    }

    #[test]
    fn wrong_protocol_id_is_rejected() {
        let mut buf = vec![0; 16];
        buf[..8].copy_from_slice(&1u64.to_be_bytes());
        assert_eq!(Request::decode(&buf), Err(DecodeError::BadProtocolId(1)));
    }

    #[test]
    fn unknown_action_and_event_are_rejected() {
        let mut buf = vec![0; 16];
        buf[11] = 9;
        assert_eq!(
            Request::decode(&buf),
            Err(DecodeError::UnknownAction {
                action: 9,
                offset: 8
            })
        );
        let mut announce = vec![0; 98];
        announce[11] = 1;
        announce[83] = 4;
        assert_eq!(
            Request::decode(&announce),
            Err(DecodeError::UnknownEvent(4))
        );
    }

    #[test]
    fn scrape_of_75_hashes_or_partial_hash_is_rejected() {
        let mut buf = vec![0; 16 + 75 * 20];
        buf[11] = 2;
        assert!(matches!(
            Request::decode(&buf),
            Err(DecodeError::Oversized { len: 75, .. })
        ));
        assert!(matches!(
            Request::decode(&buf[..16 + 19]),
            Err(DecodeError::PartialEntry { entry: 20, .. })
        ));
    }

    #[test]
    fn negative_num_want_means_default() {
        let mut buf = vec![0; 98];
        buf[11] = 1;
        buf[92..96].copy_from_slice(&(-5i32).to_be_bytes());
        let Ok(Request::Announce(a)) = Request::decode(&buf) else {
            panic!("not an announce")
        };
        assert_eq!(a.num_want, None);
    }
}
