"""A set of libtorrent DHT nodes on loopback, for bitswarm's DHT interop tests.

Run with Debian's own /usr/bin/python3:  lt_dht.py SPEC.json COMMANDS_FILE

Every node is a session whose settings all go into the settings_pack given
to the constructor: DHT on; LSD, UPnP and NAT-PMP off; listening on
127.0.0.1 only; no bootstrap routers at all (dht_bootstrap_nodes empty); and
dht_restrict_routing_ips, dht_restrict_search_ips and
dht_prefer_verified_node_ids off, without which libtorrent keeps loopback
nodes out of its routing table. libtorrent never adds bootstrap routers to
its table, so the nodes start a fraction of a second apart and each is given
a couple of neighbours with add_dht_node.

The spec:
  ports              [int], one UDP/TCP port on 127.0.0.1 per node
  stagger            seconds between node starts
  extra_nodes        ["127.0.0.1:port", ...] added to every node (ours)
  announce_interval  seconds between DHT announces of a torrent
  stop_after         seconds; then the script exits

Commands are JSON lines appended to COMMANDS_FILE, each with an "id":
  {"cmd": "get_peers", "node": i, "info_hash": HEX}
  {"cmd": "announce", "node": i, "info_hash": HEX}   (adds the info-hash as a
        torrent: the 2.0.8 binding cannot call session.dht_announce)
  {"cmd": "get_immutable", "node": i, "target": HEX}
  {"cmd": "put_immutable", "node": i, "value": HEX of the bencoded value}
  {"cmd": "get_mutable", "node": i, "key": HEX, "salt": HEX}
  {"cmd": "put_mutable", "node": i, "private_key": HEX (64 bytes, expanded),
        "public_key": HEX, "data": HEX (stored as a byte string), "salt": HEX}

Standard output gets one JSON object per line, flushed at once:
  {"event": "listening", "node": i, "port": P}
  {"event": "ready"}
  {"event": "peers", "id": ID, "node": i, "info_hash": H, "peers": ["ip:port", ...]}
  {"event": "immutable", "id": ID, "node": i, "target": T, "value": HEX or null,
   "text": the alert's message}
  {"event": "put", "id": ID, "node": i, "target": T, "num_success": N}
  {"event": "mutable", "id": ID, "node": i, "key": K, "seq": S, "value": HEX or null,
   "text": the alert's message}
  {"event": "put_mutable", "id": ID, "node": i, "key": K, "seq": S, "num_success": N}
  {"event": "error", "message": M}
  {"event": "done"}
"""
import json
import sys
import tempfile
import time

import libtorrent as lt


def emit(**fields):
    print(json.dumps(fields), flush=True)


def settings_for(port, spec):
    s = {
        "listen_interfaces": "127.0.0.1:%d" % port,
        "enable_dht": True,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "dht_bootstrap_nodes": "",
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_prefer_verified_node_ids": False,
        "dht_announce_interval": int(spec.get("announce_interval", 5)),
        "alert_mask": lt.alert.category_t.all_categories,
        "alert_queue_size": 100000,
    }
    # Not every build has it; where it exists it must be off on loopback.
    if "dht_ignore_dark_internet" in lt.default_settings():
        s["dht_ignore_dark_internet"] = False
    return s


def hexof(b):
    return b.hex() if isinstance(b, (bytes, bytearray)) else str(b).encode("latin-1").hex()


def item_hex(item):
    # 2.0.8 wraps the value: {"key": "", "value": v}.
    if isinstance(item, dict):
        for k in ("value", b"value"):
            if k in item:
                item = item[k]
                break
    return None if str(item) == "<uninitialized>" else lt.bencode(item).hex()


def endpoint(text):
    host, port = text.rsplit(":", 1)
    return host.strip("[]"), int(port)


