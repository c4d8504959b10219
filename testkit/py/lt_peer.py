"""Two libtorrent sessions in one process moving a torrent over loopback TCP,
timed, for bitswarm-peer's transfer benchmark (libtorrent -> libtorrent beside
bitswarm -> bitswarm in the same run).

Run with Debian's own /usr/bin/python3:

    lt_peer.py transfer TORRENT SEED_DIR LEECH_DIR [TIMEOUT_SECONDS]

SEED_DIR holds the complete content (added in seed mode, so it is not hashed
up front); LEECH_DIR must be empty. Both sessions listen on 127.0.0.1 only,
with DHT, LSD, UPnP, NAT-PMP and uTP off, every setting given to the session
constructor. The leecher is told to connect to the seeder; the time runs from
that call to the leecher's torrent_finished_alert. Prints one JSON line:

    {"seconds": S, "bytes": N, "seed_port": P}
"""
import json
import sys
import time

import libtorrent as lt


def settings():
    return {
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        "alert_mask": lt.alert.category_t.status_notification
        | lt.alert.category_t.error_notification,
    }


def add(ses, torrent, save_path, seed):
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = save_path
    flags = atp.flags
    flags &= ~lt.torrent_flags.auto_managed
    flags &= ~lt.torrent_flags.paused
    if seed:
        flags |= lt.torrent_flags.seed_mode
    atp.flags = flags
    return ses.add_torrent(atp)


def transfer(torrent, seed_dir, leech_dir, timeout):
    seed = lt.session(settings())
    leech = lt.session(settings())
    add(seed, torrent, seed_dir, True)
    handle = add(leech, torrent, leech_dir, False)
    deadline = time.monotonic() + 10
    while seed.listen_port() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    port = seed.listen_port()
    start = time.monotonic()
    handle.connect_peer(("127.0.0.1", port))
    deadline = start + timeout
    while time.monotonic() < deadline:
        leech.wait_for_alert(50)
        for a in leech.pop_alerts():
            if isinstance(a, lt.torrent_finished_alert):
                seconds = time.monotonic() - start
                size = handle.torrent_file().total_size()
                print(json.dumps({"seconds": seconds, "bytes": size, "seed_port": port}), flush=True)
                return 0
    print(json.dumps({"error": "timed out", "progress": handle.status().progress}), flush=True)
    return 1


def main():
    if len(sys.argv) < 5 or sys.argv[1] != "transfer":
        print(__doc__, file=sys.stderr)
        return 2
    timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 120.0
    return transfer(sys.argv[2], sys.argv[3], sys.argv[4], timeout)


if __name__ == "__main__":
    sys.exit(main())
