//! Behaviours of the selector one at a time, through its public interface.

use std::time::{Duration, Instant};

use bitswarm_core::{BLOCK_SIZE, Bitfield, BlockRef, PieceIndex};
use bitswarm_select::{
    Action, BlockOutcome, Error, MAX_PIECES, PeerKey, PeerOptions, PieceLayout, Priority,
    RevealMode, Revelation, SelectConfig, Selector, Sequential,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

const A: PeerKey = PeerKey(1);
const B: PeerKey = PeerKey(2);
const C: PeerKey = PeerKey(3);

fn selector(pieces: u32, blocks_per_piece: u32, config: SelectConfig) -> Selector<StdRng> {
    let len = blocks_per_piece * BLOCK_SIZE;
    let layout = PieceLayout::new(u64::from(pieces) * u64::from(len), len).unwrap();
    Selector::new(config, layout, StdRng::seed_from_u64(42)).unwrap()
}

fn drain(sel: &mut Selector<StdRng>, now: Instant) -> Vec<Action> {
    std::iter::from_fn(|| sel.poll_action(now)).collect()
}

fn requests(actions: &[Action]) -> Vec<(PeerKey, BlockRef)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Request { peer, block } => Some((*peer, *block)),
            _ => None,
        })
        .collect()
}

fn bitfield(pieces: u32, set: &[u32]) -> Bitfield {
    let mut bf = Bitfield::new(pieces);
    for &p in set {
        bf.set(PieceIndex(p), true).unwrap();
    }
    bf
}

#[test]
fn availability_counts_bitfields_haves_seeds_and_disconnects() {
    let t = Instant::now();
    let mut sel = selector(4, 1, SelectConfig::default());
    for k in [A, B, C] {
        sel.add_peer(t, k, PeerOptions::fast(true)).unwrap();
    }
    sel.peer_bitfield(A, &bitfield(4, &[0, 1])).unwrap();
    sel.peer_have(B, PieceIndex(1)).unwrap();
    sel.peer_have(B, PieceIndex(1)).unwrap(); // a repeated have counts once
    sel.peer_have_all(C).unwrap();
    let avail = |sel: &Selector<StdRng>| -> Vec<u32> {
        (0..4).map(|p| sel.availability(PieceIndex(p))).collect()
    };
    assert_eq!(avail(&sel), [2, 3, 1, 1]);
    // A second bitfield replaces the first.
    sel.peer_bitfield(A, &bitfield(4, &[3])).unwrap();
    assert_eq!(avail(&sel), [1, 2, 1, 2]);
    sel.remove_peer(t, C).unwrap();
    assert_eq!(avail(&sel), [0, 1, 0, 1]);
    sel.peer_have_none(A).unwrap();
    assert_eq!(avail(&sel), [0, 1, 0, 0]);
}

#[test]
fn hostile_input_is_refused_without_changing_state() {
    let t = Instant::now();
    let mut sel = selector(10, 2, SelectConfig::default());
    sel.add_peer(t, A, PeerOptions::default()).unwrap();
    assert_eq!(
        sel.add_peer(t, A, PeerOptions::default()),
        Err(Error::DuplicatePeer { peer: A })
    );
    assert!(matches!(
        sel.peer_bitfield(A, &Bitfield::new(11)),
        Err(Error::InvalidBitfield { peer: A, .. })
    ));
    assert_eq!(
        sel.peer_have(A, PieceIndex(10)),
        Err(Error::PieceOutOfRange {
            peer: Some(A),
            piece: 10,
            pieces: 10
        })
    );
    assert!(sel.peer_suggest(A, PieceIndex(99)).is_err());
    assert!(sel.peer_allowed_fast(A, PieceIndex(99)).is_err());
    let odd = BlockRef {
        piece: PieceIndex(0),
        offset: 100,
        length: BLOCK_SIZE,
    };
    assert_eq!(
        sel.block_received(t, A, odd),
        Err(Error::BlockOutOfRange {
            peer: A,
            block: odd
        })
    );
    assert_eq!(
        sel.peer_have(B, PieceIndex(0)),
        Err(Error::UnknownPeer { peer: B })
    );
    assert_eq!(sel.availability(PieceIndex(0)), 0);
    // A block nobody asked for is reported, not taken.
    let block = BlockRef {
        piece: PieceIndex(0),
        offset: 0,
        length: BLOCK_SIZE,
    };
    assert_eq!(
        sel.block_received(t, A, block),
        Ok(BlockOutcome::Unrequested)
    );
    assert_eq!(sel.stats().completed, 0);
}

