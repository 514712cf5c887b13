#!/usr/bin/env bash
# Airflow for the kvt DAGs (examples/airflow/kvt_dags.py): install it, and run
# the kvt_nightly DAG for real on a generated day.
#
# Usage:
#   scripts/airflow.sh install [DIR]                  virtualenv DIR/venv with the pinned Airflow
#   scripts/airflow.sh test [--fail-silver] [--scale N] [DIR]
#                                                     airflow dags test kvt_nightly 2026-03-17
#
# DIR defaults to target/airflow of the repository; everything goes under it
# (the venv, pip's cache, the test's Airflow home, lake, PostgreSQL, broker).
#
# install: creates DIR/venv with ${PYTHON:-python3} (3.11 or 3.12) and installs
#   examples/airflow/requirements.txt (apache-airflow 2.x and every dependency,
#   pinned); skipped when the venv already has exactly that file installed.
#   Network: PyPI only.
#
# test: installs if needed, then, in a fresh DIR/run (the previous one is
#   stopped and removed):
#   - a day of data: kvt-gen --date 2026-03-17 --scale N (default 1) --seed 42;
#   - kvt.toml = kvt.example.toml + an [airflow] table (kvt_bin = the built kvt,
#     retries = 0). When kvt refuses that table (unknown field), the table goes
#     to airflow.toml instead, named by KVT_AIRFLOW_CONFIG, and that is said on stderr;
#   - a private PostgreSQL (scripts/pg.sh), a tansu broker on 127.0.0.1 (free
#     port), the topics and the day's payments and orders (kvt-gen topics/produce);
#   - KVT_PSEUDONYM_KEY (a fixed test key), KVT_NOW=2026-03-17T23:50:00Z,
#     KVT_AS_OF=2026-03-17, lineage to DIR/run/work/lineage.jsonl; every other
#     KVT_* variable of the caller is unset;
#   - airflow db migrate (SQLite), then `airflow dags test kvt_nightly 2026-03-17`
#     with the DAGs folder examples/airflow; services stopped at the end.
#   --fail-silver: the same with KVT_PSEUDONYM_KEY unset, so every silver task
#     fails (kvt exits 2: no key) and gold, load and check end upstream_failed.
#   stderr: one line per task (state, kvt's duration and summary); logs in
#   DIR/run/*.log (every task's log, kvt's included: DIR/run/dags-test.log). The last stdout line:
#     {"dag":"kvt_nightly","states":{"ingest_kafka":"success",...}}
#   read from the Airflow metadata database. Exit 0 when the DAG ran, whatever
#   the task states; non-zero when the setup failed.
#
# Binaries: $KVT_BIN_DIR (default target/release) for kvt and kvt-gen,
# $KVT_TOOLS_DIR/bin/tansu (default target/tools): `make build tools` makes them.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
DAGS=$ROOT/examples/airflow
REQ=$DAGS/requirements.txt
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN_DIR=${KVT_BIN_DIR:-$TARGET/release}
TOOLS_DIR=${KVT_TOOLS_DIR:-$TARGET/tools}
DATE=2026-03-17
TEST_KEY=airflow-test-pseudonym-key-0123456789abcdef

die() { echo "airflow.sh: $*" >&2; exit 2; }
say() { echo "airflow.sh: $*" >&2; }
usage() { sed -n '5,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64; }

# ------------------------------------------------------------------ install

airflow_pin() { sed -n 's/^apache-airflow==\([^ ;]*\).*/\1/p' "$REQ"; }

installed() { # venv → true when it holds exactly requirements.txt
  local venv=$1 have
  [[ -x $venv/bin/airflow && -f $venv/.kvt-requirements.sha256 ]] || return 1
  [[ $(<"$venv/.kvt-requirements.sha256") == "$(sha256sum <"$REQ" | cut -d' ' -f1)" ]] || return 1
  have=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("apache-airflow"))' 2>/dev/null) || return 1
  [[ $have == "$(airflow_pin)" ]]
}

