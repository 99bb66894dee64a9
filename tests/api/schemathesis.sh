#!/usr/bin/env bash
# Schemathesis (PyPI, written by others) against the real binary: it reads
# /api/v1/openapi.json, sends generated requests (valid and invalid) to every
# operation with an administrator's API key, and fails on any 5xx and on any answer
# the document does not describe (status, content type, headers, body schema).
#
#   LATCHKEY_BIN              the binary (default: $CARGO_TARGET_DIR/debug/latchkey)
#   SCHEMATHESIS              the schemathesis command (default: tests/api/.venv/bin/schemathesis)
#   SCHEMATHESIS_MAX_EXAMPLES test cases per operation and phase (default: 150)
#   SCHEMATHESIS_SEED         the seed, so that a run can be repeated (default: 1411)
#   SCHEMATHESIS_REPORT       report formats (default: junit; e.g. junit,har for every exchange)
#   SCHEMATHESIS_REPORT_DIR   where the reports are written (default: a temporary
#                             directory, kept and printed when the run fails)
#   SCHEMATHESIS_POSTGRES_URL run the server on PostgreSQL, in a throwaway schema made
#                             on this server (and dropped afterwards), instead of on a
#                             fresh SQLite file
set -euo pipefail
cd "$(dirname "$0")/../.."

bin="${LATCHKEY_BIN:-${CARGO_TARGET_DIR:-target}/debug/latchkey}"
schemathesis="${SCHEMATHESIS:-tests/api/.venv/bin/schemathesis}"
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-150}"
seed="${SCHEMATHESIS_SEED:-1411}"
for tool in "$bin" "$schemathesis"; do
    if [ ! -x "$tool" ]; then
        echo "error: $tool not found: run scripts/test (it builds the binary and installs tests/api/requirements.txt)" >&2
        exit 1
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-schemathesis-XXXXXX")
report="${SCHEMATHESIS_REPORT_DIR:-$work/report}"
server_pid=""
stop_server() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=""
}
schema=""
cleanup() {
    stop_server
    # Keep the server log and the report of a failed run; drop the database.
    rm -rf "$work/data"
    if [ -n "$schema" ]; then
        psql "$SCHEMATHESIS_POSTGRES_URL" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

database_url=""
backend=SQLite
if [ -n "${SCHEMATHESIS_POSTGRES_URL:-}" ]; then
    schema="lk_schemathesis_$$_$RANDOM"
    psql "$SCHEMATHESIS_POSTGRES_URL" -qc "CREATE SCHEMA $schema" >/dev/null
    case "$SCHEMATHESIS_POSTGRES_URL" in *\?*) sep='&' ;; *) sep='?' ;; esac
    database_url="$SCHEMATHESIS_POSTGRES_URL${sep}options=-c%20search_path%3D$schema"
    backend=PostgreSQL
fi

# A free port from the kernel, released for latchkey (a race on loopback is rare).
port=$("${schemathesis%/*}/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
# A clean environment: a developer's own LATCHKEY_* settings must not leak in.
env_of_server=(env -i "PATH=$PATH" "HOME=$work"
    "LATCHKEY_LISTEN=127.0.0.1:$port" "LATCHKEY_APP_URL=$url"
    "LATCHKEY_DATA_DIR=$work/data" "LATCHKEY_LOG_FORMAT=json"
    ${database_url:+"LATCHKEY_DATABASE_URL=$database_url"})
latchkey() { "${env_of_server[@]}" "$bin" "$@"; }

# The administrator and the key, made with the CLI before the server starts (it
# makes the database on first use, as the server would), and their twins, which take
# the calls that would revoke the key or demote its owner (see tests/api/hooks.py).
py="${schemathesis%/*}/python"
json_field() { "$py" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
user_id=$(latchkey users create --username schemathesis --email schemathesis@example.org --admin | json_field id)
twin_user_id=$(latchkey users create --username schemathesis-twin --email twin@example.org --admin | json_field id)
key_json=$(latchkey api-keys create --user schemathesis --name schemathesis --expires-in 1d)
key=$(json_field key <<<"$key_json")
key_id=$(json_field id <<<"$key_json")
twin_key_id=$(latchkey api-keys create --user schemathesis --name twin --expires-in 1d | json_field id)
export SCHEMATHESIS_HOOKS="$(pwd)/tests/api/hooks.py"
export LATCHKEY_SCHEMATHESIS_KEY_ID="$key_id" LATCHKEY_SCHEMATHESIS_TWIN_KEY_ID="$twin_key_id"
export LATCHKEY_SCHEMATHESIS_USER_ID="$user_id" LATCHKEY_SCHEMATHESIS_TWIN_USER_ID="$twin_user_id"

# Not through the function: $! must be the server itself (env execs it), not a subshell.
"${env_of_server[@]}" "$bin" >"$work/server.log" 2>&1 &
server_pid=$!
healthy=""
for _ in $(seq 150); do
    kill -0 "$server_pid" 2>/dev/null || break
    if latchkey healthcheck --url "$url/healthz" >/dev/null 2>&1; then
        healthy=1
        break
    fi
    sleep 0.1
done
if [ -z "$healthy" ]; then
    echo "error: latchkey did not answer on $url/healthz; its log:" >&2
    cat "$work/server.log" >&2
    exit 1
fi

# Every phase (the document's examples, the coverage of its edges, random inputs, and
# sequences of calls); valid and invalid inputs alike. One worker: the SQLite writer
# is one connection anyway, and the run stays the same from one machine to the next.
set +e
"$schemathesis" run "$url/api/v1/openapi.json" \
    --header "Authorization: Bearer $key" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --mode all \
    --max-examples "$max_examples" \
    --seed "$seed" \
    --generation-database none \
    --workers 1 \
    --request-timeout 10 \
    --no-color \
    --report "${SCHEMATHESIS_REPORT:-junit}" \
    --report-dir "$report"
status=$?
set -e

stop_server
if grep -q '"level":"ERROR"' "$work/server.log"; then
    echo "error: latchkey logged errors during the run:" >&2
    grep '"level":"ERROR"' "$work/server.log" | head -n 20 >&2
    [ "$status" -ne 0 ] || status=1
fi
if [ "$status" -ne 0 ]; then
    echo "schemathesis FAILED on $backend; server log: $work/server.log, report: $report" >&2
    exit "$status"
fi
rm -rf "$work"
echo "schemathesis on $backend: no server error, every answer as the document says"
