#!/usr/bin/env bash
# Ingest of a 5-minute track: MIST's wall time (upload complete → ready) and
# the worker's peak memory, against one ffmpeg process making the same three
# AES-128 MP3 renditions as HLS. Prints figures; not run in CI.
#
#   bench/ingest.sh [SECONDS]     (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_OF_AUDIO="${1:-300}"
WORK="$(mktemp -d)"
trap 'kill "${SERVER:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

cargo build --release -q -p mist-server
sox -n -r 44100 -b 16 -c 2 "$WORK/track.wav" synth "$SECONDS_OF_AUDIO" sine 220:880 sine 330 sine 440 sine 523 \
    remix 1,3 2,4 tremolo 1.5 60 gain -6
ffmpeg -v error -y -i "$WORK/track.wav" -c:a flac "$WORK/track.flac"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
MIST_ADMIN_PASSWORD=bench-admin-password RUST_LOG=warn \
    ./target/release/mist-server --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" > "$WORK/server.log" 2>&1 &
SERVER=$!
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do curl -fs "$BASE/healthz" > /dev/null && break; sleep 0.1; done
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
TOKEN=$(curl -fs -X POST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"email":"admin@localhost","password":"bench-admin-password"}' | json '["token"]')
AUTH="authorization: Bearer $TOKEN"
SIZE=$(stat -c %s "$WORK/track.flac")
UPLOAD=$(curl -fs -X POST "$BASE/api/v1/uploads" -H "$AUTH" -H 'content-type: application/json' \
    -d "{\"filename\":\"track.flac\",\"size\":$SIZE,\"content_type\":\"audio/flac\"}" | json '["upload_id"]')
curl -fs -X PUT "$BASE/api/v1/uploads/$UPLOAD/data" -H "$AUTH" -H 'content-type: audio/flac' --data-binary "@$WORK/track.flac"
RSS_BEFORE=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER/status")
START=$(date +%s.%N)
JOB=$(curl -fs -X POST "$BASE/api/v1/uploads/$UPLOAD/complete" -H "$AUTH" | json '["job_id"]')
while true; do
    STATUS=$(curl -fs "$BASE/api/v1/jobs/$JOB" -H "$AUTH" | json '["status"]')
    [ "$STATUS" = ready ] && break
    [ "$STATUS" = failed ] && { echo "ingest failed"; exit 1; }
    sleep 0.05
done
END=$(date +%s.%N)
PEAK=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER/status")
MIST=$(python3 -c "print(f'{$END - $START:.2f}')")

# One ffmpeg process: decode once, three LAME encodes, AES-128 HLS (MPEG-TS
# segments: ffmpeg's HLS muxer does not write packed-audio MP3 segments).
mkdir -p "$WORK/ff"
head -c 16 /dev/urandom > "$WORK/ff/key"
printf 'key\n%s/ff/key\n' "$WORK" > "$WORK/ff/keyinfo"
START=$(date +%s.%N)
ffmpeg -v error -y -i "$WORK/track.flac" \
    -map 0:a -map 0:a -map 0:a -c:a libmp3lame -ar 44100 -ac 2 \
    -b:a:0 64k -b:a:1 128k -b:a:2 192k \
    -f hls -hls_time 6 -hls_playlist_type vod -hls_key_info_file "$WORK/ff/keyinfo" \
    -var_stream_map "a:0 a:1 a:2" -master_pl_name master.m3u8 \
    -hls_segment_filename "$WORK/ff/%v/seg_%05d.ts" "$WORK/ff/%v/index.m3u8"
END=$(date +%s.%N)
FFMPEG=$(python3 -c "print(f'{$END - $START:.2f}')")

echo "track: ${SECONDS_OF_AUDIO} s stereo FLAC"
echo "mist ingest (complete → ready, decode + 3 encodes + segment + encrypt + store): ${MIST} s"
echo "ffmpeg, one process, same three renditions as AES-128 HLS: ${FFMPEG} s"
python3 -c "print(f'ratio mist/ffmpeg: {$MIST / $FFMPEG:.2f}')"
echo "mist-server peak RSS (API + in-process worker): $((PEAK / 1024)) MiB (idle before the job: $((RSS_BEFORE / 1024)) MiB)"
