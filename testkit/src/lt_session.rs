//! libtorrent sessions (seeding, leeching, announcing) on loopback. Work in progress.
