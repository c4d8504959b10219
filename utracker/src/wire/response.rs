//! Tracker → client packets (BEP 15): connect, announce, scrape and error responses.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use bytes::BufMut;

use super::{
    ACTION_ANNOUNCE, ACTION_CONNECT, ACTION_ERROR, ACTION_SCRAPE, AddressFamily, ConnectionId,
    Reader, TransactionId, check_len,
};
use crate::error::{DecodeError, PacketKind};

/// The answer to a connect request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectResponse {
    /// The request's transaction id.
    pub transaction_id: TransactionId,
    /// The id to send with announces and scrapes for the next minute.
    pub connection_id: ConnectionId,
}

/// The answer to an announce request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceResponse {
    /// The request's transaction id.
    pub transaction_id: TransactionId,
    /// Seconds to wait before the next regular announce.
    pub interval: u32,
    /// Peers still downloading.
    pub leechers: u32,
    /// Peers with the whole torrent.
    pub seeders: u32,
    /// Peers of the request's address family (BEP 15: IPv4 peers for an
    /// IPv4 request, IPv6 peers for an IPv6 one). Encoding skips the others.
    pub peers: Vec<SocketAddr>,
}

/// One torrent's counts in a scrape response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScrapeStats {
    /// Peers with the whole torrent.
    pub seeders: u32,
    /// How many times the torrent was downloaded to the end.
    pub completed: u32,
    /// Peers still downloading.
    pub leechers: u32,
}

/// The answer to a scrape request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeResponse {
    /// The request's transaction id.
    pub transaction_id: TransactionId,
    /// One entry per requested info-hash, in the request's order.
    pub stats: Vec<ScrapeStats>,
}

/// A tracker's refusal, with a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    /// The request's transaction id.
    pub transaction_id: TransactionId,
    /// Why (read as UTF-8, invalid bytes replaced).
    pub message: String,
}

/// Any tracker → client packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Connect.
    Connect(ConnectResponse),
    /// Announce.
    Announce(AnnounceResponse),
    /// Scrape.
    Scrape(ScrapeResponse),
    /// Error.
    Error(ErrorResponse),
}

impl Response {
    /// The transaction id of the request this answers.
    pub fn transaction_id(&self) -> TransactionId {
        match self {
            Self::Connect(r) => r.transaction_id,
            Self::Announce(r) => r.transaction_id,
            Self::Scrape(r) => r.transaction_id,
            Self::Error(r) => r.transaction_id,
        }
    }

    /// Reads the action and transaction id only, so that a client can match a
    /// reply to its request before deciding whether the rest is valid.
    pub fn peek_header(data: &[u8]) -> Result<(u32, TransactionId), DecodeError> {
        let mut r = Reader::new(data, PacketKind::Header);
        let action = r.u32("action")?;
        Ok((action, TransactionId(r.u32("transaction id")?)))
    }

    /// Parses a datagram a client received through a socket of `family`.
    pub fn decode(data: &[u8], family: AddressFamily) -> Result<Self, DecodeError> {
        check_len(data, PacketKind::Header)?;
        let mut r = Reader::new(data, PacketKind::Header);
        let action = r.u32("action")?;
        let transaction_id = TransactionId(r.u32("transaction id")?);
        match action {
            ACTION_CONNECT => {
                r.set_packet(PacketKind::ConnectResponse);
                let connection_id = ConnectionId(r.u64("connection id")?);
                Ok(Self::Connect(ConnectResponse {
                    transaction_id,
                    connection_id,
                }))
            }
            ACTION_ANNOUNCE => {
                r.set_packet(PacketKind::AnnounceResponse);
                let interval = r.u32("interval")?;
                let leechers = r.u32("leechers")?;
                let seeders = r.u32("seeders")?;
                let raw = r.entries("peers", family.peer_len())?;
                let peers = raw
                    .chunks_exact(family.peer_len())
                    .map(|entry| decode_peer(entry, family))
                    .collect();
                Ok(Self::Announce(AnnounceResponse {
                    transaction_id,
                    interval,
                    leechers,
                    seeders,
                    peers,
                }))
            }
            ACTION_SCRAPE => {
                r.set_packet(PacketKind::ScrapeResponse);
                let raw = r.entries("torrent counts", 12)?;
                let stats = raw
                    .chunks_exact(12)
                    .map(|e| ScrapeStats {
                        seeders: be32(&e[0..4]),
                        completed: be32(&e[4..8]),
                        leechers: be32(&e[8..12]),
                    })
                    .collect();
                Ok(Self::Scrape(ScrapeResponse {
                    transaction_id,
                    stats,
                }))
            }
            ACTION_ERROR => Ok(Self::Error(ErrorResponse {
                transaction_id,
                message: String::from_utf8_lossy(r.rest()).into_owned(),
            })),
            action => Err(DecodeError::UnknownAction { action, offset: 0 }),
        }
    }

