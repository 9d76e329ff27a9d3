#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster that preloads midipipe.
#
#   bash scripts/cluster.sh start   [DIR] [PORT]   initdb (first time) and start
#   bash scripts/cluster.sh stop    [DIR]          pg_ctl stop -m fast
#   bash scripts/cluster.sh restart [DIR]          stop -m fast + start
#   bash scripts/cluster.sh status  [DIR]          running or not, and how to connect
#   bash scripts/cluster.sh psql    [DIR] [-- PSQL_ARGS...]   psql into the cluster
#   bash scripts/cluster.sh destroy [DIR]          stop and delete the directory
#   bash scripts/cluster.sh env     [DIR]          print PGHOST/PGPORT/PGUSER/PGDATA exports
#
# DIR defaults to <checkout>/.cluster, PORT to 5499. Layout: DIR/data (PGDATA), DIR/server.log,
# the Unix socket in DIR itself. The server listens on that socket only (set
# MIDIPIPE_LISTEN_TCP=1 to add 127.0.0.1), so clusters in different DIRs never collide.
# Extra postgresql.conf lines can be passed at first start in MIDIPIPE_CLUSTER_CONF;
# MIDIPIPE_PRELOAD='' starts a cluster without midipipe (for testing this script).
# PostgreSQL refuses to run as root: as root the directory is owned by the postgres user and
# initdb/pg_ctl run through `runuser -u postgres --`; a normal user runs them directly.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

usage() {
  sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

cmd=${1:-}
[[ -n $cmd ]] || {
  usage
  exit 2
}
shift
case "$cmd" in start | stop | restart | status | psql | destroy | env) ;; -h | --help | help)
  usage
  exit 0
  ;;
*)
  echo "cluster.sh: unknown command '$cmd'" >&2
  usage >&2
  exit 2
  ;;
esac

dir=""
port=""
psql_args=()
while (($#)); do
  case "$1" in
    --)
      shift
      psql_args=("$@")
      break
      ;;
    -*)
      psql_args=("$@")
      break
      ;;
    *)
      if [[ -z $dir ]]; then
        dir=$1
      elif [[ -z $port ]]; then
        port=$1
      else
        psql_args+=("$1")
      fi
      shift
      ;;
  esac
done
dir=${dir:-${MIDIPIPE_CLUSTER_DIR:-$root/.cluster}}
mkdir -p "$(dirname "$dir")"
dir=$(cd "$(dirname "$dir")" && pwd)/$(basename "$dir")
data=$dir/data
log=$dir/server.log
envfile=$dir/cluster.env
preload=${MIDIPIPE_PRELOAD-midipipe}

PG_CONFIG=${PG_CONFIG:-}
if [[ -z $PG_CONFIG ]]; then
  if [[ -x /usr/lib/postgresql/15/bin/pg_config ]]; then
    PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
  else
    PG_CONFIG=$(command -v pg_config || true)
  fi
fi
[[ -n $PG_CONFIG ]] || {
  echo "cluster.sh: pg_config not found; run scripts/install-deps.sh" >&2
  exit 1
}
bindir=$("$PG_CONFIG" --bindir)
pkglibdir=$("$PG_CONFIG" --pkglibdir)
for b in initdb pg_ctl psql; do
  [[ -x $bindir/$b ]] || {
    echo "cluster.sh: $bindir/$b missing; run scripts/install-deps.sh" >&2
    exit 1
  }
done

# Who runs the server, and the database superuser name that initdb creates.
if [[ $(id -u) -eq 0 ]]; then
  as_pg=(runuser -u postgres --)
  superuser=postgres
else
  as_pg=()
  superuser=$(id -un)
fi

# The port: argument, else the one recorded at first start, else MIDIPIPE_PORT, else 5499.
if [[ -z $port && -f $envfile ]]; then
  port=$(sed -n 's/^PGPORT=//p' "$envfile")
fi
port=${port:-${MIDIPIPE_PORT:-5499}}

psql_line() {
  echo "$bindir/psql -h $dir -p $port -U $superuser -d postgres"
}

is_running() {
  [[ -f $data/PG_VERSION ]] && "${as_pg[@]}" "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1
}

write_env() {
  # Readable by everyone; the cluster's socket directory is the cluster dir.
  cat >"$envfile.tmp" <<EOF
PGHOST=$dir
PGPORT=$port
PGUSER=$superuser
PGDATA=$data
EOF
  mv "$envfile.tmp" "$envfile"
}

