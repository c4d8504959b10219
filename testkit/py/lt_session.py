"""A libtorrent session on loopback, driven by a JSON spec, for bitswarm's interop tests.

Run with Debian's own /usr/bin/python3:  lt_session.py SPEC.json

Every setting goes into the settings_pack given to the session constructor
(a session configured afterwards reaches out to public DHT routers for a
moment). DHT, LSD, UPnP and NAT-PMP are off and the session listens on
127.0.0.1 only, unless the spec's "settings" say otherwise.

The spec:
  listen_port        int, the TCP/uTP port on 127.0.0.1
  preset             optional: "high_performance_seed" or "min_memory_usage",
                     libtorrent's setting presets, applied before "settings"
  settings           {name: value} added to the settings pack
  torrents           list of {
      torrent          path to a .torrent file, or
      info_hash        40 hex digits (a torrent without metadata)
      save_path        folder of the content
      trackers         announce URLs (added to those of the file)
      peers            ["127.0.0.1:port", ...] to connect to directly
      seed_mode        true to skip the hash check of complete content
      upload_mode      true to never request pieces
  }
  scrape_after_announce   scrape each tracker once after its first reply
  stop_after              seconds; the session then removes its torrents
                          (so trackers get a "stopped" announce) and exits
  status_every            seconds between status lines (0 for none)

Standard output gets one JSON object per line, flushed at once:
  {"event": "listening", "port": P}
  {"event": "tracker_announce", "url": U, "info_hash": H, "kind": K}
  {"event": "tracker_reply", "url": U, "info_hash": H, "num_peers": N}
  {"event": "tracker_error", "url": U, "info_hash": H, "message": M}
  {"event": "scrape_reply", "url": U, "info_hash": H, "complete": C, "incomplete": I}
  {"event": "scrape_failed", "url": U, "info_hash": H, "message": M}
  {"event": "peer_connect", "info_hash": H, "peer": "ip:port"}
  {"event": "finished", "info_hash": H}
  {"event": "status", "info_hash": H, "progress": F, "state": S, "peers": N, "seeds": N}
  {"event": "done"}
"""
import json
import sys
import time

import libtorrent as lt


def emit(**fields):
    print(json.dumps(fields), flush=True)


def hexhash(handle_or_alert):
    try:
        ih = handle_or_alert.handle.info_hashes()
    except Exception:
        try:
            ih = handle_or_alert.info_hashes()
        except Exception:
            return None
    return str(ih.v1) if ih.has_v1() else str(ih.v2)


def parse_endpoint(text):
    host, port = text.rsplit(":", 1)
    return host.strip("[]"), int(port)


def settings_for(spec):
    s = {}
    preset = spec.get("preset")
    if preset == "high_performance_seed":
        s.update(lt.high_performance_seed())
    elif preset == "min_memory_usage":
        s.update(lt.min_memory_usage())
    elif preset:
        raise SystemExit("unknown preset %r" % preset)
    s.update({
        "listen_interfaces": "127.0.0.1:%d" % spec["listen_port"],
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "announce_to_all_trackers": True,
        "announce_to_all_tiers": True,
        "alert_mask": lt.alert.category_t.all_categories,
        "alert_queue_size": 100000,
    })
    s.update(spec.get("settings", {}))
    return s


def add_torrents(ses, spec):
    handles = []
    for t in spec.get("torrents", []):
        atp = lt.add_torrent_params()
        if t.get("torrent"):
            atp.ti = lt.torrent_info(t["torrent"])
        else:
            ih = lt.info_hash_t(lt.sha1_hash(bytes.fromhex(t["info_hash"])))
            atp.info_hashes = ih
        atp.save_path = t.get("save_path", ".")
        atp.trackers = list(t.get("trackers", []))
        atp.peers = [parse_endpoint(p) for p in t.get("peers", [])]
        flags = atp.flags
        flags &= ~lt.torrent_flags.auto_managed
        flags &= ~lt.torrent_flags.paused
        if t.get("seed_mode"):
            flags |= lt.torrent_flags.seed_mode
        if t.get("upload_mode"):
            flags |= lt.torrent_flags.upload_mode
        atp.flags = flags
        handles.append(ses.add_torrent(atp))
    return handles


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    ses = lt.session(settings_for(spec))
    handles = add_torrents(ses, spec)
    scraped = set()
    stop_at = time.monotonic() + float(spec.get("stop_after", 30))
    status_every = float(spec.get("status_every", 0))
    next_status = time.monotonic() + status_every
    while time.monotonic() < stop_at:
        ses.wait_for_alert(100)
        for a in ses.pop_alerts():
            if isinstance(a, lt.listen_succeeded_alert):
                emit(event="listening", port=a.port)
            elif isinstance(a, lt.listen_failed_alert):
                emit(event="listen_failed", message=a.message())
            elif isinstance(a, lt.tracker_reply_alert):
                emit(event="tracker_reply", url=a.tracker_url(), info_hash=hexhash(a),
                     num_peers=a.num_peers)
                key = (a.tracker_url(), hexhash(a))
                if spec.get("scrape_after_announce") and key not in scraped:
                    scraped.add(key)
                    a.handle.scrape_tracker()
            elif isinstance(a, lt.tracker_announce_alert):
                emit(event="tracker_announce", url=a.tracker_url(), info_hash=hexhash(a),
                     kind=int(a.event))
            elif isinstance(a, lt.tracker_error_alert):
                emit(event="tracker_error", url=a.tracker_url(), info_hash=hexhash(a),
                     message=a.message())
            elif isinstance(a, lt.scrape_reply_alert):
                emit(event="scrape_reply", url=a.tracker_url(), info_hash=hexhash(a),
                     complete=a.complete, incomplete=a.incomplete)
            elif isinstance(a, lt.scrape_failed_alert):
                emit(event="scrape_failed", url=a.tracker_url(), info_hash=hexhash(a),
                     message=a.message())
            elif isinstance(a, lt.peer_connect_alert):
                emit(event="peer_connect", info_hash=hexhash(a),
                     peer="%s:%d" % (a.endpoint[0], a.endpoint[1]))
            elif isinstance(a, lt.torrent_finished_alert):
                emit(event="finished", info_hash=hexhash(a))
        if status_every and time.monotonic() >= next_status:
            next_status += status_every
            for h in handles:
                st = h.status()
                emit(event="status", info_hash=hexhash(h), progress=st.progress,
                     state=str(st.state), peers=st.num_peers, seeds=st.num_seeds)
    for h in handles:
        ses.remove_torrent(h)
    # Give the "stopped" announces a moment to leave.
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        ses.wait_for_alert(100)
        for a in ses.pop_alerts():
            if isinstance(a, lt.tracker_announce_alert):
                emit(event="tracker_announce", url=a.tracker_url(), info_hash=hexhash(a),
                     kind=int(a.event))
    emit(event="done")


if __name__ == "__main__":
    main()
