#!/usr/bin/env bash
# Installs (if missing) and starts (if not running) the services the test
# suite talks to: PostgreSQL 15 with pgvector, and s3s-fs, an S3-compatible
# server; and installs what the web player's browser test drives: Debian's
# chromium and the npm packages in mist-server/web (never a downloaded
# browser). Idempotent: run it as often as you like.
#
#   scripts/test-services.sh install   install what is missing, start nothing
#   scripts/test-services.sh start     install, start, print the environment
#   scripts/test-services.sh env       print the environment (services must be running)
#   scripts/test-services.sh stop      stop both services
#
# Use:  eval "$(scripts/test-services.sh start)" && cargo test
#
# Everything the services keep lives in $MIST_TEST_SERVICES_DIR
# (default /tmp/mist-test-services): a path the postgres user can reach even
# when the checkout sits in a private directory.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="${MIST_TEST_SERVICES_DIR:-/tmp/mist-test-services}"
PG_VERSION=15
PG_BIN="/usr/lib/postgresql/$PG_VERSION/bin"
PGVECTOR_SOURCE_SUITE=trixie   # pgvector is not packaged for bookworm; its trixie source builds here
S3S_VERSION=0.14.1
S3_BUCKET=mist-test
S3_ACCESS_KEY=mist-test-access
S3_SECRET_KEY=mist-test-secret-key
PG_PASSWORD=mist

