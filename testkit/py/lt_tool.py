"""libtorrent (python3-libtorrent) driven for bitswarm's interop tests.

Run with Debian's own /usr/bin/python3. Every command prints one JSON object
on its last line of standard output. Nothing here opens a socket: torrents
are created and read offline.
"""
import json
import os
import sys

import libtorrent as lt


def hashes(ti):
    ih = ti.info_hashes()
    return {
        "v1": str(ih.v1) if ih.has_v1() else None,
        "v2": str(ih.v2) if ih.has_v2() else None,
    }


def create(args):
    path, out = args[0], args[1]
    v1_only = "--v1-only" in args
    piece_size = 0
    if "--piece-size" in args:
        piece_size = int(args[args.index("--piece-size") + 1])
    fs = lt.file_storage()
    lt.add_files(fs, path)
    flags = lt.create_torrent.v1_only if v1_only else 0
    ct = lt.create_torrent(fs, piece_size, flags=flags)
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(path)))
    data = lt.bencode(ct.generate())
    with open(out, "wb") as f:
        f.write(data)
    return hashes(lt.torrent_info(out))


def info(args):
    return hashes(lt.torrent_info(args[0]))


COMMANDS = {"create": create, "info": info}

if __name__ == "__main__":
    result = COMMANDS[sys.argv[1]](sys.argv[2:])
    print(json.dumps(result))
