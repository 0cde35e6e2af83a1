#!/usr/bin/env bash
# The Optuna test of CI: PostgreSQL (Debian's, run as its own user), two
# workers on configs/digits-study.toml with tinyreg's points enqueued, one
# worker killed mid-trial and restarted; then python/tinyreg_optuna.py verify
# checks that the study completed, the pruner stopped some trials, the killed
# trial was failed and retried, and the enqueued points reproduce
# `tinyreg search`. Installs what it needs (apt-get, the venv) when root.
set -euo pipefail
cd "$(dirname "$0")/.."
config=configs/digits-study.toml
work=target/optuna-ci
rm -rf "$work" && mkdir -p "$work"

if ! command -v pg_ctlcluster >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 \
    || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql) >&2
fi
cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $1, $2}')
if [ -z "$cluster" ]; then
  pg_createcluster 15 main >&2
  cluster="15 main"
fi
# pg_ctlcluster runs the server as the postgres user.
pg_ctlcluster $cluster start 2>/dev/null || pg_ctlcluster $cluster status >/dev/null
as_postgres() { runuser -u postgres -- "$@"; }
as_postgres psql -q -c "DROP DATABASE IF EXISTS tinyreg_ci" >/dev/null
as_postgres psql -q -c "DROP ROLE IF EXISTS tinyreg_ci" >/dev/null
as_postgres psql -q -c "CREATE ROLE tinyreg_ci LOGIN PASSWORD 'tinyreg_ci'" >/dev/null
as_postgres psql -q -c "CREATE DATABASE tinyreg_ci OWNER tinyreg_ci" >/dev/null
url="postgresql+psycopg2://tinyreg_ci:tinyreg_ci@127.0.0.1:5432/tinyreg_ci"

python=$(scripts/optuna-venv.sh)
cargo build --release -q -p tinyreg-cli
tinyreg=target/release/tinyreg
"$tinyreg" search "$config" --out "$work/search" --threads 2 >"$work/search.log"
tail -3 "$work/search.log"

driver() { "$python" python/tinyreg_optuna.py "$@" --storage "$url" --study digits-ci --config "$config" --tinyreg "$tinyreg"; }
# A background worker is the python process itself (exec), so that kill -9
# reaches the worker and not a subshell around it.
worker() { exec "$python" python/tinyreg_optuna.py worker --storage "$url" --study digits-ci --config "$config" --tinyreg "$tinyreg"; }
driver create --enqueue
worker >"$work/a.log" 2>&1 &
a=$!
worker >"$work/b.log" 2>&1 &
b=$!
# Kill worker A as soon as it starts a trial (a trial takes a few hundred ms).
for _ in $(seq 600); do
  if grep -q "started" "$work/a.log"; then break; fi
  sleep 0.05
done
kill -9 "$a"
wait "$a" 2>/dev/null || true
killed=$(grep -m1 "started" "$work/a.log" | sed 's/.*trial \([0-9]*\) started.*/\1/')
echo "killed worker A during study trial $killed"
# Past the heartbeat's grace period the restarted worker fails the stale
# trial and its retry is enqueued.
sleep 4
worker >"$work/a2.log" 2>&1 &
a2=$!
wait "$b"
wait "$a2"
driver verify --search-dir "$work/search" --killed "$killed" --trials 12