#[test]
fn limits_are_enforced() {
    let t = Instant::now();
    let mut config = SelectConfig::default();
    config.max_peers = 2;
    let mut sel = selector(4, 1, config);
    sel.add_peer(t, A, PeerOptions::default()).unwrap();
    sel.add_peer(t, B, PeerOptions::default()).unwrap();
    assert_eq!(
        sel.add_peer(t, C, PeerOptions::default()),
        Err(Error::TooManyPeers { limit: 2 })
    );
    let mut bad = SelectConfig::default();
    bad.min_pipeline = 0;
    let layout = PieceLayout::new(100, 10).unwrap();
    assert!(Selector::new(bad, layout, StdRng::seed_from_u64(0)).is_err());
    let huge = PieceLayout::new((u64::from(MAX_PIECES) + 1) * 16, 16).unwrap();
    assert!(matches!(
        Selector::new(SelectConfig::default(), huge, StdRng::seed_from_u64(0)),
        Err(Error::InvalidConfig { .. })
    ));
}

#[test]
fn pipeline_grows_with_the_peer_rate() {
    let t = Instant::now();
    let mut sel = selector(200, 16, SelectConfig::default());
    sel.add_peer(t, A, PeerOptions::fast(true)).unwrap();
    sel.peer_have_all(A).unwrap();
    sel.peer_unchoked_us(t, A).unwrap();
    let first = requests(&drain(&mut sel, t));
    assert_eq!(first.len(), 4, "a peer without a rate gets the minimum");
    // Serve 1 MiB/s for ten seconds: 3 s of it is 192 blocks.
    let mut now = t;
    for step in 0..640u32 {
        now = t + Duration::from_millis(u64::from(step) * 1000 / 64);
        let block = sel.requests_of(A).next().unwrap();
        sel.block_received(now, A, block).unwrap();
        drain(&mut sel, now);
    }
    let in_flight = sel.requests_of(A).count();
    assert!(
        (60..=250).contains(&in_flight),
        "pipeline {in_flight} for a peer at ~0.5 MiB/s over the 20 s window"
    );
    let _ = now;
}

#[test]
fn partial_pieces_are_finished_first_and_priorities_hold() {
    let t = Instant::now();
    let mut sel = selector(8, 8, SelectConfig::default());
    sel.set_piece_priority(PieceIndex(5), Priority::MAX)
        .unwrap();
    sel.set_piece_priority(PieceIndex(6), Priority::SKIP)
        .unwrap();
    sel.add_peer(t, A, PeerOptions::fast(true)).unwrap();
    sel.add_peer(t, B, PeerOptions::fast(true)).unwrap();
    sel.peer_have_all(A).unwrap();
    sel.peer_have_all(B).unwrap();
    sel.peer_unchoked_us(t, A).unwrap();
    let a = requests(&drain(&mut sel, t));
    // The top-priority piece comes first.
    assert!(a.iter().all(|(_, b)| b.piece == PieceIndex(5)), "{a:?}");
    // B continues the partial piece 5 rather than starting another.
    sel.peer_unchoked_us(t, B).unwrap();
    let b = requests(&drain(&mut sel, t));
    assert!(b.iter().all(|(_, blk)| blk.piece == PieceIndex(5)), "{b:?}");
    // Skipped pieces are never requested, even as the download proceeds.
    let mut now = t;
    for _ in 0..200 {
        now += Duration::from_millis(10);
        for k in [A, B] {
            let next = sel.requests_of(k).next();
            if let Some(block) = next {
                if sel.block_received(now, k, block).unwrap()
                    == (BlockOutcome::Accepted {
                        piece_complete: true,
                    })
                {
                    sel.piece_verified(now, block.piece, true).unwrap();
                }
            }
        }
        for (_, block) in requests(&drain(&mut sel, now)) {
            assert_ne!(block.piece, PieceIndex(6));
        }
    }
    assert!(sel.is_complete());
    assert!(!sel.has_piece(PieceIndex(6)));
    assert!(!sel.is_seed());
}

