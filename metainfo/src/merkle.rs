//! BEP 52 merkle trees: SHA-256 over 16 KiB blocks, per file.
//!
//! A file's leaves are the SHA-256 of each 16 KiB block (the last one may be
//! shorter; it is hashed as is). The leaves are padded with zero hashes up to
//! a power of two, and each node is the SHA-256 of its two children. The root
//! is the file's `pieces root`. The layer whose nodes each cover one piece is
//! the file's piece layer: its nodes are what a v2 piece is checked against,
//! and the `piece layers` dictionary stores it for files larger than a piece.

use sha2::{Digest, Sha256};

/// The leaf size of BEP 52 trees: 16 KiB.
pub const MERKLE_BLOCK_SIZE: usize = 16 * 1024;

/// A SHA-256 node of a merkle tree.
pub(crate) type Node = [u8; 32];

/// The SHA-256 of `left || right`.
pub(crate) fn parent(left: &Node, right: &Node) -> Node {
    let mut h = Sha256::new();
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of a subtree of `2^height` zero leaves: what stands for a node
/// entirely past the end of a file.
pub(crate) fn pad_hash(height: u32) -> Node {
    let mut node = [0u8; 32];
    for _ in 0..height {
        node = parent(&node, &node);
    }
    node
}

/// The root over `nodes`, which sit `height` levels above the leaves,
/// padded up to `width` nodes (a power of two, at least `nodes.len()`) with
/// the pad hash of that height.
pub(crate) fn root_of(nodes: &[Node], height: u32, width: usize) -> Node {
    debug_assert!(width.is_power_of_two() && width >= nodes.len());
    if nodes.is_empty() {
        return pad_hash(height + width.trailing_zeros());
    }
    let mut level = nodes.to_vec();
    let mut width = width;
    let mut height = height;
    while width > 1 {
        let pad = pad_hash(height);
        level = level
            .chunks(2)
            .map(|pair| parent(&pair[0], pair.get(1).unwrap_or(&pad)))
            .collect();
        width /= 2;
        height += 1;
    }
    level[0]
}

/// The number of levels between the leaves and the piece layer.
pub(crate) fn piece_height(piece_length: u64) -> u32 {
    (piece_length / MERKLE_BLOCK_SIZE as u64).trailing_zeros()
}

/// A file's `pieces root` from its piece layer (BEP 52): the layer is padded
/// to a power of two with the roots of all-zero pieces.
pub(crate) fn root_from_piece_layer(layer: &[Node], piece_length: u64) -> Node {
    root_of(
        layer,
        piece_height(piece_length),
        layer.len().next_power_of_two(),
    )
}

/// SHA-256 of one block of data (a leaf).
pub(crate) fn leaf(block: &[u8]) -> Node {
    Sha256::digest(block).into()
}

/// The merkle hash of `data`, one v2 piece or a whole small file, padded
/// with zero leaves up to `leaves` leaves (BEP 52).
///
/// For a piece of a file larger than one piece, `leaves` is the piece length
/// divided by 16 KiB, and the result is that piece's entry in the file's
/// piece layer. For a file of at most one piece, `leaves` is the number of
/// its 16 KiB blocks rounded up to a power of two, and the result is the
/// file's `pieces root`. [`Metainfo::v2_piece`](crate::Metainfo::v2_piece)
/// gives both numbers for every piece.
///
/// ```
/// use bitswarm_metainfo::{merkle_hash, MERKLE_BLOCK_SIZE};
/// use sha2::{Digest, Sha256};
///
/// // One block: the root is the block's own hash.
/// let data = vec![7u8; 1000];
/// assert_eq!(merkle_hash(&data, 1), <[u8; 32]>::from(Sha256::digest(&data)));
/// // Three blocks in a piece of four leaves: the fourth leaf is zeros.
/// let piece = vec![1u8; 3 * MERKLE_BLOCK_SIZE];
/// assert_ne!(merkle_hash(&piece, 4), merkle_hash(&piece, 8));
/// ```
///
/// # Panics
///
/// When `leaves` is not a power of two or is smaller than the number of
/// blocks in `data`: both are the caller's mistake, never the input's.
pub fn merkle_hash(data: &[u8], leaves: usize) -> [u8; 32] {
    let blocks: Vec<Node> = data.chunks(MERKLE_BLOCK_SIZE).map(leaf).collect();
    assert!(
        leaves.is_power_of_two() && leaves >= blocks.len(),
        "merkle_hash: {leaves} leaves cannot hold {} blocks",
        blocks.len()
    );
    root_of(&blocks, 0, leaves)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain recursive reference: the tree over explicit zero-padded leaves.
    fn reference(leaves: &[Node], width: usize) -> Node {
        let mut all = leaves.to_vec();
        all.resize(width, [0; 32]);
        while all.len() > 1 {
            all = all.chunks(2).map(|p| parent(&p[0], &p[1])).collect();
        }
        all[0]
    }

    #[test]
    fn root_matches_reference() {
        let leaves: Vec<Node> = (0..11u8).map(|i| leaf(&[i; 100])).collect();
        for n in 0..=leaves.len() {
            let width = n.max(1).next_power_of_two();
            assert_eq!(
                root_of(&leaves[..n], 0, width),
                reference(&leaves[..n], width)
            );
            assert_eq!(
                root_of(&leaves[..n], 0, width * 4),
                reference(&leaves[..n], width * 4)
            );
        }
    }

    #[test]
    fn piece_layer_root_equals_leaf_root() {
        // 10 blocks, 4 blocks per piece: 3 pieces, the last one half empty.
        let leaves: Vec<Node> = (0..10u8).map(|i| leaf(&[i; 10])).collect();
        let layer: Vec<Node> = leaves.chunks(4).map(|c| root_of(c, 0, 4)).collect();
        let piece_length = 4 * MERKLE_BLOCK_SIZE as u64;
        assert_eq!(
            root_from_piece_layer(&layer, piece_length),
            reference(&leaves, 16)
        );
    }

    #[test]
    fn pad_hash_heights() {
        assert_eq!(pad_hash(0), [0; 32]);
        assert_eq!(pad_hash(2), reference(&[], 4));
    }
}
