#!/usr/bin/env bash
# Ingest memory and speed, each track on a fresh embedded server:
# - the worker process's peak RSS (VmHWM) for a 5-minute and a 50-minute
#   track (target: under 150 MiB for both: it must not grow with length);
# - MIST's wall time (upload complete → ready) against one ffmpeg process
#   making the same three AES-128 MP3 renditions as HLS (target: ratio ≤ 0.6);
# printed beside the figures measured before issue 15 (whole-track decode in
# the server process). CPU seconds are printed too: on a machine shared with
# other work the wall-time ratio says more about the load than about MIST
# (both do about the same work; MIST spreads it over the cores). Prints
# figures; not run in CI.
#
#   bench/ingest.sh [OLD_MIST_SERVER]
#
# OLD_MIST_SERVER: another mist-server binary (for example one built from the
# commit before issue 15) to measure the same way, for a row of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD_BIN="${1:-}"
WORK="$(mktemp -d)"
SERVER=""
cleanup() {
    if [[ -n "$SERVER" ]]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --release -q -p mist-server
NEW_BIN="$PWD/target/release/mist-server"

# The same test signal as the ingest tests: chords, a chirp, a tremolo.
for minutes in 5 50; do
    sox -n -r 44100 -b 16 -c 2 "$WORK/track-$minutes.wav" synth "$((minutes * 60))" \
        sine 220:880 sine 330 sine 440 sine 523 remix 1,3 2,4 tremolo 1.5 60 gain -6
    ffmpeg -v error -y -i "$WORK/track-$minutes.wav" -c:a flac "$WORK/track-$minutes.flac"
    rm "$WORK/track-$minutes.wav"
done

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
now() { date +%s.%N; }

# Peak RSS (MiB) of a process, from /proc.
peak_mib() { awk '/VmHWM/ {printf "%d", $2 / 1024}' "/proc/$1/status"; }
# CPU time (user + system, clock ticks) of a process so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# ingest BINARY MINUTES → sets SECONDS_TAKEN, CPU_SECONDS and PEAK_MIB (of the process running the jobs).
ingest() {
    local bin="$1" minutes="$2" port base token auth size upload job status worker start cpu
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    rm -rf "$WORK/data"
    MIST_ADMIN_PASSWORD=bench-admin-password MIST_MAX_UPLOAD_BYTES=2147483648 RUST_LOG=warn \
        "$bin" --data-dir "$WORK/data" --listen "127.0.0.1:$port" > "$WORK/server.log" 2>&1 &
    SERVER=$!
    base="http://127.0.0.1:$port"
    for _ in $(seq 1 200); do curl -fs "$base/healthz" > /dev/null && break; sleep 0.1; done
    token=$(curl -fs -X POST "$base/api/v1/auth/login" -H 'content-type: application/json' \
        -d '{"email":"admin@localhost","password":"bench-admin-password"}' | json '["token"]')
    auth="authorization: Bearer $token"
    size=$(stat -c %s "$WORK/track-$minutes.flac")
    upload=$(curl -fs -X POST "$base/api/v1/uploads" -H "$auth" -H 'content-type: application/json' \
        -d "{\"filename\":\"track.flac\",\"size\":$size,\"content_type\":\"audio/flac\"}" | json '["upload_id"]')
    curl -fs -X PUT "$base/api/v1/uploads/$upload/data" -H "$auth" -H 'content-type: audio/flac' \
        --data-binary "@$WORK/track-$minutes.flac"
    # Since issue 15 the jobs run in a child process; before, in the server's.
    worker=""
    for _ in $(seq 1 100); do
        worker=$(pgrep -P "$SERVER" -f 'worker --supervised' || true)
        [[ -n "$worker" ]] && break
        [[ "$bin" != "$NEW_BIN" ]] && break
        sleep 0.1
    done
    worker="${worker:-$SERVER}"
    cpu=$(cpu_ticks "$worker")
    start=$(now)
    job=$(curl -fs -X POST "$base/api/v1/uploads/$upload/complete" -H "$auth" | json '["job_id"]')
    while true; do
        status=$(curl -fs "$base/api/v1/jobs/$job" -H "$auth" | json '["status"]')
        [[ "$status" == ready ]] && break
        if [[ "$status" == failed ]]; then
            echo "ingest failed: $(curl -fs "$base/api/v1/jobs/$job" -H "$auth")" >&2
            exit 1
        fi
        sleep 0.05
    done
    SECONDS_TAKEN=$(python3 -c "print(f'{$(now) - $start:.1f}')")
    CPU_SECONDS=$(python3 -c "print(f'{($(cpu_ticks "$worker") - $cpu) / $(getconf CLK_TCK):.1f}')")
    PEAK_MIB=$(peak_mib "$worker")
    kill "$SERVER"
    wait "$SERVER" 2>/dev/null || true
    SERVER=""
}

# One ffmpeg process: decode once, three LAME encodes, AES-128 HLS (MPEG-TS
# segments: ffmpeg's HLS muxer does not write packed-audio MP3 segments).
ffmpeg_seconds() {
    local minutes="$1" start
    rm -rf "$WORK/ff"
    mkdir -p "$WORK/ff"
    head -c 16 /dev/urandom > "$WORK/ff/key"
    printf 'key\n%s/ff/key\n' "$WORK" > "$WORK/ff/keyinfo"
    start=$(now)
    /usr/bin/time -f '%U %S' -o "$WORK/ff/cpu" ffmpeg -v error -y -i "$WORK/track-$minutes.flac" \
        -map 0:a -map 0:a -map 0:a -c:a libmp3lame -ar 44100 -ac 2 \
        -b:a:0 64k -b:a:1 128k -b:a:2 192k \
        -f hls -hls_time 6 -hls_playlist_type vod -hls_key_info_file "$WORK/ff/keyinfo" \
        -var_stream_map "a:0 a:1 a:2" -master_pl_name master.m3u8 \
        -hls_segment_filename "$WORK/ff/%v/seg_%05d.ts" "$WORK/ff/%v/index.m3u8"
    python3 -c "print(f'{$(now) - $start:.1f} {sum(map(float, open(\"$WORK/ff/cpu\").read().split())):.1f}')"
}

row() {
    local label="$1" minutes="$2" mist="$3" mist_cpu="$4" ff="$5" ff_cpu="$6" peak="$7"
    printf '%-34s %6s %7s s %7s s %7s s %7s s %6s %6s %6s MiB\n' "$label" "${minutes} min" "$mist" "$mist_cpu" \
        "$ff" "$ff_cpu" "$(python3 -c "print(f'{$mist / $ff:.2f}')")" \
        "$(python3 -c "print(f'{$mist_cpu / $ff_cpu:.2f}')")" "$peak"
}

echo "$(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg) at the start; each track on a fresh embedded server (SQLite, local storage)"
printf '%-34s %6s %9s %9s %9s %9s %6s %6s %10s\n' "" track "mist" "mist CPU" ffmpeg "ffmpeg CPU" ratio "CPU r." "worker peak"
for minutes in 5 50; do
    read -r ff ff_cpu < <(ffmpeg_seconds "$minutes")
    ingest "$NEW_BIN" "$minutes"
    row "now (apalis, streaming, child)" "$minutes" "$SECONDS_TAKEN" "$CPU_SECONDS" "$ff" "$ff_cpu" "$PEAK_MIB"
    if [[ -n "$OLD_BIN" ]]; then
        ingest "$OLD_BIN" "$minutes"
        row "$(basename "$OLD_BIN") (in-process worker)" "$minutes" "$SECONDS_TAKEN" "$CPU_SECONDS" "$ff" "$ff_cpu" "$PEAK_MIB"
    fi
done
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo
echo "before issue 15 (session note, same machine): 5 min: 5.8 s against ffmpeg's 7.5 s (ratio 0.77),"
echo "  361 MiB peak for the server and its in-process worker; the whole decoded track and its renditions"
echo "  were held in memory, so 50 min would need over 3 GiB (pass an old binary to measure it)."
echo "targets: worker peak under 150 MiB for both tracks; ratio at or below 0.6"
