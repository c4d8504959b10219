//! Drives the sans-IO handshake states over any transport: reads at most
//! what the state wants, so a message the peer sent in the same segment (a
//! bitfield, usually) stays in the transport for the wire protocol.

use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::message::{HANDSHAKE_LEN, PREFIX_LEN};
use crate::state::{AwaitingPeerId, AwaitingPrefix, AwaitingReply, Initiator, Step};
use crate::{Error, Handshake};

/// A state that takes bytes.
pub(crate) trait Feed: Sized {
    type Next;
    /// Bytes the state may still take.
    fn wanted(&self) -> usize;
    /// Bytes the whole exchange has received once this state is done.
    fn goal(&self) -> usize;
    fn feed(self, input: &[u8]) -> Result<(Step<Self, Self::Next>, usize), Error>;
}

macro_rules! feed {
    ($state:ty, $next:ty, $goal:expr) => {
        impl Feed for $state {
            type Next = $next;
            fn wanted(&self) -> usize {
                <$state>::wanted(self)
            }
            fn goal(&self) -> usize {
                $goal
            }
            fn feed(self, input: &[u8]) -> Result<(Step<Self, $next>, usize), Error> {
                self.handle_input(input)
            }
        }
    };
}

feed!(AwaitingReply, Handshake, HANDSHAKE_LEN);
feed!(AwaitingPrefix, crate::state::PrefixReceived, PREFIX_LEN);
feed!(AwaitingPeerId, Handshake, HANDSHAKE_LEN);

/// Reads into `state` until it completes.
pub(crate) async fn drive<T: AsyncRead + Unpin, S: Feed>(
    io: &mut T,
    mut state: S,
    addr: SocketAddr,
) -> Result<S::Next, Error> {
    let mut buf = [0u8; HANDSHAKE_LEN];
    loop {
        let want = state.wanted();
        let n = io
            .read(&mut buf[..want])
            .await
            .map_err(|e| Error::io(Some(addr), e))?;
        if n == 0 {
            return Err(Error::Truncated {
                received: state.goal() - want,
                expected: HANDSHAKE_LEN,
            });
        }
        match state.feed(&buf[..n])? {
            (Step::Continue(s), _) => state = s,
            (Step::Next(next), _) => return Ok(next),
        }
    }
}

/// Sends our handshake bytes.
pub(crate) async fn send<T: AsyncWrite + Unpin>(
    io: &mut T,
    bytes: &[u8],
    addr: SocketAddr,
) -> Result<(), Error> {
    io.write_all(bytes)
        .await
        .map_err(|e| Error::io(Some(addr), e))?;
    io.flush().await.map_err(|e| Error::io(Some(addr), e))
}

/// The initiator's side in one call: sends `ours`, reads the reply and checks
/// that it names the same torrent and is not ourselves. Returns the remote's
/// handshake; the transport is left just after it.
pub async fn initiate<T: AsyncRead + AsyncWrite + Unpin>(
    io: &mut T,
    ours: &Handshake,
    addr: SocketAddr,
) -> Result<Handshake, Error> {
    let (bytes, state) = Initiator::start(*ours);
    send(io, &bytes, addr).await?;
    drive(io, state, addr).await
}
