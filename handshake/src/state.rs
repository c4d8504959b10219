//! The handshake as sans-IO typestates: each state accepts bytes (never more
//! than it needs, so what follows the handshake stays with the caller) and
//! moves to the next state by value, so a step cannot be skipped or repeated.
//!
//! ```text
//! initiator:  Initiator::start(ours) ─▶ send bytes ─▶ AwaitingReply ─▶ Handshake
//! responder:  AwaitingPrefix ─▶ PrefixReceived ─accept(ours)─▶ send bytes ─▶ AwaitingPeerId ─▶ Handshake
//! ```

use crate::message::{HANDSHAKE_LEN, PREFIX_LEN};
use crate::{Error, Extensions, Handshake, HandshakePrefix};
use bitswarm_core::PeerId;

/// The outcome of feeding bytes to a state.
#[derive(Debug)]
pub enum Step<S, N> {
    /// More bytes are needed; the state comes back.
    Continue(S),
    /// The state is complete.
    Next(N),
}

#[derive(Clone, Debug)]
struct Received {
    buf: [u8; HANDSHAKE_LEN],
    len: usize,
}

impl Received {
    const fn new() -> Self {
        Self {
            buf: [0; HANDSHAKE_LEN],
            len: 0,
        }
    }

    /// Takes up to `until - len` bytes of `input`; checks the protocol string
    /// as it arrives. Returns the bytes taken.
    fn take(&mut self, input: &[u8], until: usize) -> Result<usize, Error> {
        let n = input.len().min(until - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&input[..n]);
        self.len += n;
        HandshakePrefix::decode(&self.buf[..self.len])?;
        Ok(n)
    }
}

/// The side that connects: it sends its handshake first (BEP 3).
#[derive(Debug)]
pub struct Initiator;

impl Initiator {
    /// Starts a handshake: returns the bytes to send and the state that reads
    /// the reply.
    pub fn start(ours: Handshake) -> ([u8; HANDSHAKE_LEN], AwaitingReply) {
        (
            ours.to_bytes(),
            AwaitingReply {
                ours,
                received: Received::new(),
            },
        )
    }
}

/// The initiator, waiting for the remote's handshake.
#[derive(Clone, Debug)]
pub struct AwaitingReply {
    ours: Handshake,
    received: Received,
}

impl AwaitingReply {
    /// How many more bytes the state may take.
    pub fn wanted(&self) -> usize {
        HANDSHAKE_LEN - self.received.len
    }

    /// Feeds bytes; returns the state or the remote's handshake, and how many
    /// bytes of `input` were used. The info-hash must be the one we sent;
    /// a peer id equal to ours means we reached ourselves.
    pub fn handle_input(self, input: &[u8]) -> Result<(Step<Self, Handshake>, usize), Error> {
        let mut this = self;
        let used = this.received.take(input, HANDSHAKE_LEN)?;
        if this.received.len >= PREFIX_LEN {
            let prefix = HandshakePrefix::decode(&this.received.buf[..PREFIX_LEN])?;
            if let Some(p) = prefix
                && p.info_hash != this.ours.info_hash
            {
                return Err(Error::InfoHashMismatch {
                    expected: this.ours.info_hash,
                    found: p.info_hash,
                });
            }
        }
        match Handshake::decode(&this.received.buf[..this.received.len])? {
            Some(theirs) => {
                check_not_ourselves(this.ours.peer_id, theirs.peer_id)?;
                Ok((Step::Next(theirs), used))
            }
            None => Ok((Step::Continue(this), used)),
        }
    }
}

fn check_not_ourselves(ours: PeerId, theirs: PeerId) -> Result<(), Error> {
    if ours == theirs {
        Err(Error::SelfConnection)
    } else {
        Ok(())
    }
}

/// The side that accepted: it reads up to the info-hash before answering.
#[derive(Clone, Debug)]
pub struct AwaitingPrefix {
    received: Received,
}

impl Default for AwaitingPrefix {
    fn default() -> Self {
        Self::new()
    }
}

impl AwaitingPrefix {
    /// A responder that has read nothing yet.
    pub const fn new() -> Self {
        Self {
            received: Received::new(),
        }
    }

    /// How many more bytes the state may take.
    pub fn wanted(&self) -> usize {
        PREFIX_LEN - self.received.len
    }

    /// Feeds bytes until the info-hash is known.
    pub fn handle_input(self, input: &[u8]) -> Result<(Step<Self, PrefixReceived>, usize), Error> {
        let mut this = self;
        let used = this.received.take(input, PREFIX_LEN)?;
        match HandshakePrefix::decode(&this.received.buf[..this.received.len])? {
            Some(prefix) => Ok((
                Step::Next(PrefixReceived {
                    prefix,
                    received: this.received,
                }),
                used,
            )),
            None => Ok((Step::Continue(this), used)),
        }
    }
}