class Commands:
    """Reads complete JSON lines appended to a file."""

    def __init__(self, path):
        self.path = path
        self.offset = 0

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        return [json.loads(line) for line in data[: end + 1].splitlines() if line.strip()]


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    commands = Commands(sys.argv[2])
    save_dir = tempfile.mkdtemp()
    ports = spec["ports"]
    extra = [endpoint(e) for e in spec.get("extra_nodes", [])]
    sessions = []
    for i, port in enumerate(ports):
        ses = lt.session(settings_for(port, spec))
        # Neighbours: the node before, the one before that, and the first.
        for j in {i - 1, i - 2, 0}:
            if 0 <= j < i:
                ses.add_dht_node(("127.0.0.1", ports[j]))
                sessions[j].add_dht_node(("127.0.0.1", port))
        for e in extra:
            ses.add_dht_node(e)
        sessions.append(ses)
        emit(event="listening", node=i, port=port)
        time.sleep(float(spec.get("stagger", 0.2)))
    emit(event="ready")

    pending_peers = {}  # (node, info_hash) -> id
    pending_get = {}  # (node, target) -> id
    pending_put = {}  # (node, target) -> id
    stop_at = time.monotonic() + float(spec.get("stop_after", 60))
    while time.monotonic() < stop_at:
        for c in commands.poll():
            try:
                node = c["node"]
                ses = sessions[node]
                if c["cmd"] == "get_peers":
                    h = c["info_hash"]
                    pending_peers[(node, h)] = c["id"]
                    ses.dht_get_peers(lt.sha1_hash(bytes.fromhex(h)))
                elif c["cmd"] == "announce":
                    atp = lt.add_torrent_params()
                    atp.info_hashes = lt.info_hash_t(lt.sha1_hash(bytes.fromhex(c["info_hash"])))
                    atp.save_path = save_dir
                    flags = atp.flags
                    flags &= ~lt.torrent_flags.auto_managed
                    flags &= ~lt.torrent_flags.paused
                    flags |= lt.torrent_flags.upload_mode
                    atp.flags = flags
                    ses.add_torrent(atp)
                elif c["cmd"] == "get_immutable":
                    t = c["target"]
                    pending_get[(node, t)] = c["id"]
                    ses.dht_get_immutable_item(lt.sha1_hash(bytes.fromhex(t)))
                elif c["cmd"] == "put_immutable":
                    value = lt.bdecode(bytes.fromhex(c["value"]))
                    target = str(ses.dht_put_immutable_item(value))
                    pending_put[(node, target)] = c["id"]
                elif c["cmd"] == "get_mutable":
                    pending_get[(node, c["key"])] = c["id"]
                    ses.dht_get_mutable_item(bytes.fromhex(c["key"]), bytes.fromhex(c["salt"]))
                elif c["cmd"] == "put_mutable":
                    pending_put[(node, c["public_key"])] = c["id"]
                    ses.dht_put_mutable_item(bytes.fromhex(c["private_key"]),
                                             bytes.fromhex(c["public_key"]),
                                             bytes.fromhex(c["data"]), bytes.fromhex(c["salt"]))
                else:
                    emit(event="error", message="unknown command %r" % c["cmd"])
            except Exception as e:  # a bad command must not end the nodes
                emit(event="error", message="%s: %r" % (c, e))
        for node, ses in enumerate(sessions):
            for a in ses.pop_alerts():
                if isinstance(a, lt.dht_get_peers_reply_alert):
                    h = str(a.info_hash)
                    peers = ["%s:%d" % (p[0], p[1]) for p in a.peers()]
                    emit(event="peers", id=pending_peers.get((node, h)), node=node,
                         info_hash=h, peers=peers)
                elif isinstance(a, lt.dht_immutable_item_alert):
                    t = str(a.target)
                    try:
                        value = item_hex(a.item)
                    except Exception as e:
                        value = None
                        emit(event="error", message="reading the item of %s: %r; %s" % (t, e, a.message()))
                    # The alert's text shows the item even where the binding
                    # cannot convert it (dictionaries, in 2.0.8).
                    emit(event="immutable", id=pending_get.get((node, t)), node=node,
                         target=t, value=value, text=a.message())
                elif isinstance(a, lt.dht_mutable_item_alert):
                    k = hexof(a.key)
                    try:
                        value = item_hex(a.item)
                    except Exception as e:
                        value = None
                        emit(event="error", message="reading the item of %s: %r" % (k, e))
                    emit(event="mutable", id=pending_get.get((node, k)), node=node, key=k,
                         seq=a.seq, value=value, text=a.message())
                elif isinstance(a, lt.dht_put_alert):
                    k = hexof(a.public_key)
                    if (node, k) in pending_put:
                        emit(event="put_mutable", id=pending_put[(node, k)], node=node, key=k,
                             seq=a.seq, num_success=a.num_success)
                    else:
                        t = str(a.target)
                        emit(event="put", id=pending_put.get((node, t)), node=node, target=t,
                             num_success=a.num_success)
        time.sleep(0.02)
    emit(event="done")


if __name__ == "__main__":
    main()
