# What scripts/bench-import.sh and scripts/bench-scale.sh share: their knobs, messages and the
# build of the extension. Sourced (not run) after `me` is set to the script's name; it cds to
# the checkout and sets root, N (from the first argument, at least $min_n), corpus, bdir,
# port, PY, PG_CONFIG and bindir.
# shellcheck shell=bash

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

N=${1:-50000}
[[ $N =~ ^[0-9]+$ && $N -ge $min_n ]] || {
  echo "usage: $0 [N]   (N >= $min_n distinct files; default 50000)" >&2
  exit 2
}
corpus=${MIDIPIPE_CORPUS:-$root/test/corpus}
bdir=${MIDIPIPE_BENCH_DIR:-/tmp/midipipe-bench}
port=${MIDIPIPE_BENCH_PORT:-5497}
PY=/usr/bin/python3
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
bindir=$("$PG_CONFIG" --bindir)

die() {
  echo "$me: $*" >&2
  exit 1
}
step() { printf '\n== %s  (%s)\n' "$1" "$(date +%H:%M:%S)"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# The corpus as an absolute path, and the benchmark's folder (readable by the server).
bench_dirs() {
  [[ -d $corpus ]] || die "no corpus at $corpus (set MIDIPIPE_CORPUS to a folder of MIDI files)"
  corpus=$(cd "$corpus" && pwd)
  mkdir -p "$bdir"
  chmod 0755 "$bdir"
}

# Builds and installs the extension. PGXS tracks no header dependencies: every object is
# rebuilt when a header is newer than the module (a stale object would disagree on the shared
# memory layout).
bench_install_extension() {
  if [[ -f midipipe.so && -n $(find src -name '*.hpp' -newer midipipe.so) ]]; then
    rm -f midipipe.so src/pg/*.o src/midi/*.o
  fi
  make -s -j2 PG_CONFIG="$PG_CONFIG" >/dev/null || die "make (extension) failed"
  make -s install PG_CONFIG="$PG_CONFIG" >/dev/null || die "make install failed"
}

# CPU ticks used by the whole server of $cluster (postmaster, its live children and the
# children it has reaped: workers, scanner, WAL writer, checkpointer, autovacuum, sessions)
cluster_ticks() {
  local pm t c f
  pm=$(head -n 1 "$cluster/data/postmaster.pid")
  read -r -a f <"/proc/$pm/stat"
  t=$((f[13] + f[14] + f[15] + f[16]))
  for c in $(ps --ppid "$pm" -o pid=); do
    if read -r -a f <"/proc/$c/stat" 2>/dev/null; then t=$((t + f[13] + f[14])); fi
  done
  echo "$t"
}

# The database `bench` with the extension on the cluster $cluster (started); PSQL (an array)
# and Q (psql -At on bench) talk to it.
bench_database() {
  local user=postgres
  [[ $(id -u) -eq 0 ]] || user=$(id -un)
  PSQL=("$bindir/psql" -h "$cluster" -p "$port" -U "$user" -X -v ON_ERROR_STOP=1 -q)
  "${PSQL[@]}" -d postgres -c "CREATE DATABASE bench" || die "createdb failed"
  Q -c "CREATE EXTENSION midipipe" || die "CREATE EXTENSION failed"
}
Q() { "${PSQL[@]}" -d bench -At "$@"; }
