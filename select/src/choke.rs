//! Choking: who we upload to.

use core::fmt;
use std::time::{Duration, Instant};

use rand::{Rng, RngCore};

use crate::PeerKey;

/// One connected peer as a [`Choker`] sees it at a rechoke.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChokeCandidate {
    /// The peer.
    pub peer: PeerKey,
    /// Whether the peer is interested in us; only interested peers are
    /// unchoked (an unchoke slot given to a peer that wants nothing is wasted).
    pub interested: bool,
    /// The peer has not delivered a requested block in time (anti-snubbing):
    /// it may only be unchoked optimistically.
    pub snubbed: bool,
    /// Bytes per second the peer sent us over the rolling window.
    pub download_rate: u64,
    /// Bytes per second we sent the peer over the rolling window.
    pub upload_rate: u64,
    /// When the peer connected.
    pub connected_at: Instant,
    /// When we unchoked it, if it is unchoked now.
    pub unchoked_since: Option<Instant>,
    /// When we last unchoked it, if ever.
    pub last_unchoked: Option<Instant>,
}

impl ChokeCandidate {
    /// A candidate with no history, for tests and custom chokers.
    pub fn new(peer: PeerKey, connected_at: Instant) -> Self {
        Self {
            peer,
            interested: false,
            snubbed: false,
            download_rate: 0,
            upload_rate: 0,
            connected_at,
            unchoked_since: None,
            last_unchoked: None,
        }
    }
}

/// Decides at each rechoke which peers are unchoked.
///
/// The [`crate::Selector`] calls [`Choker::rechoke`] every
/// [`crate::SelectConfig::rechoke_interval`] (10 s by default, as in BEP 3's
/// reference client), and also at once when an unchoked peer disconnects or
/// loses interest (a slot left empty until the next round is upload lost),
/// with every connected peer, and turns the difference
/// between the returned set and the current one into `Choke`/`Unchoke`
/// actions. Free-riders and peers that never reciprocate are the reason
/// this exists: a choker decides who is worth our upload.
pub trait Choker: Send + fmt::Debug {
    /// Pushes at most `slots` peers to unchoke into `unchoke`.
    fn rechoke(
        &mut self,
        now: Instant,
        candidates: &[ChokeCandidate],
        slots: usize,
        rng: &mut dyn RngCore,
        unchoke: &mut Vec<PeerKey>,
    );
}

/// The optimistic unchoke shared by both chokers: one slot rotated every
/// `interval` to a random interested peer, newly connected peers being
/// `new_peer_weight` times as likely (they have nothing yet and need a first
/// piece to trade).
#[derive(Debug, Clone)]
struct Optimistic {
    current: Option<PeerKey>,
    chosen_at: Option<Instant>,
    interval: Duration,
    new_peer_age: Duration,
    new_peer_weight: u32,
}

impl Optimistic {
    fn new(interval: Duration) -> Self {
        Self {
            current: None,
            chosen_at: None,
            interval,
            new_peer_age: Duration::from_secs(60),
            new_peer_weight: 3,
        }
    }

    fn choose(
        &mut self,
        now: Instant,
        candidates: &[ChokeCandidate],
        taken: &[PeerKey],
        rng: &mut dyn RngCore,
    ) -> Option<PeerKey> {
        let still_valid = self.current.is_some_and(|p| {
            !taken.contains(&p) && candidates.iter().any(|c| c.peer == p && c.interested)
        });
        let due = self
            .chosen_at
            .is_none_or(|at| now.saturating_duration_since(at) >= self.interval);
        if still_valid && !due {
            return self.current;
        }
        let weight = |c: &ChokeCandidate| {
            if now.saturating_duration_since(c.connected_at) < self.new_peer_age {
                self.new_peer_weight
            } else {
                1
            }
        };
        let eligible = || {
            candidates
                .iter()
                .filter(|c| c.interested && !taken.contains(&c.peer))
                // Rotate: the current optimistic peer yields when others wait.
                .filter(|c| Some(c.peer) != self.current || !due)
        };
        let total: u32 = eligible().map(weight).sum();
        let pick = if total == 0 {
            // Nobody else: keep the current one if it is still interested.
            self.current.filter(|_| still_valid)
        } else {
            let mut at = rng.gen_range(0..total);
            eligible()
                .find(|c| {
                    let w = weight(c);
                    if at < w {
                        true
                    } else {
                        at -= w;
                        false
                    }
                })
                .map(|c| c.peer)
        };
        if pick != self.current || due {
            self.chosen_at = Some(now);
        }
        self.current = pick;
        pick
    }
}