cmd_install() {
  local dir=$1 venv=$1/venv py=${PYTHON:-python3} start=$SECONDS version
  version=$(airflow_pin)
  [[ -n $version ]] || die "no apache-airflow==X line in $REQ"
  if installed "$venv"; then
    say "apache-airflow $version already installed in $venv"
    return 0
  fi
  command -v "$py" >/dev/null || die "$py not found (set PYTHON)"
  # requirements.txt was verified on 3.11; Airflow 2.11 itself runs on 3.9 to 3.12.
  "$py" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] <= (3, 12)))' ||
    die "$py is Python $("$py" -c 'import platform; print(platform.python_version())'); requirements.txt needs 3.11 or 3.12 (set PYTHON)"
  mkdir -p "$dir"
  if [[ ! -x $venv/bin/python ]]; then
    "$py" -m venv "$venv" || die "python -m venv $venv failed (Debian: apt-get install python3-venv)"
  fi
  say "installing apache-airflow $version into $venv (PyPI; log $dir/pip.log)"
  if ! PIP_CACHE_DIR=$dir/pip-cache PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$venv/bin/pip" install --no-input -r "$REQ" >"$dir/pip.log" 2>&1; then
    tail -n 20 "$dir/pip.log" >&2
    die "pip install failed (log: $dir/pip.log)"
  fi
  "$venv/bin/pip" check >>"$dir/pip.log" 2>&1 || { tail -n 20 "$dir/pip.log" >&2; die "pip check failed"; }
  sha256sum <"$REQ" | cut -d' ' -f1 >"$venv/.kvt-requirements.sha256"
  say "apache-airflow $version installed in $venv in $((SECONDS - start)) s"
}

# ------------------------------------------------------------------ test

RUN='' WORK='' TANSU_PID=''