#[test]
fn file_priorities_map_onto_pieces() {
    let t = Instant::now();
    let mut sel = selector(4, 1, SelectConfig::default());
    let piece = u64::from(BLOCK_SIZE);
    // Three files: [0, 1.5 pieces) skipped, [1.5, 3) wanted, [3, 4) skipped.
    sel.set_file_priorities(
        &[piece * 3 / 2, piece * 3 / 2, piece],
        &[Priority::SKIP, Priority::NORMAL, Priority::SKIP],
    )
    .unwrap();
    sel.add_peer(t, A, PeerOptions::fast(true)).unwrap();
    sel.peer_have_all(A).unwrap();
    sel.peer_unchoked_us(t, A).unwrap();
    let mut pieces: Vec<u32> = requests(&drain(&mut sel, t))
        .iter()
        .map(|(_, b)| b.piece.0)
        .collect();
    pieces.sort_unstable();
    assert_eq!(pieces, [1, 2]);
    assert!(
        sel.set_file_priorities(&[1], &[Priority::NORMAL]).is_err(),
        "lengths must add up"
    );
}

#[test]
fn sequential_follows_the_window() {
    let t = Instant::now();
    let mut sel = selector(64, 1, SelectConfig::default());
    sel.set_strategy(Box::new(Sequential {
        window: 4,
        fallback_rarest: false,
    }));
    sel.add_peer(t, A, PeerOptions::fast(true)).unwrap();
    sel.peer_have_all(A).unwrap();
    sel.peer_unchoked_us(t, A).unwrap();
    let got: Vec<u32> = requests(&drain(&mut sel, t))
        .iter()
        .map(|(_, b)| b.piece.0)
        .collect();
    assert_eq!(got, [0, 1, 2, 3]);
}

#[test]
fn endgame_duplicates_the_last_blocks_and_cancels_them() {
    let t = Instant::now();
    let mut sel = selector(1, 2, SelectConfig::default());
    sel.add_peer(t, A, PeerOptions::fast(true)).unwrap();
    sel.add_peer(t, B, PeerOptions::fast(true)).unwrap();
    sel.peer_have_all(A).unwrap();
    sel.peer_have_all(B).unwrap();
    sel.peer_unchoked_us(t, A).unwrap();
    let a = requests(&drain(&mut sel, t));
    assert_eq!(a.len(), 2);
    assert!(sel.is_endgame());
    sel.peer_unchoked_us(t, B).unwrap();
    let b = requests(&drain(&mut sel, t));
    assert_eq!(b.len(), 2, "endgame asks B for the same blocks");
    // A delivers the first block: B's copy is cancelled.
    sel.block_received(t, A, a[0].1).unwrap();
    let actions = drain(&mut sel, t);
    assert!(actions.contains(&Action::Cancel {
        peer: B,
        block: a[0].1
    }));
    // B delivers the second: A's copy is cancelled, the piece is complete.
    assert_eq!(
        sel.block_received(t, B, a[1].1),
        Ok(BlockOutcome::Accepted {
            piece_complete: true
        })
    );
    let actions = drain(&mut sel, t);
    assert!(actions.contains(&Action::Cancel {
        peer: A,
        block: a[1].1
    }));
    sel.piece_verified(t, PieceIndex(0), true).unwrap();
    let actions = drain(&mut sel, t);
    assert!(actions.contains(&Action::NotInterested { peer: A }));
    assert_eq!(sel.stats().requests_in_flight, 0);
}

