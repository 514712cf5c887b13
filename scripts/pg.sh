#!/usr/bin/env bash
# A private, throwaway PostgreSQL cluster for the kvt demo and benchmarks.
#
# Usage:
#   scripts/pg.sh start DIR [PORT]   create (first time) and start a cluster in DIR,
#                                    print KVT_WAREHOUSE_URL=... and KVT_OLTP_URL=...
#   scripts/pg.sh stop DIR           stop it (fast shutdown); no error if not running
#
#   eval "$(scripts/pg.sh start target/pg)"   # or: set -a; . target/pg/url.env; set +a
#
# start:
#   - DIR/data is initialised on first use: initdb -E UTF8 --locale=C, trust
#     authentication for local (unix socket) and 127.0.0.1 connections only.
#   - The server listens on 127.0.0.1:PORT only (PORT defaults to a free port picked
#     by the kernel), its unix socket is in DIR, its log is DIR/postgres.log.
#     Durability is off (fsync, synchronous_commit, full_page_writes; wal_level
#     minimal, no replication): the data does not survive a machine crash. Never put anything of value in it.
#   - Databases `warehouse` and `oltp` are created if missing.
#   - DIR/url.env gets the two URL lines, which are also printed on stdout
#     (everything else goes to stderr). The database user is `postgres` when run
#     as root, else the current user.
#   - Idempotent: if the cluster is already running, the URLs (with its current
#     port) are just printed again. A stopped cluster is reused, on a new free
#     port unless PORT is given.
#   Generated settings live in DIR/data/kvt.conf (rewritten on every start).
#
# Root: PostgreSQL refuses to run as root, so initdb/pg_ctl/createdb/psql then
# run as the `postgres` system user (runuser, or su), and DIR is chown -R'ed to
# postgres (DIR must be empty or hold only what this script puts there). That
# needs the postgres user to be able to traverse every parent of DIR (checked
# for real, by asking the postgres user to stat DIR). When it cannot (e.g. DIR
# is under a mode-700 home), nothing is chmod'ed: the cluster lives instead in
# /tmp/kvt-pg-<12 hex of sha256(DIR)> (owned by postgres, mode 700; data, log and
# unix socket there), DIR/pg-home holds that path, and DIR/data and
# DIR/postgres.log are symlinks into it. To remove such a cluster:
#   scripts/pg.sh stop DIR && rm -rf "$(cat DIR/pg-home)" DIR
# Binaries: the newest /usr/lib/postgresql/<version>/bin (Debian's postgresql).
set -euo pipefail

die() { echo "pg.sh: $*" >&2; exit 1; }
usage() { die "usage: $0 start DIR [PORT] | $0 stop DIR"; }