stop_services() {
  local run=$1
  if [[ -f $run/work/broker/pid ]]; then
    local pid
    pid=$(<"$run/work/broker/pid")
    # Only the broker this script started (its pid file, and it is tansu).
    if [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q tansu; then
      kill "$pid" 2>/dev/null || true
      local _
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
  if [[ -d $run/work/pg ]]; then
    "$ROOT/scripts/pg.sh" stop "$run/work/pg" >/dev/null 2>&1 || true
  fi
}

cleanup() {
  [[ -n $RUN ]] && stop_services "$RUN"
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

toml_string() { # a TOML basic string
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}

cmd_test() {
  local dir=$1 fail_silver=$2 scale=$3
  cmd_install "$dir"
  local venv=$dir/venv kvt=$BIN_DIR/kvt gen=$BIN_DIR/kvt-gen tansu=$TOOLS_DIR/bin/tansu
  for b in "$kvt" "$gen" "$tansu"; do
    [[ -x $b ]] || die "$b not found (make build tools; or set KVT_BIN_DIR / KVT_TOOLS_DIR)"
  done

  RUN=$dir/run
  WORK=$RUN/work
  # The previous run: its services stopped, its files (and pg.sh's /tmp home) removed.
  stop_services "$RUN"
  if [[ -f $WORK/pg/pg-home ]]; then rm -rf -- "$(<"$WORK/pg/pg-home")"; fi
  rm -rf -- "$RUN"
  mkdir -p "$RUN/airflow" "$WORK/broker"
  trap cleanup EXIT
  local t0=$SECONDS

  # Nothing of the caller's kvt environment leaks into the run.
  local v
  for v in $(compgen -e | grep '^KVT_' || true); do unset "$v"; done

  say "generating $DATE (scale $scale, seed 42) into $WORK/drop"
  "$gen" --date "$DATE" --scale "$scale" --seed 42 --out "$WORK/drop" >"$RUN/kvt-gen.log" 2>&1 ||
    { tail -n 20 "$RUN/kvt-gen.log" >&2; die "kvt-gen failed"; }

  # kvt.toml with the [airflow] table; airflow.toml when kvt refuses the table.
  cp "$ROOT/kvt.example.toml" "$WORK/kvt.toml"
  local table
  table=$(printf '\n[airflow]\n# scripts/airflow.sh test\nkvt_bin = %s\nworkdir = %s\nretries = 0\nretry_delay = "5s"\n' \
    "$(toml_string "$kvt")" "$(toml_string "$WORK")")
  printf '%s\n' "$table" >>"$WORK/kvt.toml"
  local probe
  if ! probe=$(cd "$WORK" && "$kvt" --config kvt.toml ingest drive nginx --dry-run 2>/dev/null); then
    cp "$ROOT/kvt.example.toml" "$WORK/kvt.toml"
    (cd "$WORK" && "$kvt" --config kvt.toml ingest drive nginx --dry-run >/dev/null 2>&1) ||
      { echo "$probe" >&2; die "kvt rejects kvt.example.toml itself"; }
    printf '%s\n' "$table" >"$WORK/airflow.toml"
    export KVT_AIRFLOW_CONFIG=$WORK/airflow.toml
    # The error of kvt's summary line, its first and last lines.
    say "kvt refuses an [airflow] table in kvt.toml: $(tail -n 1 <<<"$probe" | python3 -c '
import json, sys
try:
    e = json.loads(sys.stdin.read())["error"].splitlines()
    print(e[0] + (" ... " + e[-1] if len(e) > 1 else ""))
except Exception:
    print("(no summary)")')"
    say "so the [airflow] table is in $KVT_AIRFLOW_CONFIG (KVT_AIRFLOW_CONFIG)"
  fi

  say "PostgreSQL in $WORK/pg"
  local urls
  urls=$("$ROOT/scripts/pg.sh" start "$WORK/pg" 2>"$RUN/pg.log") || { cat "$RUN/pg.log" >&2; die "pg.sh start failed"; }
  eval "$urls"
  export KVT_WAREHOUSE_URL KVT_OLTP_URL

  local port
  port=$(free_port)
  say "tansu broker on 127.0.0.1:$port"
  (cd "$WORK/broker" && exec "$tansu" broker --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine sqlite://tansu.db \
    >tansu.log 2>&1) &
  TANSU_PID=$!
  echo "$TANSU_PID" >"$WORK/broker/pid"
  local _
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$TANSU_PID" 2>/dev/null || { tail -n 20 "$WORK/broker/tansu.log" >&2; die "tansu exited"; }
    sleep 0.1
  done
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || die "tansu is not listening on 127.0.0.1:$port after 10 s"
  export KVT_KAFKA_BROKERS=127.0.0.1:$port
  {
    "$gen" topics --brokers "$KVT_KAFKA_BROKERS" &&
      "$gen" produce --events "$WORK/drop/events" --brokers "$KVT_KAFKA_BROKERS" --topics payments,orders
  } >"$RUN/kafka.log" 2>&1 || { tail -n 20 "$RUN/kafka.log" >&2; die "kvt-gen topics/produce failed"; }

  export KVT_CONFIG=$WORK/kvt.toml
  export KVT_NOW=${DATE}T23:50:00Z KVT_AS_OF=$DATE
  export KVT_OPENLINEAGE_URL=file://$WORK/lineage.jsonl
  if [[ $fail_silver == 1 ]]; then
    say "--fail-silver: KVT_PSEUDONYM_KEY unset, every silver task must fail"
  else
    export KVT_PSEUDONYM_KEY=$TEST_KEY
  fi

  export AIRFLOW_HOME=$RUN/airflow
  export AIRFLOW__CORE__DAGS_FOLDER=$DAGS
  export AIRFLOW__CORE__LOAD_EXAMPLES=False
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:///$RUN/airflow/airflow.db
  export AIRFLOW__METRICS__TIMER_UNIT_CONSISTENCY=True
  export PATH=$venv/bin:$PATH
  airflow db migrate >"$RUN/airflow-db.log" 2>&1 || { tail -n 20 "$RUN/airflow-db.log" >&2; die "airflow db migrate failed"; }
  python -c '
import sys
from airflow.models.dagbag import DagBag
bag = DagBag(include_examples=False)
for path, error in bag.import_errors.items():
    print(f"{path}:\n{error}", file=sys.stderr)
sys.exit(1 if bag.import_errors or "kvt_nightly" not in bag.dags else 0)
' >"$RUN/dagbag.log" 2>&1 || { cat "$RUN/dagbag.log" >&2; die "the DAGs folder $DAGS has import errors (or no kvt_nightly)"; }
  say "setup done in $((SECONDS - t0)) s"

  local t1=$SECONDS rc=0
  say "airflow dags test kvt_nightly $DATE (log $RUN/dags-test.log)"
  airflow dags test kvt_nightly "$DATE" >"$RUN/dags-test.log" 2>&1 || rc=$?
  say "airflow dags test exited $rc after $((SECONDS - t1)) s (whole test $((SECONDS - t0)) s)"

  # The task states of that run, from the metadata database.
  python - "$RUN/airflow/airflow.db" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
row = db.execute("select run_id, state from dag_run where dag_id = 'kvt_nightly' order by id desc limit 1").fetchone()
if row is None:
    sys.exit("airflow.sh: no kvt_nightly run in the metadata database")
run_id, run_state = row
tis = db.execute(
    # (airflow dags test records no start_date: ordered by end)
    "select task_id, state from task_instance"
    " where dag_id = 'kvt_nightly' and run_id = ? order by end_date is null, end_date, task_id",
    (run_id,),
).fetchall()
xcom = {}
for task_id, value in db.execute(
    "select task_id, value from xcom where dag_id = 'kvt_nightly' and run_id = ? and key = 'return_value'", (run_id,)
):
    try:
        xcom[task_id] = json.loads(value)
    except (TypeError, ValueError):
        xcom[task_id] = value
print(f"airflow.sh: dag run {run_id}: {run_state}", file=sys.stderr)
for task_id, state in tis:
    summary = xcom.get(task_id)
    took = "-"
    if isinstance(summary, dict):
        if isinstance(summary.get("duration_ms"), (int, float)):
            took = f"{summary['duration_ms'] / 1000:.1f}s"
        summary = {k: v for k, v in summary.items() if k not in ("command", "run_id", "duration_ms")}
    text = json.dumps(summary, separators=(",", ":"))[:240] if summary is not None else "-"
    print(f"  {task_id:24} {str(state):16} {took:>7}  {text}", file=sys.stderr)
print(json.dumps({"dag": "kvt_nightly", "states": dict(sorted(tis))}, separators=(",", ":")))
PY
}

# ------------------------------------------------------------------ main

cmd=${1:-}
[[ -n $cmd ]] || usage
shift
case $cmd in
  install)
    [[ $# -le 1 ]] || usage
    cmd_install "$(realpath -m -- "${1:-$ROOT/target/airflow}")"
    ;;
  test)
    fail_silver=0 scale=1 dir=
    while [[ $# -gt 0 ]]; do
      case $1 in
        --fail-silver) fail_silver=1; shift ;;
        --scale) [[ $# -ge 2 ]] || usage; scale=$2; shift 2 ;;
        --scale=*) scale=${1#*=}; shift ;;
        -h | --help) usage ;;
        -*) echo "airflow.sh: unknown option $1" >&2; usage ;;
        *) [[ -z $dir ]] || usage; dir=$1; shift ;;
      esac
    done
    cmd_test "$(realpath -m -- "${dir:-$ROOT/target/airflow}")" "$fail_silver" "$scale"
    ;;
  -h | --help) usage ;;
  *) usage ;;
esac
