//! libtorrent DHT nodes on loopback. Work in progress.
