#!/usr/bin/env bash
# The load benchmark: starts the release server (SQLite, or PostgreSQL when a URL is given),
# prepares users, drives it with wrk from a second process over loopback, and prints a Markdown
# report: requests per second and p50/p99 latency per scenario, the target ratios, and the
# server's peak memory. On PostgreSQL it also measures the database's own select-only rate
# (`pgbench -S`, same connections and duration) in the same run, as the ceiling `/me` is held to.
#
#   bench/load.sh                                     # SQLite in a temporary folder
#   bench/load.sh postgres://postgres@127.0.0.1/bench # an existing, empty PostgreSQL database
#
# Environment: DURATION (seconds per scenario, 15), CONNECTIONS (32), BCRYPT_COST (12),
# ALGORITHM (the token signing algorithm, ES256: the default; HS256 for the shared-secret mode).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
case "${1:-}" in postgres*) command -v pgbench >/dev/null || { echo "needs pgbench (apt-get install postgresql-contrib)" >&2; exit 1; } ;; esac

duration=${DURATION:-15}
connections=${CONNECTIONS:-32}
cost=${BCRYPT_COST:-12}
algorithm=${ALGORITHM:-ES256}
cores=$(nproc)
database=${1:-}

cargo build --release -q -p api-actix
cargo build --release -q -p infra-bcrypt --example hash_throughput

work=$(mktemp -d)
# Only the pids this script started: `kill 0` would signal the caller's whole process group.
trap 'for pid in ${server:-} ${flood:-}; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
[ -n "$database" ] || database="$work/auth.db"

# One client drives the load on purpose: rate limits would measure themselves.
(cd "$work" && exec env APP_ENV=production APP__SERVER__HOST=127.0.0.1 APP__SERVER__PORT="$port" \
  APP__SERVER__PUBLIC_URL="$base" APP__MAIL__SMTP_URL="smtp://127.0.0.1:9?tls=none" \
  DATABASE_URL="$database" APP__PASSWORD__BCRYPT_COST="$cost" APP__RATE_LIMIT__ENABLED=false \
  APP__JWT__ALGORITHM="$algorithm" \
  JWT_SECRET_KEY=9f2c4e81d7a35b06e1c8f4a2b79d3e50a6c1f8e2d4b7a903 RUST_LOG=warn \
  "$OLDPWD/target/release/auth-api" > "$work/server.log" 2>&1) &