cmd=${1:-}
[[ $# -ge 2 ]] || usage
case $cmd in
  start) [[ $# -le 3 ]] || usage ;;
  stop)  [[ $# -eq 2 ]] || usage ;;
  *) usage ;;
esac
[[ -n $2 ]] || usage
DIR=$(realpath -m -- "$2")
PORT=${3:-}
if [[ -n $PORT ]] && ! [[ $PORT =~ ^[0-9]+$ && $PORT -ge 1 && $PORT -le 65535 ]]; then
  die "PORT must be a number in 1..65535, got '$PORT'"
fi

initdb_path=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1 || true)
[[ -n $initdb_path ]] || die "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin (apt-get install postgresql)"
BINDIR=$(dirname "$initdb_path")

IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1
if (( IS_ROOT )); then
  id -u postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' system user (apt-get install postgresql)"
  RUN_USER=postgres
else
  RUN_USER=$(id -un)
fi
DB_USER=$RUN_USER   # initdb's superuser is named after the OS user running it

# Run a command as the user owning the cluster (cwd / so that an unreadable
# cwd does not bother the postgres user).
as_pg() {
  if (( IS_ROOT )); then
    if command -v runuser >/dev/null 2>&1; then
      (cd / && runuser -u postgres -- "$@")
    else
      (cd / && su postgres -s /bin/bash -c "$(printf '%q ' "$@")")
    fi
  else
    "$@"
  fi
}

# --- where the cluster lives: HOME_DIR holds data/, postgres.log and the socket.
HOME_DIR=$DIR
FALLBACK=0
if (( IS_ROOT )) && [[ -f $DIR/pg-home ]]; then
  HOME_DIR=$(<"$DIR/pg-home")
  FALLBACK=1
fi

fallback_home() {
  local h
  h=$(printf '%s' "$DIR" | sha256sum | cut -c1-12)
  echo "/tmp/kvt-pg-$h"
}

# Root only: make DIR usable by the postgres user, or switch to the fallback.
prepare_root_dir() {
  mkdir -p -- "$DIR"
  if (( FALLBACK )); then
    :
  elif as_pg test -d "$DIR"; then
    # Refuse to chown -R a directory that is not ours (e.g. a typo'd DIR=.).
    local f extra=()
    shopt -s nullglob dotglob
    for f in "$DIR"/*; do
      case ${f##*/} in
        data|postgres.log|url.env|.s.PGSQL.*) ;;
        *) extra+=("${f##*/}") ;;
      esac
    done
    shopt -u nullglob dotglob
    (( ${#extra[@]} == 0 )) || die "$DIR is not a pg.sh directory (it contains: ${extra[*]}); refusing to chown -R it to postgres"
    chown -R postgres:postgres -- "$DIR"
    as_pg test -w "$DIR" -a -x "$DIR" || die "the postgres user cannot write to $DIR even after chown"
    return
  else
    if [[ -e $DIR/data || -L $DIR/data ]]; then
      die "the postgres user cannot traverse the parents of $DIR, and $DIR/data already exists there; move or remove it"
    fi
    HOME_DIR=$(fallback_home)
    FALLBACK=1
    echo "pg.sh: the postgres user cannot reach $DIR (a parent directory is not searchable by it); the cluster lives in $HOME_DIR instead" >&2
  fi
  # Fallback: a postgres-owned directory in /tmp, never a symlink or someone else's.
  if [[ -L $HOME_DIR ]] || { [[ -e $HOME_DIR ]] && [[ $(stat -c %U -- "$HOME_DIR") != postgres || ! -d $HOME_DIR ]]; }; then
    die "$HOME_DIR exists but is not a directory owned by postgres; remove it"
  fi
  [[ -d $HOME_DIR ]] || as_pg mkdir -m 700 -- "$HOME_DIR"
  printf '%s\n' "$HOME_DIR" >"$DIR/pg-home"
  [[ -e $DIR/data || -L $DIR/data ]] || ln -s -- "$HOME_DIR/data" "$DIR/data"
  [[ -e $DIR/postgres.log || -L $DIR/postgres.log ]] || ln -s -- "$HOME_DIR/postgres.log" "$DIR/postgres.log"
}

DATA=$HOME_DIR/data
LOG=$HOME_DIR/postgres.log

is_running() { [[ -f $DATA/PG_VERSION ]] && as_pg "$BINDIR/pg_ctl" status -D "$DATA" >/dev/null 2>&1; }

write_urls() {
  local port=$1
  printf 'KVT_WAREHOUSE_URL=postgres://%s@127.0.0.1:%s/warehouse\nKVT_OLTP_URL=postgres://%s@127.0.0.1:%s/oltp\n' \
    "$DB_USER" "$port" "$DB_USER" "$port" >"$DIR/url.env"
  (( IS_ROOT && ! FALLBACK )) && chown postgres:postgres -- "$DIR/url.env"
  cat "$DIR/url.env"
}

# --- stop
if [[ $cmd == stop ]]; then
  if [[ ! -f $DATA/PG_VERSION ]]; then
    echo "pg.sh: no cluster in $DIR; nothing to stop" >&2
    exit 0
  fi
  if is_running; then
    as_pg "$BINDIR/pg_ctl" stop -D "$DATA" -m fast -w >&2 || die "pg_ctl stop failed (see $LOG)"
  else
    echo "pg.sh: the cluster in $DIR is not running" >&2
  fi
  exit 0
fi

# --- start
if (( IS_ROOT )); then
  prepare_root_dir
  DATA=$HOME_DIR/data
  LOG=$HOME_DIR/postgres.log
else
  mkdir -p -- "$DIR"
fi

if is_running; then
  running_port=$(as_pg sed -n 4p "$DATA/postmaster.pid")
  [[ $running_port =~ ^[0-9]+$ ]] || die "cannot read the port of the running cluster from $DATA/postmaster.pid"
  if [[ -n $PORT && $PORT != "$running_port" ]]; then
    echo "pg.sh: the cluster in $DIR is already running on port $running_port (not $PORT); stop it first to change the port" >&2
  fi
  write_urls "$running_port"
  exit 0
fi

if [[ -z $PORT ]]; then
  command -v python3 >/dev/null 2>&1 || die "python3 is needed to find a free port (or pass PORT)"
  PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
fi

sock="$HOME_DIR/.s.PGSQL.$PORT"
(( ${#sock} <= 107 )) || die "unix socket path $sock is longer than 107 bytes; use a shorter DIR"

if [[ ! -f $DATA/PG_VERSION ]]; then
  if [[ -e $DATA && ! -L $DATA ]] && [[ -n $(ls -A -- "$DATA" 2>/dev/null) ]]; then
    die "$DATA exists, is not empty and holds no PostgreSQL cluster; remove it"
  fi
  echo "pg.sh: initdb $DATA" >&2
  if ! out=$(as_pg env LC_ALL=C "$BINDIR/initdb" -D "$DATA" -U "$DB_USER" -E UTF8 --locale=C --auth=trust 2>&1); then
    echo "$out" >&2
    die "initdb failed"
  fi
  # Trust, but only on the unix socket and 127.0.0.1 (initdb's default also has ::1).
  as_pg tee "$DATA/pg_hba.conf" >/dev/null <<'HBA'
# TYPE  DATABASE     USER  ADDRESS       METHOD
local   all          all                 trust
host    all          all   127.0.0.1/32  trust
local   replication  all                 trust
host    replication  all   127.0.0.1/32  trust
HBA
  printf "\n# pg.sh: generated settings (port, socket, throwaway durability)\ninclude_if_exists = 'kvt.conf'\n" |
    as_pg tee -a "$DATA/postgresql.conf" >/dev/null
fi

q() { printf "'%s'" "${1//\'/\'\'}"; }   # a postgresql.conf string literal
as_pg tee "$DATA/kvt.conf" >/dev/null <<CONF
# Written by scripts/pg.sh on every start; do not edit.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = $(q "$HOME_DIR")
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
shared_buffers = 128MB
max_connections = 50
CONF

fail_start() {
  echo "pg.sh: $1; last lines of $LOG:" >&2
  tail -n 30 -- "$LOG" >&2 2>/dev/null || true
  exit 1
}

deadline=$((SECONDS + 30))
as_pg "$BINDIR/pg_ctl" start -D "$DATA" -l "$LOG" -w -t 30 >&2 || fail_start "the server did not start"
until as_pg "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U "$DB_USER" -d postgres; do
  (( SECONDS < deadline )) || fail_start "pg_isready got no answer on 127.0.0.1:$PORT within 30 s"
  sleep 0.2
done

for db in warehouse oltp; do
  exists=$(as_pg "$BINDIR/psql" -X -q -t -A -h 127.0.0.1 -p "$PORT" -U "$DB_USER" -d postgres \
    -c "SELECT 1 FROM pg_database WHERE datname = '$db'") || die "cannot query the cluster on 127.0.0.1:$PORT"
  if [[ $exists != 1 ]]; then
    as_pg "$BINDIR/createdb" -h 127.0.0.1 -p "$PORT" -U "$DB_USER" "$db" || die "createdb $db failed"
  fi
done

write_urls "$PORT"
