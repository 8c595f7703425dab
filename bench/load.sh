#!/usr/bin/env bash
# The listening hot path under load, measured from outside the server: the
# release `mist-server` on loopback driven by wrk (Debian's) for segment GETs,
# key requests (first fetch and re-fetch) and heartbeats, on SQLite (embedded)
# and on PostgreSQL, beside nginx (Debian's) serving the same segment file and
# a 16-byte file (a key's size) in the same run. Prints one table: requests/s,
# p50, p99 per row and the ratio to nginx. Asserts nothing; not run in CI.
#
#   bench/load.sh
#   MIST_BENCH_DURATION=5 MIST_BENCH_REPEAT=2 bench/load.sh
#
# Settings (environment):
#   MIST_BENCH_DURATION      seconds per row (10)
#   MIST_BENCH_THREADS       wrk threads (2)
#   MIST_BENCH_CONNECTIONS   wrk connections (32); also the number of listeners
#                            (one user and one session per connection) for the
#                            heartbeat and re-fetch rows
#   MIST_BENCH_FIRST_USERS   users whose keys make the first-fetch pool (1024);
#                            the pool is users × every key of every track, and
#                            the row stops early when it is spent (the "s" column)
#   MIST_BENCH_TRACKS        tracks ingested through the API (4), of
#   MIST_BENCH_TRACK_SECONDS seconds each (300)
#   MIST_BENCH_REPEAT        runs of each row, one after another (1; 2 or 3
#                            show the noise on a shared machine)
#   MIST_BENCH_ENGINES       "sqlite postgres" (Postgres: the test services'
#                            server, scripts/test-services.sh, a fresh database)
#   MIST_BENCH_BIN           a mist-server binary to measure instead of this
#                            checkout's (e.g. a copy built from main, so before
#                            and after run back to back with the same script);
#                            the `mist` CLI used for uploads is still this one's
#
# All data is made through the public API and the `mist` CLI (uploads, users,
# sessions); URLs are read from the API's answers (master_url, the playlists'
# key URIs and segment lines), never built here, except the heartbeat route.
# Users are premium, so the free plan's quota and session rules never refuse
# the load; per-user rate limits are raised through their settings.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${MIST_BENCH_DURATION:-10}"
THREADS="${MIST_BENCH_THREADS:-2}"
CONNECTIONS="${MIST_BENCH_CONNECTIONS:-32}"
FIRST_USERS="${MIST_BENCH_FIRST_USERS:-1024}"
TRACKS="${MIST_BENCH_TRACKS:-4}"
TRACK_SECONDS="${MIST_BENCH_TRACK_SECONDS:-300}"
REPEAT="${MIST_BENCH_REPEAT:-1}"
ENGINES="${MIST_BENCH_ENGINES:-sqlite postgres}"
SEGMENT_BYTES=98304 # the segment nearest 96 KiB is the one served

