#!/usr/bin/env bash
# The client's time to first audio (session open → first PCM out, on loopback)
# and its peak memory while playing a 5-minute track in real time to
# `--audio null`. Takes about 5½ minutes; not run in CI.
#
#   bench/client.sh [SECONDS]    (default 300; PROFILE=dev for a debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-300}"

source bench/lib.sh

export HOME="$work/home" XDG_CONFIG_HOME="$work/home/xdg"
mist="$bin/mist"
sox -n -r 44100 -b 16 -c 2 "$work/track.flac" synth "$seconds" sine 220:880 sine 330 remix 1 2 gain -6
# The admin's plan is unlimited, so the 300 s free quota does not cut the run short.
printf '%s\n' "$MIST_ADMIN_PASSWORD" | "$mist" --server "$server" login --email admin@localhost >/dev/null
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