/// Tit-for-tat while leeching (BEP 3's reference choker): the `slots - 1`
/// interested, non-snubbed peers that upload to us fastest over the rolling
/// window are unchoked, plus one optimistic unchoke rotated every 30 s.
#[derive(Debug, Clone)]
pub struct TitForTat {
    optimistic: Optimistic,
}

impl TitForTat {
    /// A tit-for-tat choker whose optimistic unchoke rotates every `optimistic_interval`.
    pub fn new(optimistic_interval: Duration) -> Self {
        Self {
            optimistic: Optimistic::new(optimistic_interval),
        }
    }
}

impl Default for TitForTat {
    fn default() -> Self {
        Self::new(Duration::from_secs(30))
    }
}

/// Unchokes the best `slots - 1` by `rate`, then one optimistic slot.
fn best_plus_optimistic(
    optimistic: &mut Optimistic,
    now: Instant,
    candidates: &[ChokeCandidate],
    slots: usize,
    rng: &mut dyn RngCore,
    unchoke: &mut Vec<PeerKey>,
    rate: impl Fn(&ChokeCandidate) -> u64,
) {
    if slots == 0 {
        return;
    }
    let mut ranked: Vec<&ChokeCandidate> = candidates
        .iter()
        .filter(|c| c.interested && !c.snubbed)
        .collect();
    // Shuffle first so that equal rates (all zero at the start) are broken at random.
    for i in (1..ranked.len()).rev() {
        ranked.swap(i, rng.gen_range(0..=i));
    }
    ranked.sort_by_key(|c| core::cmp::Reverse(rate(c)));
    let start = unchoke.len();
    unchoke.extend(ranked.iter().take(slots - 1).map(|c| c.peer));
    if let Some(p) = optimistic.choose(now, candidates, &unchoke[start..], rng) {
        unchoke.push(p);
    }
    // With fewer interested peers than slots, the spare slot goes to the next best.
    if unchoke.len() - start < slots {
        for c in ranked.iter().skip(slots - 1) {
            if unchoke.len() - start >= slots {
                break;
            }
            if !unchoke[start..].contains(&c.peer) {
                unchoke.push(c.peer);
            }
        }
    }
}

impl Choker for TitForTat {
    fn rechoke(
        &mut self,
        now: Instant,
        candidates: &[ChokeCandidate],
        slots: usize,
        rng: &mut dyn RngCore,
        unchoke: &mut Vec<PeerKey>,
    ) {
        best_plus_optimistic(
            &mut self.optimistic,
            now,
            candidates,
            slots,
            rng,
            unchoke,
            |c| c.download_rate,
        );
    }
}

/// How a [`SeedChoker`] shares upload once we have everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SeedMode {
    /// The peers we upload to fastest keep their slots (they make the most
    /// of our bandwidth), plus one optimistic unchoke.
    FastestUpload,
    /// Every interested peer gets a turn: a peer unchoked for a full
    /// `period` yields its slot to the one that waited longest.
    RoundRobin {
        /// How long a peer keeps a slot.
        period: Duration,
    },
}

/// The choker for seeding (or for a leecher that wants no reciprocity).
#[derive(Debug, Clone)]
pub struct SeedChoker {
    mode: SeedMode,
    optimistic: Optimistic,
}

impl SeedChoker {
    /// A seeding choker of the given mode.
    pub fn new(mode: SeedMode) -> Self {
        Self {
            mode,
            optimistic: Optimistic::new(Duration::from_secs(30)),
        }
    }
}

impl Default for SeedChoker {
    fn default() -> Self {
        Self::new(SeedMode::FastestUpload)
    }
}

