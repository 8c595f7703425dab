#!/usr/bin/env bash
# `mist-server import` on a generated library (embedded mode: SQLite + local
# files): wall time and peak memory with --jobs 1 and 2, and the run again
# that finds everything already there; beside ffmpeg doing the same encoding
# work (three MP3 renditions of each file, one file at a time) and `cp -r`.
#
#   bench/import.sh [FILES] [SECONDS]     (default 12 files of 120 s)
#   PROFILE=dev bench/import.sh           (a debug build: quicker to build, slower to run)
#
# Peak memory is the import process's (it runs its own worker, so it includes
# the transcodes); it should not grow with the size of the files.
set -euo pipefail
cd "$(dirname "$0")/.."

files="${1:-12}"
seconds="${2:-120}"
profile="${PROFILE:-release}"
cargo build --profile "$profile" -q -p mist-server
bin="$PWD/target/$([[ "$profile" == dev ]] && echo debug || echo "$profile")/mist-server"
work="$(mktemp -d /tmp/mist-import-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT

export MIST_ADMIN_PASSWORD="bench-admin-password"
export MIST_JWT_SECRET="bench-jwt-secret-that-is-long-enough-0123456789"
export MIST_MASTER_KEY="00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
export RUST_LOG=error

# A library: albums of four tracks, each folder with a cover and a .lrc per track.
lib="$work/library"
for i in $(seq "$files"); do
    album="$lib/Album $(((i - 1) / 4 + 1))"
    mkdir -p "$album"
    sox -n -r 44100 -b 16 -c 2 "$album/$(printf %02d "$i").flac" synth "$seconds" sine $((200 + 20 * i)) gain -6
    printf '[00:01.00]line one\n[00:02.00]line two\n' >"$album/$(printf %02d "$i").lrc"
    [[ -e "$album/cover.png" ]] || ffmpeg -v error -f lavfi -i testsrc=size=1000x1000 -frames:v 1 "$album/cover.png"
done
total=$(du -sb "$lib" | cut -f1)
echo "library: $files FLAC files of $seconds s, $((total / 1024 / 1024)) MiB ($profile build)"

timed() { # label command... → "label  wall s  peak RSS MiB"
    local label="$1" out
    shift
    out=$({ /usr/bin/time -f '%e %M' "$@" >/dev/null 2>"$work/err"; } 2>&1 || true)
    out=$(tail -1 "$work/err")
    read -r wall rss <<<"$out"
    printf '%-34s %8.1f s %8d MiB\n' "$label" "$wall" $((rss / 1024))
}

printf '%-34s %10s %12s\n' "" "wall" "peak RSS"
timed "cp -r (copy only)" cp -r "$lib" "$work/copy"
ffmpeg_all() {
    for f in "$lib"/*/*.flac; do
        ffmpeg -v error -y -i "$f" \
            -map 0:a -c:a libmp3lame -b:a 64k "$work/a.mp3" \
            -map 0:a -c:a libmp3lame -b:a 128k "$work/b.mp3" \
            -map 0:a -c:a libmp3lame -b:a 192k "$work/c.mp3"
    done
}
export -f ffmpeg_all
export lib work
timed "ffmpeg, 3 MP3 renditions, serial" bash -c ffmpeg_all
for jobs in 1 2; do
    data="$work/data-$jobs"
    # The admin the import imports for (a server's first start would make one).
    "$bin" --data-dir "$data" user create --email "owner@bench.test" --username owner \
        --password bench-owner-password --admin >/dev/null
    timed "mist-server import --jobs $jobs" "$bin" --data-dir "$data" import "$lib" --jobs "$jobs"
done
timed "again (all already there)" "$bin" --data-dir "$work/data-2" import "$lib" --jobs 2
