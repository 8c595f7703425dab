#!/usr/bin/env bash
# The client's time to first audio (session open → first PCM out, on loopback)
# and its peak memory while playing a 5-minute track in real time to
# `--audio null`. Takes about 5½ minutes; not run in CI.
#
#   bench/client.sh [SECONDS]    (default 300; PROFILE=dev for a debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-300}"

profile="${PROFILE:-release}"
cargo build --profile "$profile" -p mist-server -p mist-tui 2>&1 | tail -1
bin="target/$([[ "$profile" == dev ]] && echo debug || echo "$profile")"
work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

port=$((20000 + RANDOM % 20000))
export MIST_ADMIN_PASSWORD="bench-admin-password"
MIST_DATA_DIR="$work/data" MIST_LISTEN="127.0.0.1:$port" RUST_LOG=warn \
    "$bin/mist-server" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done

export HOME="$work/home" XDG_CONFIG_HOME="$work/home/xdg"
mist="$bin/mist"
sox -n -r 44100 -b 16 -c 2 "$work/track.flac" synth "$seconds" sine 220:880 sine 330 remix 1 2 gain -6
# The admin's plan is unlimited, so the 300 s free quota does not cut the run short.
printf '%s\n' "$MIST_ADMIN_PASSWORD" | "$mist" --server "http://127.0.0.1:$port" login --email admin@localhost >/dev/null
track_id="$("$mist" upload "$work/track.flac" --title bench --json | sed -n 's/.*"track_id": "\([^"]*\)".*/\1/p' | head -1)"

/usr/bin/time -v "$mist" play "$track_id" --audio null 2>"$work/play.err" >"$work/play.out"
first_audio_ms="$(sed -n 's/^first audio after \([0-9]*\) ms$/\1/p' "$work/play.err")"
peak_kib="$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/play.err")"
wall="$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/play.err")"
cpu_pct="$(sed -n 's/.*Percent of CPU this job got: //p' "$work/play.err")"
cat "$work/play.out"
echo "track:               ${seconds} s (${profile} build, loopback, local storage, --audio null)"
echo "time to first audio: ${first_audio_ms} ms (session open → first PCM out)"
echo "peak memory (RSS):   $((peak_kib / 1024)) MiB (${peak_kib} KiB)"
echo "wall time:           ${wall}, CPU ${cpu_pct}"
