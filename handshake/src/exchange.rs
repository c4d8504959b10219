//! The handshake exchange over any transport.
//!
//! Reads exactly the handshake's bytes and not one more, so a message the
//! peer sent in the same segment (a bitfield, usually) stays in the transport
//! for the wire protocol.

use std::net::SocketAddr;

use bitswarm_core::InfoHashV1;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::message::{HANDSHAKE_LEN, PREFIX_LEN};
use crate::{Error, Handshake, HandshakePrefix};

async fn read_into<T: AsyncRead + Unpin>(
    io: &mut T,
    buf: &mut [u8],
    start: usize,
    addr: SocketAddr,
) -> Result<(), Error> {
    let mut at = start;
    while at < buf.len() {
        let n = io
            .read(&mut buf[at..])
            .await
            .map_err(|e| Error::io(Some(addr), e))?;
        if n == 0 {
            return Err(Error::Truncated {
                received: at,
                expected: HANDSHAKE_LEN,
            });
        }
        at += n;
        // Reject a wrong protocol string before waiting for the rest.
        HandshakePrefix::decode(&buf[..at])?;
    }
    Ok(())
}

/// Reads the first 48 bytes of the remote's handshake.
pub(crate) async fn read_prefix<T: AsyncRead + Unpin>(
    io: &mut T,
    buf: &mut [u8; HANDSHAKE_LEN],
    addr: SocketAddr,
) -> Result<HandshakePrefix, Error> {
    read_into(io, &mut buf[..PREFIX_LEN], 0, addr).await?;
    HandshakePrefix::decode(&buf[..PREFIX_LEN])?.ok_or(Error::Truncated {
        received: PREFIX_LEN,
        expected: HANDSHAKE_LEN,
    })
}

/// Reads the remaining 20 bytes (the peer id) after [`read_prefix`].
pub(crate) async fn read_rest<T: AsyncRead + Unpin>(
    io: &mut T,
    buf: &mut [u8; HANDSHAKE_LEN],
    addr: SocketAddr,
) -> Result<Handshake, Error> {
    read_into(io, &mut buf[..], PREFIX_LEN, addr).await?;
    Handshake::decode(&buf[..])?.ok_or(Error::Truncated {
        received: PREFIX_LEN,
        expected: HANDSHAKE_LEN,
    })
}

/// Sends our handshake.
pub(crate) async fn send<T: AsyncWrite + Unpin>(
    io: &mut T,
    ours: &Handshake,
    addr: SocketAddr,
) -> Result<(), Error> {
    io.write_all(&ours.to_bytes())
        .await
        .map_err(|e| Error::io(Some(addr), e))?;
    io.flush().await.map_err(|e| Error::io(Some(addr), e))
}

/// The initiator's side in one call: sends `ours`, reads the reply and checks
/// that it names the same torrent. Returns the remote's handshake.
pub async fn initiate<T: AsyncRead + AsyncWrite + Unpin>(
    io: &mut T,
    ours: &Handshake,
    addr: SocketAddr,
) -> Result<Handshake, Error> {
    send(io, ours, addr).await?;
    let mut buf = [0u8; HANDSHAKE_LEN];
    let prefix = read_prefix(io, &mut buf, addr).await?;
    check_same_torrent(ours.info_hash, prefix.info_hash)?;
    read_rest(io, &mut buf, addr).await
}

fn check_same_torrent(expected: InfoHashV1, found: InfoHashV1) -> Result<(), Error> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::InfoHashMismatch { expected, found })
    }
}
