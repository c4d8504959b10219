#!/usr/bin/python3
"""Times libtorrent's full recheck of a torrent whose files are on disk.

usage: lt_recheck.py TORRENT SAVE_PATH [--hashing-threads N] [--timeout SECONDS]

Every setting goes to the session's constructor: it listens on 127.0.0.1
only, with DHT, LSD, UPnP and NAT-PMP off, and adds no peer. The torrent is
added over the files (libtorrent checks them: the first check), then
`force_recheck` is called and timed to the `torrent_checked_alert` that ends
it. Prints one JSON line: the pieces, how many were valid, both times in
seconds (measured inside the interpreter, without its start-up), and the
CPU time the process (libtorrent's threads included) spent on the recheck.
"""
import json
import sys
import time

import libtorrent as lt


def option(args, name, default):
    if name in args:
        return args[args.index(name) + 1]
    return default


def wait_checked(ses, deadline):
    while time.monotonic() < deadline:
        ses.wait_for_alert(50)
        for alert in ses.pop_alerts():
            if isinstance(alert, lt.torrent_checked_alert):
                return True
            if isinstance(alert, (lt.torrent_error_alert, lt.file_error_alert)):
                raise SystemExit(json.dumps({"error": alert.message()}))
    return False


def main(args):
    torrent, save_path = args[0], args[1]
    timeout = float(option(args, "--timeout", 120))
    settings = {
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "dht_bootstrap_nodes": "",
        "alert_mask": lt.alert.category_t.status_notification
        | lt.alert.category_t.error_notification
        | lt.alert.category_t.storage_notification,
    }
    threads = option(args, "--hashing-threads", None)
    if threads is not None:
        settings["hashing_threads"] = int(threads)
    ses = lt.session(settings)
    ti = lt.torrent_info(torrent)
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = save_path
    atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    atp.flags |= lt.torrent_flags.upload_mode
    deadline = time.monotonic() + timeout
    start = time.perf_counter()
    handle = ses.add_torrent(atp)
    handle.replace_trackers([])
    first = wait_checked(ses, deadline)
    first_seconds = time.perf_counter() - start
    start = time.perf_counter()
    cpu_start = time.process_time()
    handle.force_recheck()
    again = wait_checked(ses, deadline)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    status = handle.status()
    print(json.dumps({
        "pieces": ti.num_pieces(),
        "valid": status.num_pieces,
        "checked": first and again,
        "first_check_seconds": first_seconds,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "hashing_threads": ses.get_settings()["hashing_threads"],
    }))


if __name__ == "__main__":
    main(sys.argv[1:])