    /// Writes the packet. Peers not of `family` are left out of an announce response.
    pub fn encode(&self, family: AddressFamily, buf: &mut impl BufMut) {
        match self {
            Self::Connect(r) => {
                buf.put_u32(ACTION_CONNECT);
                buf.put_u32(r.transaction_id.0);
                buf.put_u64(r.connection_id.0);
            }
            Self::Announce(r) => {
                buf.put_u32(ACTION_ANNOUNCE);
                buf.put_u32(r.transaction_id.0);
                buf.put_u32(r.interval);
                buf.put_u32(r.leechers);
                buf.put_u32(r.seeders);
                encode_peers(&r.peers, family, buf);
            }
            Self::Scrape(r) => {
                buf.put_u32(ACTION_SCRAPE);
                buf.put_u32(r.transaction_id.0);
                for s in &r.stats {
                    buf.put_u32(s.seeders);
                    buf.put_u32(s.completed);
                    buf.put_u32(s.leechers);
                }
            }
            Self::Error(r) => {
                buf.put_u32(ACTION_ERROR);
                buf.put_u32(r.transaction_id.0);
                buf.put_slice(r.message.as_bytes());
            }
        }
    }
}

/// Writes the compact entries of the peers of `family`: address then port,
/// both big-endian.
pub(crate) fn encode_peers(peers: &[SocketAddr], family: AddressFamily, buf: &mut impl BufMut) {
    for peer in peers {
        match (peer, family) {
            (SocketAddr::V4(p), AddressFamily::V4) => {
                buf.put_slice(&p.ip().octets());
                buf.put_u16(p.port());
            }
            (SocketAddr::V6(p), AddressFamily::V6) => {
                buf.put_slice(&p.ip().octets());
                buf.put_u16(p.port());
            }
            _ => {}
        }
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn decode_peer(entry: &[u8], family: AddressFamily) -> SocketAddr {
    match family {
        AddressFamily::V4 => {
            let ip = Ipv4Addr::new(entry[0], entry[1], entry[2], entry[3]);
            SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be_bytes([entry[4], entry[5]]),
            ))
        }
        AddressFamily::V6 => {
            let mut octets = [0; 16];
            octets.copy_from_slice(&entry[..16]);
            let port = u16::from_be_bytes([entry[16], entry[17]]);
            SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(octets), port, 0, 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn peers(family: AddressFamily) -> impl Strategy<Value = Vec<SocketAddr>> {
        let one = match family {
            AddressFamily::V4 => (any::<[u8; 4]>(), any::<u16>())
                .prop_map(|(ip, port)| SocketAddr::from((ip, port)))
                .boxed(),
            AddressFamily::V6 => (any::<[u8; 16]>(), any::<u16>())
                .prop_map(|(ip, port)| SocketAddr::from((Ipv6Addr::from(ip), port)))
                .boxed(),
        };
        proptest::collection::vec(one, 0..200)
    }

    fn response(family: AddressFamily) -> impl Strategy<Value = Response> {
        prop_oneof![
            (any::<u32>(), any::<u64>()).prop_map(|(t, c)| Response::Connect(ConnectResponse {
                transaction_id: TransactionId(t),
                connection_id: ConnectionId(c),
            })),
            (any::<u32>(), any::<[u32; 3]>(), peers(family)).prop_map(|(t, [i, l, s], peers)| {
                Response::Announce(AnnounceResponse {
                    transaction_id: TransactionId(t),
                    interval: i,
                    leechers: l,
                    seeders: s,
                    peers,
                })
            }),
            (
                any::<u32>(),
                proptest::collection::vec(any::<[u32; 3]>(), 0..=74)
            )
                .prop_map(|(t, stats)| Response::Scrape(ScrapeResponse {
                    transaction_id: TransactionId(t),
                    stats: stats
                        .into_iter()
                        .map(|[seeders, completed, leechers]| ScrapeStats {
                            seeders,
                            completed,
                            leechers
                        })
                        .collect(),
                })),
            (any::<u32>(), ".{0,100}").prop_map(|(t, message)| Response::Error(ErrorResponse {
                transaction_id: TransactionId(t),
                message,
            })),
        ]
    }

    fn round_trip(response: &Response, family: AddressFamily) -> Response {
        let mut buf = Vec::new();
        response.encode(family, &mut buf);
        Response::decode(&buf, family).unwrap()
    }

    proptest! {
        #[test]
        fn every_ipv4_response_round_trips(r in response(AddressFamily::V4)) {
            prop_assert_eq!(round_trip(&r, AddressFamily::V4), r);
        }

        #[test]
        fn every_ipv6_response_round_trips(r in response(AddressFamily::V6)) {
            prop_assert_eq!(round_trip(&r, AddressFamily::V6), r);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Response::decode(&data, AddressFamily::V4);
            let _ = Response::decode(&data, AddressFamily::V6);
        }
    }

    #[test]
    fn opentrackers_bare_header_is_a_truncated_announce() {
        // opentracker's answer for an info-hash missing from its whitelist.
        let bare = [0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef];
        assert_eq!(
            Response::decode(&bare, AddressFamily::V4),
            Err(DecodeError::Truncated {
                packet: PacketKind::AnnounceResponse,
                field: "interval",
                offset: 8,
                len: 8,
            })
        );
        assert_eq!(
            Response::peek_header(&bare),
            Ok((ACTION_ANNOUNCE, TransactionId(0xdead_beef)))
        );
    }

    #[test]
    fn encoding_keeps_only_peers_of_the_requests_family() {
        let r = Response::Announce(AnnounceResponse {
            transaction_id: TransactionId(1),
            interval: 60,
            leechers: 1,
            seeders: 1,
            peers: vec![
                "127.0.0.1:6881".parse().unwrap(),
                "[::1]:6882".parse().unwrap(),
            ],
        });
        let mut v4 = Vec::new();
        r.encode(AddressFamily::V4, &mut v4);
        assert_eq!(v4.len(), 20 + 6);
        let mut v6 = Vec::new();
        r.encode(AddressFamily::V6, &mut v6);
        assert_eq!(v6.len(), 20 + 18);
        let Response::Announce(a) = Response::decode(&v6, AddressFamily::V6).unwrap() else {
            panic!("not an announce")
        };
        assert_eq!(a.peers, vec!["[::1]:6882".parse::<SocketAddr>().unwrap()]);
    }

    #[test]
    fn partial_peer_and_unknown_action_are_errors() {
        let mut buf = vec![0, 0, 0, 1, 0, 0, 0, 0];
        buf.extend_from_slice(&[0; 12 + 7]);
        assert!(matches!(
            Response::decode(&buf, AddressFamily::V4),
            Err(DecodeError::PartialEntry {
                entry: 6,
                len: 7,
                offset: 20,
                ..
            })
        ));
        assert_eq!(
            Response::decode(&[0, 0, 0, 7, 0, 0, 0, 0], AddressFamily::V4),
            Err(DecodeError::UnknownAction {
                action: 7,
                offset: 0
            })
        );
    }
}
