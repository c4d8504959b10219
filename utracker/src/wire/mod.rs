//! BEP 15 packets and BEP 41 options: parsed with `nom`, encoded into `BufMut`.
//!
//! Requests travel client → tracker, responses tracker → client. Every packet
//! starts with a header naming its action (connect 0, announce 1, scrape 2,
//! error 3) and a transaction id the client chose.

mod options;
mod request;
mod response;

use std::net::SocketAddr;

use nom::IResult;
use nom::number::complete::{be_i32, be_u16, be_u32, be_u64};

use crate::error::{DecodeError, PacketKind};

pub use options::{MAX_URL_DATA, UrlData};
pub use request::{AnnounceEvent, AnnounceRequest, ConnectRequest, Request, ScrapeRequest};
pub(crate) use response::encode_peers;
pub use response::{
    AnnounceResponse, ConnectResponse, ErrorResponse, Response, ScrapeResponse, ScrapeStats,
};

/// The magic constant that opens every connect request (BEP 15).
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;

/// The most info-hashes one scrape request may carry (BEP 15: "up to about 74").
pub const MAX_SCRAPE_HASHES: usize = 74;

/// The largest UDP payload; no valid packet is longer.
pub const MAX_DATAGRAM: usize = 65_507;

pub(crate) const ACTION_CONNECT: u32 = 0;
pub(crate) const ACTION_ANNOUNCE: u32 = 1;
pub(crate) const ACTION_SCRAPE: u32 = 2;
pub(crate) const ACTION_ERROR: u32 = 3;

/// A 32-bit transaction id, chosen at random by the client and echoed by the tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(pub u32);

/// A 64-bit connection id, handed out by the tracker in a connect response
/// and proven in every announce and scrape (BEP 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectionId(pub u64);

/// The address family of a datagram. BEP 15: a tracker answers an announce
/// that came over IPv4 with 6-byte peers and one that came over IPv6 with
/// 18-byte peers, so a response can only be read knowing which it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressFamily {
    /// IPv4: peers are 4 address bytes and a port.
    V4,
    /// IPv6: peers are 16 address bytes and a port.
    V6,
}

impl AddressFamily {
    /// The family of `addr`. An IPv4-mapped IPv6 address counts as IPv6,
    /// since that is the socket it came through.
    pub fn of(addr: &SocketAddr) -> Self {
        match addr {
            SocketAddr::V4(_) => Self::V4,
            SocketAddr::V6(_) => Self::V6,
        }
    }

    /// The size of one compact peer entry in this family.
    pub fn peer_len(self) -> usize {
        match self {
            Self::V4 => 6,
            Self::V6 => 18,
        }
    }
}

/// Reads fields from a datagram with `nom`, turning a short input into a
/// [`DecodeError::Truncated`] that names the packet, the field and its offset.
pub(crate) struct Reader<'a> {
    input: &'a [u8],
    len: usize,
    packet: PacketKind,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8], packet: PacketKind) -> Self {
        Self {
            input,
            len: input.len(),
            packet,
        }
    }

    pub(crate) fn offset(&self) -> usize {
        self.len - self.input.len()
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.input
    }

    pub(crate) fn set_packet(&mut self, packet: PacketKind) {
        self.packet = packet;
    }

    pub(crate) fn packet(&self) -> PacketKind {
        self.packet
    }

    fn field<T>(
        &mut self,
        name: &'static str,
        parser: impl Fn(&'a [u8]) -> IResult<&'a [u8], T>,
    ) -> Result<T, DecodeError> {
        match parser(self.input) {
            Ok((rest, value)) => {
                self.input = rest;
                Ok(value)
            }
            Err(_) => Err(DecodeError::Truncated {
                packet: self.packet,
                field: name,
                offset: self.offset(),
                len: self.len,
            }),
        }
    }

    pub(crate) fn u16(&mut self, name: &'static str) -> Result<u16, DecodeError> {
        self.field(name, be_u16)
    }

    pub(crate) fn u32(&mut self, name: &'static str) -> Result<u32, DecodeError> {
        self.field(name, be_u32)
    }

    pub(crate) fn i32(&mut self, name: &'static str) -> Result<i32, DecodeError> {
        self.field(name, be_i32)
    }

    pub(crate) fn u64(&mut self, name: &'static str) -> Result<u64, DecodeError> {
        self.field(name, be_u64)
    }

    pub(crate) fn u8(&mut self, name: &'static str) -> Result<u8, DecodeError> {
        self.field(name, nom::number::complete::u8)
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        name: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        let bytes = self.bytes(name, N)?;
        let mut out = [0; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn bytes(&mut self, name: &'static str, n: usize) -> Result<&'a [u8], DecodeError> {
        self.field(name, nom::bytes::complete::take(n))
    }

    /// The rest of the input as a list of `entry`-byte entries.
    pub(crate) fn entries(
        &mut self,
        name: &'static str,
        entry: usize,
    ) -> Result<&'a [u8], DecodeError> {
        let rest = self.input;
        if rest.len() % entry != 0 {
            return Err(DecodeError::PartialEntry {
                packet: self.packet,
                field: name,
                offset: self.offset(),
                len: rest.len(),
                entry,
            });
        }
        self.input = &[];
        Ok(rest)
    }
}

/// Checks the overall size before any parsing.
pub(crate) fn check_len(data: &[u8], packet: PacketKind) -> Result<(), DecodeError> {
    if data.len() > MAX_DATAGRAM {
        return Err(DecodeError::Oversized {
            packet,
            field: "datagram",
            len: data.len(),
            max: MAX_DATAGRAM,
        });
    }
    Ok(())
}