/// The responder knows the torrent: it either answers with
/// [`accept`](Self::accept) or drops the connection.
#[derive(Clone, Debug)]
pub struct PrefixReceived {
    prefix: HandshakePrefix,
    received: Received,
}

impl PrefixReceived {
    /// The info-hash and reserved bits the remote sent.
    pub fn prefix(&self) -> HandshakePrefix {
        self.prefix
    }

    /// Answers with our handshake (same info-hash, `extensions`, `peer_id`);
    /// returns the bytes to send and the state that reads the peer id.
    pub fn accept(
        self,
        extensions: Extensions,
        peer_id: PeerId,
    ) -> ([u8; HANDSHAKE_LEN], AwaitingPeerId) {
        let ours = Handshake {
            extensions,
            info_hash: self.prefix.info_hash,
            peer_id,
        };
        (
            ours.to_bytes(),
            AwaitingPeerId {
                ours: peer_id,
                received: self.received,
            },
        )
    }
}

/// The responder, waiting for the remote's peer id.
#[derive(Clone, Debug)]
pub struct AwaitingPeerId {
    ours: PeerId,
    received: Received,
}

impl AwaitingPeerId {
    /// How many more bytes the state may take.
    pub fn wanted(&self) -> usize {
        HANDSHAKE_LEN - self.received.len
    }

    /// Feeds bytes until the handshake is complete.
    pub fn handle_input(self, input: &[u8]) -> Result<(Step<Self, Handshake>, usize), Error> {
        let mut this = self;
        let used = this.received.take(input, HANDSHAKE_LEN)?;
        match Handshake::decode(&this.received.buf[..this.received.len])? {
            Some(theirs) => {
                check_not_ourselves(this.ours, theirs.peer_id)?;
                Ok((Step::Next(theirs), used))
            }
            None => Ok((Step::Continue(this), used)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitswarm_core::InfoHashV1;

    fn hs(id: u8, hash: u8) -> Handshake {
        Handshake {
            extensions: Extensions::BITSWARM,
            info_hash: InfoHashV1([hash; 20]),
            peer_id: PeerId([id; 20]),
        }
    }

    /// Runs both sides against each other, delivering `chunk` bytes at a time.
    fn run(a: Handshake, b_id: PeerId, chunk: usize) -> Result<(Handshake, Handshake), Error> {
        let (to_b, mut init) = Initiator::start(a);
        let mut resp = AwaitingPrefix::new();
        let mut fed = 0;
        let prefix = loop {
            let end = (fed + chunk).min(to_b.len());
            match resp.handle_input(&to_b[fed..end])? {
                (Step::Continue(s), used) => {
                    resp = s;
                    fed += used;
                }
                (Step::Next(p), used) => {
                    fed += used;
                    break p;
                }
            }
        };
        assert_eq!(
            fed, PREFIX_LEN,
            "the responder reads no further than the info-hash"
        );
        let (to_a, mut waiting) = prefix.accept(Extensions::BITSWARM, b_id);
        let seen_by_b = loop {
            let end = (fed + chunk).min(to_b.len());
            match waiting.handle_input(&to_b[fed..end])? {
                (Step::Continue(s), used) => {
                    waiting = s;
                    fed += used;
                }
                (Step::Next(h), _) => break h,
            }
        };
        let mut got = 0;
        // Extra bytes after the handshake are left alone.
        let mut stream = to_a.to_vec();
        stream.extend_from_slice(b"\x00\x00\x00\x00");
        let seen_by_a = loop {
            let end = (got + chunk).min(stream.len());
            match init.handle_input(&stream[got..end])? {
                (Step::Continue(s), used) => {
                    init = s;
                    got += used;
                }
                (Step::Next(h), used) => {
                    assert_eq!(got + used, HANDSHAKE_LEN);
                    break h;
                }
            }
        };
        Ok((seen_by_a, seen_by_b))
    }

    #[test]
    fn both_sides_complete_at_any_chunk_size() {
        for chunk in 1..=70 {
            let (a, b) = run(hs(1, 7), PeerId([2; 20]), chunk).unwrap();
            assert_eq!(a.peer_id, PeerId([2; 20]));
            assert_eq!(b, hs(1, 7));
        }
    }

    #[test]
    fn ourselves_is_refused() {
        assert!(matches!(
            run(hs(1, 7), PeerId([1; 20]), 68),
            Err(Error::SelfConnection)
        ));
    }

    #[test]
    fn another_torrent_in_the_reply_is_refused() {
        let (_, init) = Initiator::start(hs(1, 7));
        let reply = hs(2, 8).to_bytes();
        assert!(matches!(
            init.handle_input(&reply[..50]),
            Err(Error::InfoHashMismatch { .. })
        ));
    }
}
