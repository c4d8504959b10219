//! The allowed-fast set of BEP 6.

use std::net::IpAddr;

use bitswarm_core::{InfoHashV1, PieceIndex};
use sha1::{Digest, Sha1};

/// The `k` pieces a peer at `ip` may request while choked (BEP 6), for a
/// torrent of `pieces` pieces. The set depends only on the /24 of an IPv4
/// address and the info-hash, so peers can compute each other's.
///
/// BEP 6 defines the set for IPv4; for IPv6 this function hashes the
/// address masked to its /48, which is this crate's choice.
///
/// ```
/// use bitswarm_core::{InfoHashV1, PieceIndex};
/// use bitswarm_peer::allowed_fast_set;
///
/// // The vector published in BEP 6.
/// let set = allowed_fast_set("80.4.4.200".parse()?, &InfoHashV1([0xaa; 20]), 1313, 7);
/// let want: Vec<PieceIndex> = [1059, 431, 808, 1217, 287, 376, 1188].map(PieceIndex).to_vec();
/// assert_eq!(set, want);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn allowed_fast_set(
    ip: IpAddr,
    info_hash: &InfoHashV1,
    pieces: u32,
    k: usize,
) -> Vec<PieceIndex> {
    // Fewer pieces than k: every piece (the loop below could not finish).
    let k = k.min(pieces as usize);
    let mut set: Vec<PieceIndex> = Vec::with_capacity(k);
    let mut x: Vec<u8> = match ip {
        IpAddr::V4(v4) => {
            let mut o = v4.octets();
            o[3] = 0;
            o.to_vec()
        }
        IpAddr::V6(v6) => {
            let mut o = v6.octets();
            o[6..].fill(0);
            o.to_vec()
        }
    };
    x.extend_from_slice(info_hash.as_bytes());
    while set.len() < k {
        let digest = Sha1::digest(&x);
        x = digest.to_vec();
        for chunk in digest.chunks_exact(4) {
            if set.len() >= k {
                break;
            }
            let y = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let index = PieceIndex(y % pieces);
            if !set.contains(&index) {
                set.push(index);
            }
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bep6_vector_with_nine_pieces() {
        let set = allowed_fast_set(
            "80.4.4.200".parse().unwrap(),
            &InfoHashV1([0xaa; 20]),
            1313,
            9,
        );
        let want = [1059, 431, 808, 1217, 287, 376, 1188, 353, 508].map(PieceIndex);
        assert_eq!(set, want);
    }

    #[test]
    fn only_the_slash_24_matters() {
        let h = InfoHashV1([1; 20]);
        let a = allowed_fast_set("10.1.2.3".parse().unwrap(), &h, 500, 10);
        let b = allowed_fast_set("10.1.2.250".parse().unwrap(), &h, 500, 10);
        let c = allowed_fast_set("10.1.3.3".parse().unwrap(), &h, 500, 10);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn small_torrents_get_every_piece_and_zero_pieces_nothing() {
        let h = InfoHashV1([1; 20]);
        let mut set = allowed_fast_set("10.1.2.3".parse().unwrap(), &h, 3, 10);
        set.sort();
        assert_eq!(set, [0, 1, 2].map(PieceIndex));
        assert!(allowed_fast_set("::1".parse().unwrap(), &h, 0, 10).is_empty());
    }
}