impl Choker for SeedChoker {
    fn rechoke(
        &mut self,
        now: Instant,
        candidates: &[ChokeCandidate],
        slots: usize,
        rng: &mut dyn RngCore,
        unchoke: &mut Vec<PeerKey>,
    ) {
        match self.mode {
            SeedMode::FastestUpload => best_plus_optimistic(
                &mut self.optimistic,
                now,
                candidates,
                slots,
                rng,
                unchoke,
                |c| c.upload_rate,
            ),
            SeedMode::RoundRobin { period } => {
                let mut order: Vec<&ChokeCandidate> =
                    candidates.iter().filter(|c| c.interested).collect();
                for i in (1..order.len()).rev() {
                    order.swap(i, rng.gen_range(0..=i));
                }
                // Peers inside their period first (they keep the slot), then
                // the ones that waited longest (never unchoked before all).
                let keeps = |c: &ChokeCandidate| {
                    c.unchoked_since
                        .is_some_and(|at| now.saturating_duration_since(at) < period)
                };
                order.sort_by_key(|c| (!keeps(c), c.last_unchoked));
                unchoke.extend(order.iter().take(slots).map(|c| c.peer));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn cand(peer: u64, t0: Instant, rate: u64) -> ChokeCandidate {
        ChokeCandidate {
            interested: true,
            download_rate: rate,
            upload_rate: rate,
            ..ChokeCandidate::new(PeerKey(peer), t0)
        }
    }

    #[test]
    fn tit_for_tat_keeps_the_best_uploaders_and_one_optimistic() {
        let t0 = Instant::now();
        let mut rng = StdRng::seed_from_u64(3);
        let mut peers: Vec<_> = (0..10).map(|i| cand(i, t0, i * 100)).collect();
        peers[9].snubbed = true; // the fastest, but snubbed
        peers[0].interested = false;
        let mut tft = TitForTat::default();
        let mut out = Vec::new();
        tft.rechoke(t0, &peers, 4, &mut rng, &mut out);
        assert_eq!(out.len(), 4);
        assert_eq!(&out[..3], &[PeerKey(8), PeerKey(7), PeerKey(6)]);
        assert!(!out[..3].contains(&out[3]));
        assert_ne!(
            out[3],
            PeerKey(0),
            "a peer that is not interested is not unchoked"
        );
        // Within 30 s the optimistic peer stays.
        let first = out[3];
        out.clear();
        tft.rechoke(t0 + Duration::from_secs(10), &peers, 4, &mut rng, &mut out);
        assert_eq!(out[3], first);
        // After 30 s it rotates to someone else.
        out.clear();
        tft.rechoke(t0 + Duration::from_secs(30), &peers, 4, &mut rng, &mut out);
        assert_ne!(out[3], first);
    }

    #[test]
    fn optimistic_favours_new_peers() {
        let t0 = Instant::now();
        let now = t0 + Duration::from_secs(600);
        let mut rng = StdRng::seed_from_u64(9);
        // Peer 1 connected long ago, peer 2 just now; slots 1 = optimistic only.
        let peers = [cand(1, t0, 0), cand(2, now, 0)];
        let mut new_wins = 0;
        for _ in 0..400 {
            let mut tft = TitForTat::default();
            let mut out = Vec::new();
            tft.rechoke(now, &peers, 1, &mut rng, &mut out);
            new_wins += u32::from(out == [PeerKey(2)]);
        }
        // Expected 3/4 of 400 = 300.
        assert!((250..350).contains(&new_wins), "{new_wins}");
    }

    #[test]
    fn round_robin_gives_everyone_a_turn() {
        let t0 = Instant::now();
        let mut rng = StdRng::seed_from_u64(5);
        let period = Duration::from_secs(30);
        let mut choker = SeedChoker::new(SeedMode::RoundRobin { period });
        let mut peers: Vec<_> = (0..6).map(|i| cand(i, t0, 0)).collect();
        let mut served = std::collections::BTreeSet::new();
        for round in 0..6u32 {
            let now = t0 + period * round;
            let mut out = Vec::new();
            choker.rechoke(now, &peers, 2, &mut rng, &mut out);
            assert_eq!(out.len(), 2);
            for c in &mut peers {
                if out.contains(&c.peer) {
                    c.unchoked_since.get_or_insert(now);
                    c.last_unchoked = Some(now);
                } else {
                    c.unchoked_since = None;
                }
            }
            served.extend(out);
        }
        assert_eq!(served.len(), 6);
    }

    #[test]
    fn zero_slots_unchoke_nobody() {
        let t0 = Instant::now();
        let mut rng = StdRng::seed_from_u64(5);
        let peers = [cand(1, t0, 5)];
        let mut out = Vec::new();
        TitForTat::default().rechoke(t0, &peers, 0, &mut rng, &mut out);
        SeedChoker::default().rechoke(t0, &peers, 0, &mut rng, &mut out);
        assert!(out.is_empty());
    }
}