do_init() {
  if [[ -f $data/PG_VERSION ]]; then return 0; fi
  mkdir -p "$dir"
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$dir"
    chmod 0755 "$dir"
    if ! runuser -u postgres -- test -w "$dir"; then
      echo "cluster.sh: the postgres user cannot write $dir (a parent directory is not" >&2
      echo "  accessible to it, e.g. /root). Use a directory under /tmp:" >&2
      echo "  bash scripts/cluster.sh $cmd /tmp/midipipe-cluster" >&2
      exit 1
    fi
  fi
  if [[ -n $preload && ! -f $pkglibdir/midipipe.so ]]; then
    echo "cluster.sh: $pkglibdir/midipipe.so is not installed; run 'make && make install' first" >&2
    echo "  (the cluster preloads midipipe and would not start without it)" >&2
    exit 1
  fi
  echo "cluster.sh: initdb $data"
  "${as_pg[@]}" "$bindir/initdb" -D "$data" -U "$superuser" --auth=trust --encoding=UTF8 \
    --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
  }
  local listen="''"
  if [[ ${MIDIPIPE_LISTEN_TCP:-0} == 1 ]]; then listen="'127.0.0.1'"; fi
  {
    echo ""
    echo "# --- midipipe throwaway cluster (scripts/cluster.sh) ---"
    echo "listen_addresses = $listen"
    echo "port = $port"
    echo "unix_socket_directories = '$dir'"
    echo "shared_preload_libraries = '$preload'"
    echo "max_worker_processes = 40"
    echo "logging_collector = off"
    echo "log_line_prefix = '%m [%p] %q%u@%d '"
    if [[ -n ${MIDIPIPE_CLUSTER_CONF:-} ]]; then
      echo "# from MIDIPIPE_CLUSTER_CONF"
      printf '%s\n' "$MIDIPIPE_CLUSTER_CONF"
    fi
  } | "${as_pg[@]}" tee -a "$data/postgresql.conf" >/dev/null
}

do_start() {
  if is_running; then
    echo "cluster.sh: already running in $dir"
    write_env
    echo "connect: $(psql_line)"
    return 0
  fi
  do_init
  # The log file must be writable by the server user.
  if [[ $(id -u) -eq 0 ]]; then
    touch "$log"
    chown postgres: "$log"
  fi
  echo "cluster.sh: starting PostgreSQL on port $port (socket in $dir, log $log)"
  if ! "${as_pg[@]}" "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60 -o "-p $port" start >/dev/null; then
    echo "cluster.sh: the server did not start; last lines of $log:" >&2
    tail -n 30 "$log" >&2 || true
    exit 1
  fi
  write_env
  echo "connect: $(psql_line)"
}

do_stop() {
  if ! is_running; then
    echo "cluster.sh: not running ($dir)"
    return 0
  fi
  echo "cluster.sh: stopping the server in $dir"
  "${as_pg[@]}" "$bindir/pg_ctl" -D "$data" -m fast -w -t 120 stop >/dev/null
}

case "$cmd" in
  start) do_start ;;
  stop) do_stop ;;
  restart)
    do_stop
    do_start
    ;;
  status)
    if is_running; then
      echo "running: $dir (port $port, log $log)"
      echo "connect: $(psql_line)"
    else
      echo "not running: $dir"
      exit 3
    fi
    ;;
  psql)
    is_running || {
      echo "cluster.sh: not running ($dir); start it with: bash scripts/cluster.sh start" >&2
      exit 1
    }
    exec "$bindir/psql" -h "$dir" -p "$port" -U "$superuser" -d postgres "${psql_args[@]}"
    ;;
  env)
    echo "export PGHOST=$dir PGPORT=$port PGUSER=$superuser PGDATA=$data"
    ;;
  destroy)
    do_stop
    if [[ -d $dir ]]; then
      # Refuse to delete anything that does not look like our cluster directory.
      if [[ -f $data/PG_VERSION || -f $envfile || -z $(ls -A "$dir") ]]; then
        rm -rf "$dir"
        echo "cluster.sh: removed $dir"
      else
        echo "cluster.sh: $dir does not look like a cluster directory; not removed" >&2
        exit 1
      fi
    fi
    ;;
esac
