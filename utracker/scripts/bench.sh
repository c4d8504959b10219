#!/bin/sh
# Loads bitswarm-utracker's tracker-server and opentracker on 127.0.0.1 with
# the same generator (tracker-load), one after the other, in one run, and
# reports announces/s, loss and latency, plus the CPU time each tracker used.
#
#   utracker/scripts/bench.sh                     # defaults below
#   IN_FLIGHT=256 SOCKETS=2 MODE=shared utracker/scripts/bench.sh
#
# Needs opentracker (Debian package `opentracker`). Everything stays on
# loopback and stops by itself.
set -eu

LOAD_SECONDS=${LOAD_SECONDS:-10}
IN_FLIGHT=${IN_FLIGHT:-64}
SOCKETS=${SOCKETS:-2}
SWARMS=${SWARMS:-1000}
WORKERS=${WORKERS:-2}
MODE=${MODE:-reuseport}
OURS_PORT=${OURS_PORT:-46969}
OT_PORT=${OT_PORT:-46970}

cd "$(dirname "$0")/../.."
command -v opentracker >/dev/null || { echo "opentracker is not installed (apt-get install opentracker)" >&2; exit 1; }
cargo build --quiet --release -p bitswarm-examples --bin tracker-server --bin tracker-load
BIN="${CARGO_TARGET_DIR:-target}/release"

dir=$(mktemp -d)
# opentracker drops to user nobody when run as root: it must be able to read.
chmod 755 "$dir"
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

"$BIN/tracker-load" --write-whitelist "$dir/whitelist" --swarms "$SWARMS"
# opentracker chroots into its folder when run as root: give it the
# whitelist by a path relative to that folder.
(cd "$dir" && exec opentracker -i 127.0.0.1 -p "$OT_PORT" -P "$OT_PORT" -d "$dir" -w whitelist >"$dir/ot.log" 2>&1) &
ot_pid=$!
"$BIN/tracker-server" --bind "127.0.0.1:$OURS_PORT" --workers "$WORKERS" --mode "$MODE" \
    --stats-interval 0 --run-for 900 >"$dir/ours.log" 2>&1 &
ours_pid=$!
pids="$ot_pid $ours_pid"
sleep 1

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

echo "machine: $(nproc) cores, $(uname -r); our server: $WORKERS workers, $MODE"
ours0=$(cpu_ticks "$ours_pid"); ot0=$(cpu_ticks "$ot_pid")
"$BIN/tracker-load" --target "bitswarm-utracker=127.0.0.1:$OURS_PORT" --target "opentracker=127.0.0.1:$OT_PORT" \
    --seconds "$LOAD_SECONDS" --in-flight "$IN_FLIGHT" --sockets "$SOCKETS" --swarms "$SWARMS"
ours1=$(cpu_ticks "$ours_pid"); ot1=$(cpu_ticks "$ot_pid")
echo
echo "CPU time used under load: bitswarm-utracker $(( (ours1 - ours0) * 1000 / hz )) ms, opentracker $(( (ot1 - ot0) * 1000 / hz )) ms"