log() { echo "load.sh: $*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --- tools -------------------------------------------------------------------
install_tools() {
    local missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
    command -v jq >/dev/null || missing+=(jq)
    command -v sox >/dev/null || missing+=(sox)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing Debian packages: ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    fi
}
install_tools
NGINX_BIN="$(command -v nginx || echo /usr/sbin/nginx)"

if [ -n "${MIST_BENCH_BIN:-}" ]; then
    log "building mist (release); the server is $MIST_BENCH_BIN"
    cargo build --release -q -p mist-tui
else
    log "building mist-server and mist (release)"
    cargo build --release -q -p mist-server -p mist-tui
fi
BIN="$PWD/target/release"
SERVER_BIN="${MIST_BENCH_BIN:-$BIN/mist-server}"
[ -x "$SERVER_BIN" ] || { log "MIST_BENCH_BIN=$SERVER_BIN is not an executable"; exit 1; }

WORK="$(mktemp -d /tmp/mist-bench-load.XXXXXX)"
chmod 755 "$WORK" # nginx's workers run as another user
SERVER_PID="" NGINX_PID="" PG_DB=""
cleanup() {
    [ -n "$SERVER_PID" ] && { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }
    [ -n "$NGINX_PID" ] && { kill "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true; }
    [ -n "$PG_DB" ] && psql -q "$MIST_TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS $PG_DB" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

export MIST_ADMIN_EMAIL="admin@localhost" MIST_ADMIN_PASSWORD="bench-admin-password"
export MIST_JWT_SECRET="bench-jwt-secret-that-is-long-enough-0123456789"
export MIST_MASTER_KEY="00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
# Registering hundreds of users from one address; per-user limits on session
# opens, heartbeats and key requests (where this build has them: unknown
# MIST_ variables are ignored). Registration open, in case its default changes.
export MIST_AUTH_RATE_LIMIT_PER_MINUTE=100000000
export MIST_SESSION_OPENS_PER_MINUTE=100000000 MIST_HEARTBEATS_PER_MINUTE=100000000
export MIST_KEY_REQUESTS_PER_MINUTE=100000000 MIST_MAX_OPEN_SESSIONS=1000
export MIST_REGISTRATION=open

# --- the server ----------------------------------------------------------------
start_server() { # engine
    local port
    port="$(free_port)"
    export BASE="http://127.0.0.1:$port"
    local db=()
    if [ "$1" = postgres ]; then db=(DATABASE_URL="$PG_URL"); fi
    env "${db[@]}" "$SERVER_BIN" serve --data-dir "$WORK/$1" --listen "127.0.0.1:$port" \
        >>"$WORK/$1-server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 300); do curl -fsS "$BASE/healthz" >/dev/null 2>&1 && return 0; sleep 0.1; done
    tail -20 "$WORK/$1-server.log" >&2
    exit 1
}
stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }

# --- setup through the API, one small function per thing ---------------------
api() { # method path token [json]
    local args=(-fsS -X "$1" "$BASE$2")
    [ "$3" != - ] && args+=(-H "authorization: Bearer $3")
    [ $# -ge 4 ] && args+=(-H 'content-type: application/json' -d "$4")
    curl "${args[@]}"
}

admin_token() {
    api POST /api/v1/auth/login - "{\"email\":\"$MIST_ADMIN_EMAIL\",\"password\":\"$MIST_ADMIN_PASSWORD\"}" | jq -r .token
}

make_audio() { # the same files for every engine
    for i in $(seq "$TRACKS"); do
        sox -n -r 44100 -b 16 -c 2 "$WORK/track$i.flac" synth "$TRACK_SECONDS" \
            sine $((180 + 40 * i)):$((600 + 90 * i)) sine $((300 + 25 * i)) remix 1 2 gain -6
    done
}

upload_tracks() { # engine → prints track ids; the admin uploads with the mist CLI
    local home="$WORK/$1-home"
    mkdir -p "$home"
    printf '%s\n' "$MIST_ADMIN_PASSWORD" |
        HOME="$home" XDG_CONFIG_HOME="$home/xdg" "$BIN/mist" --server "$BASE" login --email "$MIST_ADMIN_EMAIL" >/dev/null
    HOME="$home" XDG_CONFIG_HOME="$home/xdg" "$BIN/mist" --server "$BASE" upload --json "$WORK"/track*.flac |
        jq -r '.[].track_id'
}

register_user() { # n → "token id"
    api POST /api/v1/auth/register - \
        "{\"email\":\"bench$1@bench.test\",\"username\":\"bench$1\",\"password\":\"bench-password-$1\"}" |
        jq -r '"\(.token) \(.user.id)"'
}

make_premium() { # admin-token user-id
    api PATCH "/api/v1/admin/users/$2" "$1" '{"plan":"premium"}' >/dev/null
}

register_users() { # count → "token id" lines, registered 4 at a time (password hashing dominates)
    seq "$1" | xargs -P 4 -I{} bash -c 'register_user {}'
}

master_url() { # token track-id
    api GET "/api/v1/tracks/$2" "$1" | jq -r .master_url
}

open_session() { # token track-id → session id
    api POST /api/v1/playback/sessions "$1" "{\"track_id\":\"$2\"}" | jq -r .session_id
}

export -f api register_user make_premium

heartbeat_path() { echo "/api/v1/playback/sessions/$1/heartbeat"; }

path_of() { # absolute URL on this server → its path (the load generator's unit)
    case "$1" in
        "$BASE"/*) echo "${1#"$BASE"}" ;;
        *) log "URL $1 is not on $BASE (MIST_PUBLIC_URL?)"; exit 1 ;;
    esac
}

# Builds the request files of one engine under $WORK/$engine-*.req
setup_engine() { # engine
    local e="$1" admin tracks=() listeners first track master
    log "$e: ingesting $TRACKS × ${TRACK_SECONDS}s tracks through the API"
    mapfile -t tracks < <(upload_tracks "$e")
    [ "${#tracks[@]}" -eq "$TRACKS" ] || { log "$e: upload gave ${#tracks[@]} tracks"; exit 1; }
    admin="$(admin_token)"
    log "$e: registering $CONNECTIONS listeners and $FIRST_USERS more users (premium)"
    register_users $((CONNECTIONS + FIRST_USERS)) >"$WORK/$e-users"
    [ "$(wc -l <"$WORK/$e-users")" -eq $((CONNECTIONS + FIRST_USERS)) ] || { log "$e: registration failed"; exit 1; }
    cut -d' ' -f2 "$WORK/$e-users" | xargs -P 4 -I{} bash -c "make_premium $admin {}"
    listeners="$WORK/$e-listeners" first="$WORK/$e-first-users"
    head -n "$CONNECTIONS" "$WORK/$e-users" >"$listeners"
    tail -n +"$((CONNECTIONS + 1))" "$WORK/$e-users" >"$first"

    # Every key URI of every track, from each track's own playlists.
    : >"$WORK/$e-keys"
    for track in "${tracks[@]}"; do
        master="$(master_url "$admin" "$track")"
        python3 bench/hls_urls.py keys "$master" >>"$WORK/$e-keys"
    done
    master="$(master_url "$(head -1 "$listeners" | cut -d' ' -f1)" "${tracks[0]}")"
    python3 bench/hls_urls.py segment "$master" "$SEGMENT_BYTES" >"$WORK/$e-segment"
    SEGMENT_URL="$(cut -f1 "$WORK/$e-segment")" SEGMENT_SIZE="$(cut -f2 "$WORK/$e-segment")"
    echo "- $(path_of "$SEGMENT_URL")" >"$WORK/$e-segment.req"
    echo "- /healthz" >"$WORK/$e-healthz.req"

    # Listeners: one session each on the first track; re-fetch its first two keys.
    : >"$WORK/$e-heartbeat.req"
    : >"$WORK/$e-refetch.req"
    local token _id key
    while read -r token _id; do
        heartbeat_path "$(open_session "$token" "${tracks[0]}")" | sed "s|^|$token |" >>"$WORK/$e-heartbeat.req"
        head -2 "$WORK/$e-keys" | while read -r key; do echo "$token $(path_of "$key")"; done >>"$WORK/$e-refetch.req"
    done <"$listeners"

    # First fetches: every key for every other user, dealt to the repeats, so
    # no request of the pool is ever a key that user was given before.
    awk -v base="$BASE" 'NR == FNR { keys[++n] = substr($0, length(base) + 1); next }
        { users[++u] = $1 }
        END { for (k = 1; k <= n; k++) for (i = 1; i <= u; i++) print users[i], keys[k] }' \
        "$WORK/$e-keys" "$first" >"$WORK/$e-first.all"
    for r in $(seq "$REPEAT"); do
        awk -v r="$r" -v n="$REPEAT" 'NR % n == r % n' "$WORK/$e-first.all" >"$WORK/$e-first-$r.req"
    done
    log "$e: $(wc -l <"$WORK/$e-keys") keys, first-fetch pool $(wc -l <"$WORK/$e-first.all") (user, key) pairs" \
        "($(wc -l <"$WORK/$e-first-1.req") a run), segment $SEGMENT_SIZE bytes"
}

# --- nginx, the reference ----------------------------------------------------
start_nginx() { # segment-file
    local dir="$WORK/nginx" port
    mkdir -p "$dir/root" "$dir/tmp"
    chmod -R a+rX "$dir"
    cp "$1" "$dir/root/segment.mp3"
    head -c 16 /dev/urandom >"$dir/root/key.bin"
    chmod a+r "$dir/root"/*
    port="$(free_port)"
    NGINX="http://127.0.0.1:$port"
    cat >"$dir/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000000;
    types { audio/mpeg mp3; application/octet-stream bin; }
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    server {
        listen 127.0.0.1:$port;
        root $dir/root;
    }
}
EOF
    "$NGINX_BIN" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" &
    NGINX_PID=$!
    for _ in $(seq 100); do curl -fsS "$NGINX/key.bin" >/dev/null 2>&1 && break; sleep 0.1; done
    echo "- /segment.mp3" >"$WORK/nginx-segment.req"
    echo "- /key.bin" >"$WORK/nginx-key.req"
}

# --- measuring -----------------------------------------------------------------
# Appends "label<TAB>engine<TAB>reference<TAB>requests duration p50 p99 status-errors socket-errors".
measure() { # label engine reference mode request-file base-url [seconds]
    local out line
    out="$(wrk -t "$THREADS" -c "$CONNECTIONS" -d "${7:-$DURATION}s" --timeout 10s \
        -s bench/load.lua "$6" -- "$4" "$5" "$THREADS" 2>&1)" || { echo "$out" >&2; exit 1; }
    line="$(grep '^WRK ' <<<"$out")" || { echo "$out" >&2; exit 1; }
    [ -z "${7:-}" ] || return 0 # a warm-up
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$(sed 's/[a-z_0-9]*=//g; s/^WRK //' <<<"$line")" >>"$WORK/results"
    log "$1 ($2): $line"
}

repeat() { for _ in $(seq "$REPEAT"); do "$@"; done; }

run_nginx() {
    repeat measure "nginx: 96 KB segment file" - - cycle "$WORK/nginx-segment.req" "$NGINX"
    repeat measure "nginx: 16-byte file" - - cycle "$WORK/nginx-key.req" "$NGINX"
}

run_mist() { # engine
    local e="$1"
    # Warm-up (not shown): connections, pools, and the re-fetch keys' first fetch.
    measure warm-up "$e" - cycle "$WORK/$e-refetch.req" "$BASE" 2
    repeat measure "GET segment ($SEGMENT_SIZE B)" "$e" "nginx: 96 KB segment file" cycle "$WORK/$e-segment.req" "$BASE"
    repeat measure "GET /healthz (no database)" "$e" "nginx: 16-byte file" cycle "$WORK/$e-healthz.req" "$BASE"
    repeat measure "GET key, re-fetch" "$e" "nginx: 16-byte file" cycle "$WORK/$e-refetch.req" "$BASE"
    repeat measure "POST heartbeat" "$e" "nginx: 16-byte file" heartbeat "$WORK/$e-heartbeat.req" "$BASE"
    for r in $(seq "$REPEAT"); do
        measure "GET key, first fetch" "$e" "nginx: 16-byte file" once "$WORK/$e-first-$r.req" "$BASE"
    done
}

# --- the run -------------------------------------------------------------------
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
: >"$WORK/results"
make_audio
for engine in $ENGINES; do
    case "$engine" in
        sqlite) ;;
        postgres)
            if [ -z "${MIST_TEST_DATABASE_URL:-}" ]; then
                eval "$(scripts/test-services.sh env 2>/dev/null)" || true
            fi
            if [ -z "${MIST_TEST_DATABASE_URL:-}" ]; then
                log "postgres: skipped (the test services are not running: scripts/test-services.sh start)"
                continue
            fi
            PG_DB="mist_bench_load_$(date +%s)_$$"
            psql -q "$MIST_TEST_DATABASE_URL" -c "CREATE DATABASE $PG_DB"
            PG_URL="${MIST_TEST_DATABASE_URL%/*}/$PG_DB"
            ;;
        *) log "unknown engine $engine"; exit 1 ;;
    esac
    start_server "$engine"
    setup_engine "$engine"
    if [ -z "$NGINX_PID" ]; then
        curl -fsS "$SEGMENT_URL" -o "$WORK/segment.mp3"
        start_nginx "$WORK/segment.mp3"
        run_nginx
    fi
    run_mist "$engine"
    stop_server
done

echo
echo "MIST load: $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo '+changes')${MIST_BENCH_BIN:+, server binary $MIST_BENCH_BIN}, $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))"
echo "wrk $THREADS threads, $CONNECTIONS connections, ${DURATION} s a row, loopback; release build, local storage;" \
    "$CONNECTIONS listeners + $FIRST_USERS first-fetch users, all premium; load average before $LOAD_BEFORE, after $(cut -d' ' -f1-3 /proc/loadavg)"
awk -F'\t' '
    { split($4, f, " "); label[NR] = $1; engine[NR] = $2; ref[NR] = $3
      rate[NR] = f[1] / (f[2] / 1e6); p50[NR] = f[3] / 1000; p99[NR] = f[4] / 1000
      err[NR] = f[5] + f[6]; secs[NR] = f[2] / 1e6
      if ($2 == "-" && !($1 in nginx)) nginx[$1] = rate[NR] }
    END {
      printf "%-30s %-8s %9s %8s %8s %7s %5s  %s\n", "row", "engine", "req/s", "p50 ms", "p99 ms", "errors", "s", "vs nginx"
      for (i = 1; i <= NR; i++) {
        vs = ref[i] == "-" ? "(reference)" : (ref[i] in nginx ? sprintf("%.2f× %s", rate[i] / nginx[ref[i]], ref[i] ~ /segment/ ? "segment" : "16 B") : "")
        printf "%-30s %-8s %9.0f %8.2f %8.2f %7d %5.1f  %s\n", label[i], engine[i], rate[i], p50[i], p99[i], err[i], secs[i], vs
      }
    }' "$WORK/results"
