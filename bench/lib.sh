# Shared by bench/client.sh and bench/tui.sh (source it, after `cd` to the
# repository): builds mist-server and mist ($PROFILE, default release), makes
# a work dir that goes away on exit, and starts an embedded mist-server on a
# random port with a known admin password.
#
# Sets: bin (the binaries' dir), work, server (its base URL), server_pid,
# MIST_ADMIN_PASSWORD; an EXIT trap stops the server, runs `bench_cleanup` if
# the script defines one, and removes $work.

profile="${PROFILE:-release}"
cargo build --profile "$profile" -p mist-server -p mist-tui 2>&1 | tail -1
bin="$PWD/target/$([[ "$profile" == dev ]] && echo debug || echo "$profile")"
work="$(mktemp -d)"
server_pid=""
cleanup() {
    if declare -F bench_cleanup >/dev/null; then bench_cleanup; fi
    if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

port=$((20000 + RANDOM % 20000))
server="http://127.0.0.1:$port"
export MIST_ADMIN_PASSWORD="bench-admin-password"
MIST_DATA_DIR="$work/data" MIST_LISTEN="127.0.0.1:$port" RUST_LOG=warn \
    "$bin/mist-server" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
    curl -fsS "$server/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
