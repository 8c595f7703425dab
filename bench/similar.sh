#!/usr/bin/env bash
# Benchmarks for audio features and similar tracks (issue 8). Prints figures;
# asserts nothing; not run in CI.
#
#   bench/similar.sh              everything
#   N_TRACKS=20000 bench/similar.sh
#
# 1. Analysis time of a 5-minute track: `mist-server analyze` (release build;
#    decode + features + embedding, whole process) against librosa 0.11's
#    feature calls (scripts/librosa_reference.py's `analyze`) on the same file
#    in the same run. librosa is looked for in $LIBROSA_PYTHON, then
#    /tmp/librosa-venv (see scripts/librosa_reference.py); without it that
#    line says "skipped".
# 2. Similar-track query latency at $N_TRACKS (default 100000) ready tracks
#    with random unit embeddings inserted directly, through the real HTTP
#    endpoint (`GET /api/v1/tracks/{id}/similar?limit=10`), on SQLite and on
#    PostgreSQL (needs the test services: scripts/test-services.sh start).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N_TRACKS="${N_TRACKS:-100000}"
QUERIES="${QUERIES:-50}"
WORK="$(mktemp -d /tmp/mist-bench-similar.XXXXXX)"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

cd "$ROOT"
echo "building mist-server (release)..." >&2
cargo build --release -q -p mist-server
BIN="$ROOT/target/release/mist-server"

best_of_3() { # prints the best wall time of three runs of "$@", in seconds
    local best="" t0 t1 t
    for _ in 1 2 3; do
        t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N)
        t=$(echo "$t1 - $t0" | bc -l)
        if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
    done
    printf '%.2f' "$best"
}

# --- 1. analysis of five minutes -------------------------------------------
FIVE="$WORK/five-minutes.wav"
sox -n -r 44100 -b 16 -c 2 "$FIVE" synth 300 sine 220 sine 660 pinknoise \
    remix 1,2,3 1,2,3 tremolo 2.13 50 gain -6
ffmpeg -v error -y -i "$FIVE" -c:a libmp3lame -b:a 192k "$WORK/five-minutes.mp3"
echo "== analysis of a 5-minute track (best of 3; $(nproc) cores, load average $(cut -d" " -f1 /proc/loadavg))"
echo "mist-server analyze, WAV:  $(best_of_3 "$BIN" analyze --json "$FIVE") s  (decode + resample + features + embedding)"
echo "mist-server analyze, MP3:  $(best_of_3 "$BIN" analyze --json "$WORK/five-minutes.mp3") s"

PY="${LIBROSA_PYTHON:-/tmp/librosa-venv/bin/python}"
if [ -x "$PY" ] && "$PY" -c 'import librosa' 2>/dev/null; then
    "$PY" - "$FIVE" <<'EOF'
import sys, time
sys.path.insert(0, "scripts")
import librosa
import librosa_reference as ref

t0 = time.perf_counter()
y, _ = librosa.load(sys.argv[1], sr=ref.SR, mono=True)
load = time.perf_counter() - t0
ref.analyze(y)  # warm numba's caches and the FFT plans
runs = []
for _ in range(3):
    t0 = time.perf_counter()
    ref.analyze(y)
    runs.append(time.perf_counter() - t0)
print(f"librosa {librosa.__version__} features:    {min(runs):.2f} s  (best of 3; plus {load:.2f} s for librosa.load to 22.05 kHz)")
EOF
else
    echo "librosa: skipped (no librosa in $PY; see scripts/librosa_reference.py to install it)"
fi

# --- 2. similar-track latency ----------------------------------------------
ADMIN_PASSWORD="bench-admin-password"
export MIST_ADMIN_PASSWORD="$ADMIN_PASSWORD" MIST_ADMIN_EMAIL="admin@bench.test"
export MIST_JWT_SECRET="bench-jwt-secret-that-is-long-enough-0123456789"
export MIST_MASTER_KEY="00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

# Writes a SQL-free TSV of N random unit vectors: id, title, pgvector literal, hex LE f32 blob.
python3 - "$N_TRACKS" > "$WORK/vectors.tsv" <<'EOF'
import math, random, struct, sys
random.seed(8)
for i in range(int(sys.argv[1])):
    v = [random.gauss(0, 1) for _ in range(40)]
    n = math.sqrt(sum(x * x for x in v))
    v = [x / n for x in v]
    print(f"bench{i:08d}\tbench track {i}\t[{','.join(f'{x:.7g}' for x in v)}]\t{struct.pack('<40f', *v).hex()}")
EOF

start_server() { # data dir, then env assignments
    local dir="$1"; shift
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    env "$@" "$BIN" serve --no-worker --data-dir "$dir" --listen "127.0.0.1:$port" >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    BASE="http://127.0.0.1:$port"
    for _ in $(seq 100); do curl -sf "$BASE/healthz" >/dev/null && return 0; sleep 0.1; done
    cat "$WORK/server.log" >&2; exit 1
}

stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }

measure() { # label
    local token
    token=$(curl -sf -X POST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"$MIST_ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" | jq -r .token)
    curl -sf -H "authorization: Bearer $token" "$BASE/api/v1/tracks/bench00000000/similar?limit=10" \
        | jq -e '.items | length == 10' >/dev/null
    for i in $(seq "$QUERIES"); do
        id=$(printf 'bench%08d' $(( (i * 7919) % N_TRACKS )))
        curl -s -o /dev/null -w '%{time_total}\n' -H "authorization: Bearer $token" \
            "$BASE/api/v1/tracks/$id/similar?limit=10"
    done | sort -n | awk -v label="$1" -v n="$N_TRACKS" '{ t[NR] = $1 * 1000 }
        END { printf "%-10s similar?limit=10 at %d tracks: median %.1f ms, p95 %.1f ms, max %.1f ms (%d queries over HTTP)\n",
              label, n, t[int(NR * 0.5 + 0.5)], t[int(NR * 0.95 + 0.5)], t[NR], NR }'
}

echo "== similar-track query latency (load average $(cut -d" " -f1 /proc/loadavg))"
# SQLite: an embedded data dir, filled with sqlite3.
SQLITE_DIR="$WORK/sqlite"
start_server "$SQLITE_DIR"
stop_server
ADMIN_ID=$(sqlite3 "$SQLITE_DIR/mist.db" "SELECT id FROM users WHERE email = '$MIST_ADMIN_EMAIL'")
awk -F'\t' -v admin="$ADMIN_ID" 'BEGIN { print "BEGIN;" }
    { printf "INSERT INTO tracks (id, uploader_id, title, duration_ms, status, original_key, created_at, updated_at) VALUES (%c%s%c, %c%s%c, %c%s%c, 180000, %cready%c, %ctracks/%s/original.wav%c, %d, %d);\n", 39, $1, 39, 39, admin, 39, 39, $2, 39, 39, 39, 39, $1, 39, NR, NR
      printf "INSERT INTO track_features (track_id, feature_version, features, embedding, computed_at) VALUES (%c%s%c, 1, %c{}%c, X%c%s%c, 0);\n", 39, $1, 39, 39, 39, 39, $4, 39 }
    END { print "COMMIT;" }' "$WORK/vectors.tsv" | sqlite3 "$SQLITE_DIR/mist.db"
start_server "$SQLITE_DIR"
measure sqlite
stop_server

# PostgreSQL: a fresh database next to the test databases.
if [ -z "${MIST_TEST_DATABASE_URL:-}" ] && [ -x scripts/test-services.sh ]; then
    eval "$(scripts/test-services.sh env 2>/dev/null)" || true
fi
if [ -n "${MIST_TEST_DATABASE_URL:-}" ]; then
    DB_NAME="mist_bench_$(date +%s)"
    psql -q "$MIST_TEST_DATABASE_URL" -c "CREATE DATABASE $DB_NAME"
    PG_URL="${MIST_TEST_DATABASE_URL%/*}/$DB_NAME"
    start_server "$WORK/pg" DATABASE_URL="$PG_URL"
    stop_server
    cut -f1,2,3 "$WORK/vectors.tsv" > "$WORK/pg.tsv"
    psql -q "$PG_URL" <<EOF
CREATE TEMP TABLE bench_in (id TEXT, title TEXT, embedding TEXT);
\copy bench_in FROM '$WORK/pg.tsv'
INSERT INTO tracks (id, uploader_id, title, duration_ms, status, original_key, created_at, updated_at)
  SELECT id, (SELECT id FROM users WHERE email = '$MIST_ADMIN_EMAIL'), title, 180000, 'ready',
         'tracks/' || id || '/original.wav', 0, 0 FROM bench_in;
INSERT INTO track_features (track_id, feature_version, features, embedding, computed_at)
  SELECT id, 1, '{}', embedding::vector, 0 FROM bench_in;
ANALYZE;
EOF
    echo "postgres plan: $(psql -qAt "$PG_URL" -c "EXPLAIN SELECT t.id FROM track_features f JOIN tracks t ON t.id = f.track_id
        WHERE t.status = 'ready' AND f.track_id <> 'x' ORDER BY f.embedding <=> (SELECT embedding FROM track_features LIMIT 1) LIMIT 10" \
        | grep -o 'Index Scan using [a-z_]*' | head -1)"
    start_server "$WORK/pg" DATABASE_URL="$PG_URL"
    measure postgres
    stop_server
    psql -q "$MIST_TEST_DATABASE_URL" -c "DROP DATABASE $DB_NAME"
else
    echo "postgres: skipped (no MIST_TEST_DATABASE_URL; run scripts/test-services.sh start)"
fi
