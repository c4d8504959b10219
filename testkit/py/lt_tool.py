"""libtorrent (python3-libtorrent) driven for bitswarm's interop tests.

Run with Debian's own /usr/bin/python3. Every command prints one JSON object
on its last line of standard output. `create` and `info` are offline; `recheck`
starts a session that listens on 127.0.0.1 only, with DHT, LSD, UPnP and
NAT-PMP off from the start (every setting goes to the constructor).
"""
import json
import os
import sys
import time

import libtorrent as lt


def hashes(ti):
    ih = ti.info_hashes()
    return {
        "v1": str(ih.v1) if ih.has_v1() else None,
        "v2": str(ih.v2) if ih.has_v2() else None,
    }


def option(args, name, default):
    if name in args:
        return args[args.index(name) + 1]
    return default


def create(args):
    """create CONTENT OUT [--v1-only] [--piece-size BYTES]

    Also reports how long hashing took, in seconds (`set_piece_hashes` only,
    without the interpreter's start-up), for benchmarks.
    """
    path, out = args[0], args[1]
    v1_only = "--v1-only" in args
    piece_size = int(option(args, "--piece-size", 0))
    fs = lt.file_storage()
    lt.add_files(fs, path)
    flags = lt.create_torrent.v1_only if v1_only else 0
    ct = lt.create_torrent(fs, piece_size, flags=flags)
    start = time.perf_counter()
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(path)))
    seconds = time.perf_counter() - start
    data = lt.bencode(ct.generate())
    with open(out, "wb") as f:
        f.write(data)
    result = hashes(lt.torrent_info(out))
    result["seconds"] = seconds
    return result


def info(args):
    """info TORRENT"""
    ti = lt.torrent_info(args[0])
    result = hashes(ti)
    result["pieces"] = ti.num_pieces()
    result["files"] = ti.files().num_files()
    return result


def recheck(args):
    """recheck TORRENT SAVE_PATH [--timeout SECONDS]

    Adds the torrent over the content found in SAVE_PATH and lets libtorrent
    check every piece; reports how many pieces it found valid.
    """
    torrent, save_path = args[0], args[1]
    timeout = float(option(args, "--timeout", 60))
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
    ses = lt.session(settings)
    ti = lt.torrent_info(torrent)
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = save_path
    # No peers, no trackers: only the local check matters.
    atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    atp.flags |= lt.torrent_flags.upload_mode
    handle = ses.add_torrent(atp)
    handle.replace_trackers([])
    deadline = time.monotonic() + timeout
    errors = []
    checked = False
    # A torrent added over existing files is checked in full; the
    # torrent_checked_alert says that check is over.
    while not checked and not errors and time.monotonic() < deadline:
        ses.wait_for_alert(100)
        for alert in ses.pop_alerts():
            if isinstance(alert, lt.torrent_checked_alert):
                checked = True
            elif isinstance(alert, (lt.torrent_error_alert, lt.file_error_alert)):
                errors.append(alert.message())
    status = handle.status()
    result = hashes(ti)
    result["pieces"] = ti.num_pieces()
    result["valid"] = status.num_pieces
    result["checked"] = checked
    result["errors"] = errors
    return result


COMMANDS = {"create": create, "info": info, "recheck": recheck}

if __name__ == "__main__":
    result = COMMANDS[sys.argv[1]](sys.argv[2:])
    print(json.dumps(result))