#[test]
fn a_failed_hash_check_downloads_the_piece_again() {
    let t = Instant::now();
    let mut sel = selector(1, 1, SelectConfig::default());
    sel.add_peer(t, A, PeerOptions::fast(true)).unwrap();
    sel.peer_have_all(A).unwrap();
    sel.peer_unchoked_us(t, A).unwrap();
    let r = requests(&drain(&mut sel, t));
    sel.block_received(t, A, r[0].1).unwrap();
    sel.piece_verified(t, PieceIndex(0), false).unwrap();
    let again = requests(&drain(&mut sel, t));
    assert_eq!(again, r);
}

#[test]
fn rejects_and_choke_return_blocks_to_other_peers() {
    let t = Instant::now();
    let mut config = SelectConfig::default();
    config.min_pipeline = 2;
    let mut sel = selector(4, 2, config);
    // A without BEP 6: a choke drops its requests.
    sel.add_peer(t, A, PeerOptions::fast(false)).unwrap();
    sel.peer_bitfield(A, &Bitfield::full(4)).unwrap();
    sel.peer_unchoked_us(t, A).unwrap();
    let a = requests(&drain(&mut sel, t));
    sel.peer_choked_us(t, A).unwrap();
    assert_eq!(sel.requests_of(A).count(), 0);
    sel.add_peer(t, B, PeerOptions::fast(true)).unwrap();
    sel.peer_have_all(B).unwrap();
    sel.peer_unchoked_us(t, B).unwrap();
    let b = requests(&drain(&mut sel, t));
    assert_eq!(
        a.iter().map(|r| r.1).collect::<Vec<_>>(),
        b.iter().map(|r| r.1).collect::<Vec<_>>(),
        "B picks up exactly the blocks A dropped (partial pieces first)"
    );
    // B rejects one (BEP 6): it is not asked of B again outside endgame.
    sel.peer_rejected(t, B, b[0].1).unwrap();
    let after = requests(&drain(&mut sel, t));
    assert!(after.iter().all(|(_, blk)| blk.piece != b[0].1.piece));
}

#[test]
fn allowed_fast_pieces_are_requested_while_choked() {
    let t = Instant::now();
    let mut sel = selector(16, 1, SelectConfig::default());
    sel.add_peer(t, A, PeerOptions::fast(true)).unwrap();
    sel.peer_have_all(A).unwrap();
    assert!(requests(&drain(&mut sel, t)).is_empty(), "choked");
    sel.peer_allowed_fast(A, PieceIndex(9)).unwrap();
    let r = requests(&drain(&mut sel, t));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].1.piece, PieceIndex(9));
    // Suggested pieces go before the strategy once unchoked.
    sel.peer_suggest(A, PieceIndex(13)).unwrap();
    sel.peer_unchoked_us(t, A).unwrap();
    let r = requests(&drain(&mut sel, t));
    assert_eq!(r[0].1.piece, PieceIndex(13));
}

#[test]
fn revelation_modes() {
    let t = Instant::now();
    // Nothing to show.
    let mut sel = selector(16, 1, SelectConfig::default());
    assert_eq!(
        sel.add_peer(t, A, PeerOptions::fast(false)).unwrap(),
        Revelation::Nothing
    );
    assert_eq!(
        sel.add_peer(t, B, PeerOptions::fast(true)).unwrap(),
        Revelation::HaveNone
    );
    // A seed with BEP 6 says have-all.
    let mut seed = selector(16, 1, SelectConfig::default());
    seed.set_have(&Bitfield::full(16)).unwrap();
    assert_eq!(
        seed.add_peer(t, A, PeerOptions::fast(true)).unwrap(),
        Revelation::HaveAll
    );
    // Lazy: the bitfield lacks some pieces, sent right after as haves.
    let mut config = SelectConfig::default();
    config.reveal = RevealMode::Lazy { withheld: 3 };
    let mut lazy = selector(16, 1, config);
    lazy.set_have(&bitfield(16, &[0, 2, 4, 6, 8, 10])).unwrap();
    let Revelation::Bitfield(shown) = lazy.add_peer(t, A, PeerOptions::fast(true)).unwrap() else {
        panic!("a bitfield");
    };
    let haves: Vec<PieceIndex> = drain(&mut lazy, t)
        .into_iter()
        .filter_map(|a| match a {
            Action::Have { piece, .. } => Some(piece),
            _ => None,
        })
        .collect();
    assert_eq!(shown.count_ones() + haves.len() as u32, 6);
    assert!(!haves.is_empty());
    for p in &haves {
        assert!(!shown.get(*p) && lazy.has_piece(*p));
    }
}