server=$!
for _ in $(seq 1 100); do curl -fsS "$base/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$base/health" >/dev/null 2>&1 || { echo "the server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }

# Users, each with a session; their tokens go into the wrk scripts.
users=$((connections * 2))
access=() refresh=()
for i in $(seq 1 "$users"); do
  reply=$(curl -fsS -X POST "$base/api/auth/register" -H 'Content-Type: application/json' \
    -d "{\"username\":\"bench_$i\",\"email\":\"bench_$i@example.com\",\"password\":\"correct-horse-1\"}")
  access+=("$(echo "$reply" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')")
  refresh+=("$(echo "$reply" | python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])')")
done
lua_list() { printf '"%s",' "$@"; }

# Reports rps, p50 and p99 (ms) and non-2xx answers as one tab-separated line.
report='
done = function(summary, latency, requests)
  io.write(string.format("RESULT\t%.1f\t%.2f\t%.2f\t%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status))
end'
cat > "$work/me.lua" <<LUA
local tokens = { $(lua_list "${access[@]}") }
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/api/auth/me", { Authorization = "Bearer " .. tokens[(n % #tokens) + 1] })
end
$report
LUA
cat > "$work/login.lua" <<LUA
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"login":"bench_%d","password":"correct-horse-1"}', (n % $users) + 1)
  return wrk.format("POST", "/api/auth/login", { ["Content-Type"] = "application/json" }, body)
end
$report
LUA
# Refresh rotates: every answer's new refresh token goes back into the pool.
cat > "$work/refresh.lua" <<LUA
local all = { $(lua_list "${refresh[@]}") }
local threads = {}
setup = function(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end
init = function()
  pool = {}
  local count = #all / 2
  for i = 1, count do pool[i] = all[index * count + i] end
end
request = function()
  local token = table.remove(pool, 1) or "exhausted"
  return wrk.format("POST", "/api/auth/refresh", { Authorization = "Bearer " .. token })
end
response = function(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then table.insert(pool, token) end
end
$report
LUA
printf '%s\n' "$report" > "$work/plain.lua"

run() { # name, wrk arguments...
  local name=$1; shift
  local line
  line=$(wrk -t2 -c"$connections" -d"${duration}s" "$@" | grep '^RESULT')
  echo "$name	${line#RESULT	}" >> "$work/results.tsv"
}

# The ceiling for logins, measured while the server is idle: after the flood, the server would
# still be hashing the logins whose clients wrk has dropped.
hashing=$(target/release/examples/hash_throughput "$cost" "$cores" "$duration")

run "GET /health" -s "$work/plain.lua" "$base/health"
run "GET /api/auth/me" -s "$work/me.lua" "$base"
run "POST /api/auth/refresh" -c2 -s "$work/refresh.lua" "$base"
run "POST /api/auth/login" -c8 -s "$work/login.lua" "$base"
wrk -t1 -c16 -d"$((duration + 4))s" -s "$work/login.lua" "$base" > /dev/null &
flood=$!
sleep 2
run "GET /api/auth/me while logins flood" -s "$work/me.lua" "$base"
wait "$flood" || true

peak_kib=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")

# PostgreSQL's own ceiling for one indexed read per request, with the server idle: pgbench's
# select-only script on its own tables (scale 10, dropped afterwards), as many clients as wrk.
pgbench_tps=0
case "$database" in postgres*)
  kill "$server"; wait "$server" 2>/dev/null || true; server=
  pgbench -i -q -s 10 "$database" >/dev/null 2>&1
  pgbench_tps=$(pgbench -S -n -c "$connections" -j 2 -T "$duration" "$database" 2>/dev/null |
    awk '/^tps/ {print $3; exit}')
  pgbench -i -I d "$database" >/dev/null 2>&1
  ;;
esac

python3 - "$work/results.tsv" "$hashing" "$peak_kib" "$cost" "$cores" "$duration" "$database" "$pgbench_tps" "$algorithm" <<'PY'
import sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
hashing, peak_kib, cost, cores, duration, database, pgbench_tps, algorithm = sys.argv[2:10]
r = {name: (float(rps), float(p50), float(p99), int(errors)) for name, rps, p50, p99, errors in rows}
backend = "PostgreSQL" if database.startswith("postgres") else "SQLite"
print(f"### {backend}, {algorithm} tokens, bcrypt cost {cost}, {cores} cores, {duration} s per scenario\n")
print("| scenario | requests/s | p50 ms | p99 ms | non-2xx |")
print("|---|---:|---:|---:|---:|")
for name, (rps, p50, p99, errors) in r.items():
    print(f"| `{name}` | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {errors} |")
hashing = float(hashing)
peak = int(peak_kib) / 1024
targets = [
    ("login throughput / hashing alone", r["POST /api/auth/login"][0] / hashing, 0.90, ">="),
    ("`/me` throughput / `/health` throughput", r["GET /api/auth/me"][0] / r["GET /health"][0], 0.50, ">="),
    ("`/me` p99 under a login flood / without", r["GET /api/auth/me while logins flood"][2] / r["GET /api/auth/me"][2], 3.0, "<="),
]
pgbench_tps = float(pgbench_tps)
if pgbench_tps:
    targets.append(("`/me` throughput / `pgbench -S` transactions/s", r["GET /api/auth/me"][0] / pgbench_tps, 0.70, ">="))
print(f"\nbcrypt alone on {cores} threads: {hashing:.1f} verifications/s. Peak resident memory: {peak:.1f} MiB.")
if pgbench_tps:
    print(f"`pgbench -S` (scale 10, the same connections and duration): {pgbench_tps:,.0f} transactions/s.")
print()
print("| target | measured | goal | met |")
print("|---|---:|---:|:---:|")
for name, value, goal, op in targets:
    met = value >= goal if op == ">=" else value <= goal
    print(f"| {name} | {value:.2f} | {op} {goal} | {'yes' if met else 'no'} |")
met = peak <= 64
print(f"| peak resident memory (MiB) | {peak:.1f} | <= 64 | {'yes' if met else 'no'} |")
PY
