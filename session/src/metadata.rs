//! Fetching a torrent's info dictionary from peers (BEP 9) for a magnet link.
