//! The benchmark corpus, made in code so that it is the same on every
//! machine: the shapes of real bencode, not random bytes.
//!
//! - a multi-file .torrent with thousands of files (many small dictionaries
//!   and lists: the allocation-heavy case);
//! - a single-file .torrent whose `pieces` string is 1 MiB (one big byte
//!   string: the copy-heavy case);
//! - a batch of Mainline DHT (KRPC) messages of every common kind (many
//!   small inputs: the per-call overhead case).
//!
//! Everything is written with our canonical encoder, so every crate, strict
//! or not, accepts it.

use bitswarm_bencode::{DictBuilder, Encode, ListBuilder, dict, list};

/// A small deterministic generator (xorshift64*), so no RNG crate is needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    fn word(&mut self) -> &'static str {
        const WORDS: [&str; 24] = [
            "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
            "juliett", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
            "sierra", "tango", "uniform", "victor", "whiskey", "xray",
        ];
        WORDS[self.below(WORDS.len() as u64) as usize]
    }
}

const ANNOUNCE: &str = "udp://tracker.example.org:6969/announce";

fn announce_list() -> ListBuilder {
    list![
        list![ANNOUNCE],
        list![
            "udp://tracker.example.net:1337/announce",
            "http://tracker.example.com/announce"
        ],
        list!["udp://open.tracker.example:80/announce"],
    ]
}

/// A season-of-a-show style multi-file torrent: `files` files in nested
/// folders, 4 MiB pieces, trackers, web seeds.
pub(crate) fn multi_file_torrent(files: usize) -> Vec<u8> {
    let mut rng = Rng(0x5eed_0001);
    let mut total: u64 = 0;
    let file_list: ListBuilder = (0..files)
        .map(|i| {
            // Mostly small files, some large: sizes from 1 KiB to ~64 MiB.
            let magnitude = 10 + rng.below(17);
            let length = 1024 + rng.below(1 << magnitude);
            total += length;
            let depth = 1 + rng.below(3) as usize;
            let mut path = ListBuilder::new();
            for _ in 0..depth {
                path.push(format!("{} {}", rng.word(), rng.below(100)));
            }
            path.push(format!("{:05} - {} {}.mkv", i, rng.word(), rng.word()));
            dict! { "length" => length, "path" => path }
        })
        .collect();
    let piece_length: u64 = 4 << 20;
    let pieces = total.div_ceil(piece_length) as usize;
    dict! {
        "announce" => ANNOUNCE,
        "announce-list" => announce_list(),
        "comment" => "A benchmark torrent with many files",
        "created by" => "mktorrent 1.1",
        "creation date" => 1_700_000_000i64,
        "url-list" => list!["https://seed.example.org/files/"],
        "info" => dict! {
            "files" => file_list,
            "name" => "The Collection",
            "piece length" => piece_length,
            "pieces" => rng.bytes(pieces * 20),
        },
    }
    .to_bencode()
}

/// A single-file torrent whose `pieces` string is `pieces_bytes` long
/// (rounded down to whole SHA-1 hashes).
pub(crate) fn single_file_torrent(pieces_bytes: usize) -> Vec<u8> {
    let mut rng = Rng(0x5eed_0002);
    let piece_length: u64 = 256 << 10;
    let pieces = pieces_bytes / 20;
    dict! {
        "announce" => ANNOUNCE,
        "announce-list" => announce_list(),
        "created by" => "qBittorrent v4.6.2",
        "creation date" => 1_700_000_000i64,
        "info" => dict! {
            "length" => pieces as u64 * piece_length - 12_345,
            "name" => "debian-12.2.0-amd64-DVD-1.iso",
            "piece length" => piece_length,
            "pieces" => rng.bytes(pieces * 20),
            "private" => 0,
        },
    }
    .to_bencode()
}

/// `count` KRPC messages (BEP 5, 32, 42, 43, 44, 51), cycling through the
/// queries and responses a DHT node sees most.
pub(crate) fn dht_messages(count: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng(0x5eed_0003);
    (0..count)
        .map(|i| {
            let t = rng.bytes(2);
            let id = rng.bytes(20);
            let v = b"LT\x01\x02";
            let msg: DictBuilder = match i % 10 {
                0 => dict! {
                    "a" => dict! { "id" => id },
                    "q" => "ping", "t" => t, "v" => &v[..], "y" => "q",
                },
                1 => dict! {
                    "ip" => rng.bytes(6),
                    "r" => dict! { "id" => id },
                    "t" => t, "y" => "r",
                },
                2 => dict! {
                    "a" => dict! { "id" => id, "target" => rng.bytes(20), "want" => list!["n4", "n6"] },
                    "q" => "find_node", "t" => t, "v" => &v[..], "y" => "q",
                },
                3 => dict! {
                    "ip" => rng.bytes(6),
                    "r" => dict! { "id" => id, "nodes" => rng.bytes(8 * 26), "nodes6" => rng.bytes(8 * 38) },
                    "t" => t, "y" => "r",
                },
                4 => dict! {
                    "a" => dict! { "id" => id, "info_hash" => rng.bytes(20) },
                    "q" => "get_peers", "t" => t, "v" => &v[..], "y" => "q",
                },
                5 => {
                    let peers: ListBuilder = (0..50).map(|_| rng.bytes(6)).collect();
                    dict! {
                        "ip" => rng.bytes(6),
                        "r" => dict! { "id" => id, "token" => rng.bytes(8), "values" => peers },
                        "t" => t, "y" => "r",
                    }
                }
                6 => dict! {
                    "r" => dict! { "id" => id, "nodes" => rng.bytes(8 * 26), "token" => rng.bytes(8) },
                    "t" => t, "y" => "r",
                },
                7 => dict! {
                    "a" => dict! {
                        "id" => id, "implied_port" => 1, "info_hash" => rng.bytes(20),
                        "port" => 6881, "token" => rng.bytes(8),
                    },
                    "q" => "announce_peer", "t" => t, "v" => &v[..], "y" => "q",
                },
                8 => dict! {
                    "r" => dict! {
                        "id" => id, "interval" => 21600, "nodes" => rng.bytes(8 * 26),
                        "num" => 1_234, "samples" => rng.bytes(20 * 20),
                    },
                    "t" => t, "y" => "r",
                },
                _ => dict! {
                    "e" => list![203, "Protocol Error, such as a malformed packet"],
                    "t" => t, "y" => "e",
                },
            };
            msg.to_bencode()
        })
        .collect()
}