log() { echo "test-services: $*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# The user postgres runs as: it refuses to run as root.
pg_user() {
    if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}

as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

install_apt() {
    local missing=()
    for pkg in postgresql-$PG_VERSION postgresql-server-dev-$PG_VERSION build-essential pkg-config \
               libasound2-dev ffmpeg sox espeak-ng tmux python3 dpkg-dev chromium dbus playerctl; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing Debian packages: ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    fi
}

install_pgvector() {
    if [ -f "/usr/share/postgresql/$PG_VERSION/extension/vector.control" ]; then
        return
    fi
    log "building pgvector from Debian's $PGVECTOR_SOURCE_SUITE source package"
    local work
    work="$(mktemp -d)"
    chmod 755 "$work"   # apt downloads as the _apt user
    mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/sources"
    cat > "$work/sources/pgvector-src.sources" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $PGVECTOR_SOURCE_SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    # A private source list, so the system's apt configuration is untouched.
    local opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$work/sources"
                -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache")
    as_root apt-get "${opts[@]}" update -qq >&2
    (cd "$work" && as_root apt-get "${opts[@]}" source --download-only pgvector >&2)
    local orig
    orig="$(ls "$work"/pgvector_*.orig.tar.* | head -n1)"
    mkdir -p "$work/build"
    tar -xf "$orig" -C "$work/build" --strip-components=1
    make -C "$work/build" -j"$(nproc)" PG_CONFIG="$PG_BIN/pg_config" OPTFLAGS="" >/dev/null
    as_root make -C "$work/build" install PG_CONFIG="$PG_BIN/pg_config" >/dev/null
    rm -rf "$work"
}

install_s3s() {
    if command -v s3s-fs >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/s3s-fs" ]; then
        return
    fi
    log "installing s3s-fs $S3S_VERSION from crates.io (a few minutes)"
    # A debug build: several times faster to compile, and fast enough to serve tests.
    cargo install --debug --locked "s3s-fs@$S3S_VERSION" --features binary >&2
}

s3s_bin() {
    command -v s3s-fs 2>/dev/null || echo "$HOME/.cargo/bin/s3s-fs"
}

# The web player's build and browser test (mist-server/web, docs/web.md).
# playwright-core needs Node 20 or newer, which Debian 12 does not package.
install_web() {
    local web="$ROOT/mist-server/web"
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        log "installing Node.js from Debian"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >&2
    fi
    local major
    major="$(node -p 'process.versions.node.split(".")[0]')"
    if [ "$major" -lt 20 ]; then
        log "Node $(node --version) is too old for the web player's tests: install Node 20 or newer"
        exit 1
    fi
    # npm records what it installed in node_modules/.package-lock.json; a newer
    # package-lock.json means the packages are out of date.
    if [ ! -f "$web/node_modules/.package-lock.json" ] || [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
        log "installing the web player's npm packages (npm ci)"
        (cd "$web" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund >&2)
    fi
}

install_all() {
    install_apt
    install_pgvector
    install_s3s
    install_web
}

pg_running() {
    [ -f "$STATE/pg/data/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$STATE/pg/data" status >/dev/null 2>&1
}

start_postgres() {
    if pg_running; then
        return
    fi
    mkdir -p "$STATE"
    chmod 755 "$STATE"
    if [ ! -f "$STATE/pg/data/PG_VERSION" ]; then
        log "initialising a PostgreSQL cluster in $STATE/pg"
        rm -rf "$STATE/pg"
        mkdir -p "$STATE/pg"
        chown "$(pg_user)" "$STATE/pg"
        local pwfile="$STATE/pg/.pw"
        echo "$PG_PASSWORD" > "$pwfile"
        chown "$(pg_user)" "$pwfile"
        as_pg "$PG_BIN/initdb" -D "$STATE/pg/data" -U mist --pwfile="$pwfile" -A scram-sha-256 >/dev/null
        rm -f "$pwfile"
    fi
    local port
    port="$(free_port)"
    echo "$port" > "$STATE/pg.port"
    # Durability is not what tests measure: trade it for speed.
    as_pg "$PG_BIN/pg_ctl" -D "$STATE/pg/data" -l "$STATE/pg/log" -w start \
        -o "-p $port -c listen_addresses=127.0.0.1 -k $STATE/pg -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" >/dev/null
    log "PostgreSQL listening on 127.0.0.1:$port"
}

# Each Postgres test makes its own database (mist_test_<uuid>) and leaves it:
# the cluster is thrown away with $STATE. Those older than an hour belong to
# finished runs, so each start drops them; disk use stays at about one run's.
drop_stale_test_databases() {
    local psql=("$PG_BIN/psql" -h "$STATE/pg" -p "$(cat "$STATE/pg.port")" -U mist -d postgres -qAt)
    local stale
    stale="$(PGPASSWORD="$PG_PASSWORD" "${psql[@]}" -c "SELECT datname FROM pg_database \
        WHERE datname LIKE 'mist\_test\_%' \
        AND (pg_stat_file('base/' || oid || '/PG_VERSION')).modification < now() - interval '1 hour'")"
    local count=0
    for db in $stale; do
        PGPASSWORD="$PG_PASSWORD" "${psql[@]}" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null
        count=$((count + 1))
    done
    if [ "$count" -gt 0 ]; then log "dropped $count test databases left by earlier runs"; fi
}

s3_running() {
    [ -f "$STATE/s3.pid" ] && kill -0 "$(cat "$STATE/s3.pid")" 2>/dev/null
}

start_s3() {
    if s3_running; then
        return
    fi
    mkdir -p "$STATE/s3/$S3_BUCKET"
    local port
    port="$(free_port)"
    echo "$port" > "$STATE/s3.port"
    # s3s-fs resolves paths against its working directory: give it one that
    # outlives the checkout that started it.
    (cd "$STATE" && exec nohup "$(s3s_bin)" --host 127.0.0.1 --port "$port" --access-key "$S3_ACCESS_KEY" \
        --secret-key "$S3_SECRET_KEY" "$STATE/s3" > "$STATE/s3.log" 2>&1) &
    echo $! > "$STATE/s3.pid"
    for _ in $(seq 1 50); do
        if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
            log "s3s-fs listening on 127.0.0.1:$port (bucket $S3_BUCKET)"
            return
        fi
        sleep 0.1
    done
    log "s3s-fs did not start; see $STATE/s3.log"
    exit 1
}

print_env() {
    pg_running || { log "PostgreSQL is not running: run '$0 start'"; exit 1; }
    s3_running || { log "s3s-fs is not running: run '$0 start'"; exit 1; }
    cat <<ENV
export MIST_TEST_DATABASE_URL=postgres://mist:$PG_PASSWORD@127.0.0.1:$(cat "$STATE/pg.port")/postgres
export MIST_TEST_S3_ENDPOINT=http://127.0.0.1:$(cat "$STATE/s3.port")
export MIST_TEST_S3_BUCKET=$S3_BUCKET
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
export AWS_REGION=us-east-1
ENV
}

stop_all() {
    if pg_running; then
        as_pg "$PG_BIN/pg_ctl" -D "$STATE/pg/data" -m fast stop >/dev/null && log "PostgreSQL stopped"
    fi
    if s3_running; then
        kill "$(cat "$STATE/s3.pid")" && rm -f "$STATE/s3.pid" && log "s3s-fs stopped"
    fi
}

case "${1:-start}" in
    install) install_all ;;
    start) install_all; start_postgres; drop_stale_test_databases; start_s3; print_env ;;
    env) print_env ;;
    stop) stop_all ;;
    *) echo "usage: $0 [install|start|env|stop]" >&2; exit 2 ;;
esac