#[test]
fn super_seeding_reveals_one_piece_at_a_time() {
    let t = Instant::now();
    let mut config = SelectConfig::default();
    config.reveal = RevealMode::SuperSeed;
    let mut sel = selector(8, 1, config);
    sel.set_have(&Bitfield::full(8)).unwrap();
    let shown = |sel: &mut Selector<StdRng>| -> Vec<(PeerKey, PieceIndex)> {
        drain(sel, t)
            .into_iter()
            .filter_map(|a| match a {
                Action::Have { peer, piece } => Some((peer, piece)),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        sel.add_peer(t, A, PeerOptions::fast(true)).unwrap(),
        Revelation::HaveNone
    );
    sel.peer_have_none(A).unwrap();
    let to_a = shown(&mut sel);
    assert_eq!(to_a.len(), 1);
    sel.add_peer(t, B, PeerOptions::fast(true)).unwrap();
    sel.peer_have_none(B).unwrap();
    let to_b = shown(&mut sel);
    assert_eq!(to_b.len(), 1);
    assert_ne!(to_a[0].1, to_b[0].1, "different peers see different pieces");
    // A downloads its piece: B has not got it, so A waits (BEP 16).
    sel.peer_have(A, to_a[0].1).unwrap();
    assert!(shown(&mut sel).is_empty());
    // B announces A's piece: A passed it on, and gets the next one.
    sel.peer_have(B, to_a[0].1).unwrap();
    let next = shown(&mut sel);
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].0, A);
    assert_ne!(next[0].1, to_a[0].1);
}

#[test]
fn choking_unchokes_interested_peers_and_rotates() {
    let t = Instant::now();
    let mut config = SelectConfig::default();
    config.upload_slots = 2;
    let mut sel = selector(4, 1, config);
    sel.set_have(&bitfield(4, &[0])).unwrap();
    for k in 1..=5 {
        sel.add_peer(t, PeerKey(k), PeerOptions::fast(true))
            .unwrap();
        sel.peer_interested(t, PeerKey(k)).unwrap();
    }
    let unchoked: Vec<PeerKey> = drain(&mut sel, t)
        .into_iter()
        .filter_map(|a| match a {
            Action::Unchoke { peer } => Some(peer),
            _ => None,
        })
        .collect();
    assert_eq!(unchoked.len(), 2, "free slots are filled at once");
    // Peer 5 uploads to us: after the rechoke it holds a regular slot.
    sel.peer_unchoked_us(t, PeerKey(5)).unwrap();
    sel.peer_have_all(PeerKey(5)).unwrap();
    drain(&mut sel, t);
    let mut now = t;
    for _ in 0..20 {
        now += Duration::from_millis(200);
        let next = sel.requests_of(PeerKey(5)).next();
        if let Some(b) = next {
            sel.block_received(now, PeerKey(5), b).unwrap();
        }
        drain(&mut sel, now);
    }
    let due = sel.poll_timeout().unwrap();
    assert!(due <= t + Duration::from_secs(10));
    sel.handle_timeout(t + Duration::from_secs(10));
    drain(&mut sel, t + Duration::from_secs(10));
    assert!(!sel.is_choking(PeerKey(5)));
    assert_eq!(sel.stats().unchoked, 2);
    // A peer that disconnects frees its slot for another at once.
    let holder = (1..=4).map(PeerKey).find(|k| !sel.is_choking(*k)).unwrap();
    sel.remove_peer(now, holder).unwrap();
    assert_eq!(sel.stats().unchoked, 2);
}
