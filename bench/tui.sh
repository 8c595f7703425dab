#!/usr/bin/env bash
# The terminal player's cost while playing: CPU (share of one core) and
# resident memory of `mist` running its TUI in a 120×40 tmux terminal, playing
# a generated track in real time to `--audio null` (or `wav:`) after a short
# warm-up. Samples /proc/PID every second. Targets (issue 7): under 5% of a
# core and under 40 MB resident. Not run in CI.
#
#   bench/tui.sh [SECONDS]    (default 60 measured seconds; PROFILE=dev for a debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
track_seconds=$((seconds + 30))

bench_cleanup() { tmux -S "$work/tmux.sock" kill-server 2>/dev/null || true; }
source bench/lib.sh

export HOME="$work/home" XDG_CONFIG_HOME="$work/home/xdg" XDG_STATE_HOME="$work/home/state"
mist="$bin/mist"
sox -n -r 44100 -b 16 -c 2 "$work/track.flac" synth "$track_seconds" sine 220:880 sine 330 remix 1 2 gain -6
# The admin's plan is unlimited, so the free quota does not cut the run short.
printf '%s\n' "$MIST_ADMIN_PASSWORD" | "$mist" --server "$server" login --email admin@localhost >/dev/null
"$mist" upload "$work/track.flac" --title "Bench Tone" >/dev/null

tmux -S "$work/tmux.sock" -f /dev/null new-session -d -s bench -x 120 -y 40 \
    env TERM=xterm-256color "$mist" --audio "${AUDIO:-null}"
pid=""
for _ in $(seq 50); do
    pid="$(pgrep -f "^$mist --audio" | head -1 || true)"
    [[ -n "$pid" ]] && break
    sleep 0.1
done
[[ -n "$pid" ]] || { echo "mist did not start" >&2; exit 1; }
for _ in $(seq 100); do
    tmux -S "$work/tmux.sock" capture-pane -p -t bench | grep -q "Bench Tone" && break
    sleep 0.1
done
tmux -S "$work/tmux.sock" send-keys -t bench Enter
sleep 5 # warm-up: session, first segments, the first quota poll

ticks_per_s="$(getconf CLK_TCK)"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
start_ticks="$(cpu_ticks)"
start_ns="$(date +%s%N)"
peak=0
for _ in $(seq "$seconds"); do
    sleep 1
    rss="$(rss_kib)"
    ((rss > peak)) && peak=$rss
done
end_ticks="$(cpu_ticks)"
end_ns="$(date +%s%N)"
screen="$(tmux -S "$work/tmux.sock" capture-pane -p -t bench)"
grep -q "▶ Bench Tone" <<<"$screen" || { echo "not playing at the end:" >&2; echo "$screen" >&2; exit 1; }
end_rss="$(rss_kib)"
tmux -S "$work/tmux.sock" send-keys -t bench q

cpu=$(awk -v t="$((end_ticks - start_ticks))" -v hz="$ticks_per_s" -v ns="$((end_ns - start_ns))" \
    'BEGIN { printf "%.2f", 100 * (t / hz) / (ns / 1e9) }')
echo "mist TUI playing to --audio ${AUDIO:-null} (${profile} build, 120×40 tmux, ${seconds} s measured)"
echo "CPU:        ${cpu}% of one core (target < 5%)"
echo "RSS peak:   $((peak / 1024)) MiB (${peak} KiB; target < 40 MB)"
echo "RSS at end: $((end_rss / 1024)) MiB"
