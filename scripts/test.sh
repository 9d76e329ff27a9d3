#!/usr/bin/env bash
# THE test command: builds everything and runs every suite.
#
#   bash scripts/test.sh
#
# Steps (each one's output is shown; a failure prints the relevant log tails):
#   deps        scripts/install-deps.sh (does nothing when all packages are installed)
#   cpp-build   cmake configure + build of the C++ library, CLI, tests (build/, -j2)
#   ctest       every C++ suite (reader, analysis, corpus, differential, CLI ...)
#   fuzz        clang-14 libFuzzer build (build-fuzz/) and its ctest (the 60 s fuzz run)
#   ext-build   make (PGXS) of the extension
#   ext-install make install (into the system PostgreSQL 15; sudo when not root)
#   cluster     a throwaway cluster in /tmp preloading midipipe (scripts/cluster.sh)
#   regress     make installcheck (pg_regress: sql/*.sql against expected/*.out)
#   pgtap       test/pgtap/run.sh (pgTAP suites through pg_prove)
#   faults      test/faults/run.sh at CI scale, on its own cluster (hostile files, kills,
#               restarts, a changing tree, pool abuse, privileges, pgbench beside, memory)
#   ops         test/ops/run.sh on clusters of its own: postgres_exporter queries, pg_cron
#               scheduling, several servers through postgres_fdw/dblink (MIDIPIPE_OPS_PORT,
#               5491, and the next two ports; MIDIPIPE_OPS_DIR)
#   server-log  no process of the main test cluster terminated by any signal, no PANIC
#               (scripts/check-server-log.sh)
# and ends with one line "tests: N passed, M failed" (N, M count the steps above).
# Exit status 0 only when every step passed.
#
# Knobs (environment): MIDIPIPE_JOBS (2), MIDIPIPE_BUILD_DIR (build), MIDIPIPE_FUZZ_BUILD_DIR
# (build-fuzz), MIDIPIPE_CORPUS (test/corpus, the corpus in this repository; point it at a larger
# corpus of the same layout for a longer run), MIDIPIPE_TEST_DIR (/tmp/midipipe-test-UID),
# MIDIPIPE_TEST_PORT (5497), MIDIPIPE_FUZZ=off (skip the fuzz step: reported as skipped, never
# as passed), MIDIPIPE_KEEP_CLUSTER=1 (leave the test cluster running at the end).
#
# test/pgtap/run.sh is called with the cluster's PGHOST, PGPORT, PGUSER, PGDATA exported and:
#   MIDIPIPE_BUILD_DIR    the CMake build dir;  MIDIPIPE_CLI  its midipipe-analyze binary
#   MIDIPIPE_CORPUS       the original corpus (read-only, maybe unreadable by the server)
#   MIDIPIPE_TEST_DIR     scratch dir the server can read (0755), holding fresh copies:
#   MIDIPIPE_TEST_CORPUS  = $MIDIPIPE_TEST_DIR/corpus,  MIDIPIPE_TEST_SAMPLES = .../samples
#   MIDIPIPE_CLUSTER_DIR, MIDIPIPE_SERVER_LOG, MIDIPIPE_CLUSTER_SH (scripts/cluster.sh, e.g.
#   "bash $MIDIPIPE_CLUSTER_SH restart $MIDIPIPE_CLUSTER_DIR" for restart tests)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root" || exit 1

jobs=${MIDIPIPE_JOBS:-2}
build=${MIDIPIPE_BUILD_DIR:-$root/build}
fuzz_build=${MIDIPIPE_FUZZ_BUILD_DIR:-$root/build-fuzz}
corpus=${MIDIPIPE_CORPUS:-$root/test/corpus}
testdir=${MIDIPIPE_TEST_DIR:-/tmp/midipipe-test-$(id -u)}
port=${MIDIPIPE_TEST_PORT:-5497}
cluster_dir=$testdir/cluster
server_log=$cluster_dir/server.log
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
[[ -x $PG_CONFIG ]] || PG_CONFIG=$(command -v pg_config || echo pg_config)

SUDO=()
if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1; then SUDO=(sudo); fi

names=()
states=()
details=()
detail=""
t_all=$SECONDS

banner() {
  printf '\n\033[1m==> %s\033[0m  (%s)\n' "$1" "$(date +%H:%M:%S)"
}

# run_step NAME FUNCTION: runs FUNCTION, records passed/failed with its detail line.
run_step() {
  local name=$1 fn=$2 t0=$SECONDS rc
  banner "$name"
  detail=""
  "$fn"
  rc=$?
  local took=$((SECONDS - t0))
  names+=("$name")
  if ((rc == 0)); then
    states+=(passed)
    printf '==> %s: passed in %ds %s\n' "$name" "$took" "${detail:+($detail)}"
  else
    states+=(FAILED)
    printf '==> %s: FAILED in %ds %s\n' "$name" "$took" "${detail:+($detail)}"
  fi
  details+=("${detail:+$detail }[${took}s]")
  return $rc
}

record() { # record NAME STATE DETAIL, for steps that did not run
  names+=("$1")
  states+=("$2")
  details+=("$3")
  printf '\n==> %s: %s (%s)\n' "$1" "$2" "$3"
}

step_deps() {
  bash "$root/scripts/install-deps.sh"
}

step_cpp_build() {
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMIDIPIPE_CORPUS="$corpus" &&
    cmake --build "$build" -j "$jobs"
}

# ctest_summary LOG: the "N% tests passed, M tests failed out of K" line.
ctest_summary() {
  grep -E 'tests passed|tests failed' "$1" | tail -n 1 | sed 's/^ *//'
}

# checked BUILD_DIR: what the corpus suites checked (ctest shows a passing test's output only
# in its log), their own count lines from Testing/Temporary/LastTest.log.
checked() {
  local last=$1/Testing/Temporary/LastTest.log
  echo "---- checked on the corpus ($corpus) ----"
  [[ -f $last ]] || { echo "(no $last)"; return 0; }
  grep -E '^(edge corpus: |whole corpus: |libsmf differential: |[0-9]+ Nottingham tunes|default \(|compared [0-9]+ files with mido|[a-z_]+: replayed [0-9]+ inputs|split [0-9]+ corpus files|chords-labelled: [0-9]+ pieces|groove drum loops: |seeds: |fuzz_short: |INFO: seed corpus: |INFO: +[0-9]+ files found)' \
    "$last" | sed 's/^/  /'
}

step_ctest() {
  local log=$build/ctest-output.log rc
  ctest --test-dir "$build" --output-on-failure --no-tests=error --timeout 1200 \
    2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  checked "$build"
  detail=$(ctest_summary "$log")
  return "$rc"
}

step_fuzz() {
  local cxx cc log=$fuzz_build/ctest-output.log rc
  cxx=$(command -v clang++-14 || command -v clang++ || true)
  cc=$(command -v clang-14 || command -v clang || true)
  if [[ -z $cxx || -z $cc ]]; then
    echo "clang-14 not found (scripts/install-deps.sh installs it); set MIDIPIPE_FUZZ=off to skip"
    detail="no clang"
    return 1
  fi
  CC=$cc CXX=$cxx cmake -S "$root" -B "$fuzz_build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER="$cxx" -DMIDIPIPE_FUZZ=ON \
    -DMIDIPIPE_CORPUS="$corpus" || return 1
  # Only the fuzz targets (the whole fuzz build is instrumented, so building the other tests
  # there would double the build time for nothing); everything when none is found.
  local targets
  targets=$(cmake --build "$fuzz_build" --target help | sed -n 's/^\.\.\. \(fuzz_[A-Za-z0-9_]*\).*/\1/p')
  if [[ -n $targets ]]; then
    echo "building fuzz targets: ${targets//$'\n'/ }"
    # shellcheck disable=SC2086
    cmake --build "$fuzz_build" -j "$jobs" --target $targets || return 1
  else
    cmake --build "$fuzz_build" -j "$jobs" || return 1
  fi
  ctest --test-dir "$fuzz_build" -R fuzz --output-on-failure --no-tests=error --timeout 1200 \
    2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  checked "$fuzz_build"
  detail=$(ctest_summary "$log")
  return "$rc"
}

step_ext_build() {
  make -C "$root" -j "$jobs" PG_CONFIG="$PG_CONFIG"
}

step_ext_install() {
  "${SUDO[@]}" make -C "$root" install PG_CONFIG="$PG_CONFIG"
}

step_cluster() {
  # A fresh cluster and fresh copies of the corpus and the samples, all readable by the
  # server's user (the checkout itself may not be, e.g. under /root).
  bash "$root/scripts/cluster.sh" destroy "$cluster_dir" >/dev/null 2>&1 || true
  rm -rf "$testdir"
  mkdir -p "$testdir" && chmod 0755 "$testdir" || return 1
  if [[ -d $corpus ]]; then
    cp -R "$corpus" "$testdir/corpus" && chmod -R u+w,a+rX "$testdir/corpus" || return 1
    echo "corpus copied to $testdir/corpus ($(find "$testdir/corpus" -type f | wc -l) files)"
  else
    echo "corpus not found at $corpus (test/corpus is part of the repository; MIDIPIPE_CORPUS overrides it)"
    return 1
  fi
  cp -R "$root/samples" "$testdir/samples" && chmod -R u+w,a+rX "$testdir/samples" || return 1
  bash "$root/scripts/cluster.sh" start "$cluster_dir" "$port" || return 1
  # shellcheck disable=SC1091
  set -a && . "$cluster_dir/cluster.env" && set +a
  export PGDATABASE=postgres
  psql -X -v ON_ERROR_STOP=1 -Atc "SELECT 'server ' || current_setting('server_version') ||
    ', shared_preload_libraries=' || current_setting('shared_preload_libraries')"
}

step_regress() {
  local rc log=$testdir/regress-output.log
  rm -f "$root/regression.diffs" "$root/regression.out"
  make -C "$root" installcheck PG_CONFIG="$PG_CONFIG" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  detail=$(grep -E 'tests? passed|tests? failed' "$log" | tail -n 1 | sed 's/^[ =]*//; s/[ =]*$//')
  if ((rc != 0)) && [[ -f $root/regression.diffs ]]; then
    echo "---- regression.diffs (first 200 lines of $root/regression.diffs) ----"
    head -n 200 "$root/regression.diffs"
  fi
  return "$rc"
}

step_pgtap() {
  local runner=$root/test/pgtap/run.sh log=$testdir/pgtap-output.log rc
  if [[ ! -f $runner ]]; then
    echo "test/pgtap/run.sh is missing: the pgTAP suites cannot run (this is a failure, not a skip)"
    detail="test/pgtap/run.sh missing"
    return 1
  fi
  MIDIPIPE_BUILD_DIR=$build MIDIPIPE_CLI=$build/midipipe-analyze MIDIPIPE_CORPUS=$corpus \
    MIDIPIPE_TEST_DIR=$testdir MIDIPIPE_TEST_CORPUS=$testdir/corpus \
    MIDIPIPE_TEST_SAMPLES=$testdir/samples MIDIPIPE_CLUSTER_DIR=$cluster_dir \
    MIDIPIPE_SERVER_LOG=$server_log MIDIPIPE_CLUSTER_SH=$root/scripts/cluster.sh \
    bash "$runner" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  detail=$(grep -E '^(Files=|Result:)' "$log" | tr '\n' ' ' | sed 's/ *$//')
  return "$rc"
}

step_faults() {
  # Its own cluster (port 5495, /tmp/midipipe-faults): it SIGKILLs a worker and restarts the
  # server on purpose, and checks that log itself, scenario by scenario, against the signals
  # it sent; the main cluster's log must stay free of any "terminated by signal".
  local log=$testdir/faults-output.log rc
  env -u PGHOST -u PGPORT -u PGUSER -u PGDATA -u PGDATABASE \
    MIDIPIPE_CLI=$build/midipipe-analyze MIDIPIPE_CORPUS=$corpus \
    MIDIPIPE_CLUSTER_SH=$root/scripts/cluster.sh bash "$root/test/faults/run.sh" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  detail=$(grep -E '^faults: ' "$log" | tail -n 1)
  return "$rc"
}

step_ops() {
  local log=$testdir/ops-output.log rc
  env -u PGHOST -u PGPORT -u PGUSER -u PGDATA -u PGDATABASE \
    MIDIPIPE_OPS_DIR="${MIDIPIPE_OPS_DIR:-$testdir/ops}" \
    MIDIPIPE_CLUSTER_SH=$root/scripts/cluster.sh bash "$root/test/ops/run.sh" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  detail=$(grep -E '^ops: ' "$log" | tail -n 1)
  return "$rc"
}

step_server_log() {
  bash "$root/scripts/check-server-log.sh" "$server_log"
}

stop_cluster() {
  if [[ -f $cluster_dir/data/PG_VERSION ]]; then
    if [[ ${MIDIPIPE_KEEP_CLUSTER:-0} == 1 ]]; then
      echo "test cluster left running: bash scripts/cluster.sh psql $cluster_dir"
    else
      bash "$root/scripts/cluster.sh" stop "$cluster_dir" || true
    fi
  fi
}
trap stop_cluster EXIT
trap 'echo "interrupted"; exit 130' INT TERM

echo "midipipe tests: checkout $root, corpus $corpus, scratch $testdir"

run_step deps step_deps
cpp_ok=0
run_step cpp-build step_cpp_build && cpp_ok=1
if ((cpp_ok)); then run_step ctest step_ctest; else record ctest FAILED "not run: cpp-build failed"; fi
if [[ ${MIDIPIPE_FUZZ:-on} == off ]]; then
  record fuzz skipped "MIDIPIPE_FUZZ=off"
else
  run_step fuzz step_fuzz
fi
ext_ok=0
run_step ext-build step_ext_build && run_step ext-install step_ext_install && ext_ok=1
((ext_ok)) || [[ ${names[-1]} == ext-install ]] || record ext-install FAILED "not run: ext-build failed"
cluster_ok=0
if ((ext_ok)); then
  run_step cluster step_cluster && cluster_ok=1
else
  record cluster FAILED "not run: extension not installed"
fi
if ((cluster_ok)); then
  run_step regress step_regress
  run_step pgtap step_pgtap
else
  record regress FAILED "not run: no cluster"
  record pgtap FAILED "not run: no cluster"
fi
if ((ext_ok && cpp_ok)); then
  run_step faults step_faults
else
  record faults FAILED "not run: extension or CLI not built"
fi
if ((ext_ok)); then
  run_step ops step_ops
else
  record ops FAILED "not run: extension not installed"
fi
if [[ -f $server_log ]]; then
  run_step server-log step_server_log
else
  record server-log FAILED "no server log"
fi
stop_cluster
trap - EXIT

passed=0
failed=0
skipped=0
echo
echo "==================== summary ===================="
for i in "${!names[@]}"; do
  printf '  %-12s %-8s %s\n' "${names[$i]}" "${states[$i]}" "${details[$i]}"
  case "${states[$i]}" in
    passed) passed=$((passed + 1)) ;;
    skipped) skipped=$((skipped + 1)) ;;
    *) failed=$((failed + 1)) ;;
  esac
done
echo "  total time $((SECONDS - t_all))s"
if ((skipped)); then
  echo "tests: $passed passed, $failed failed, $skipped skipped"
else
  echo "tests: $passed passed, $failed failed"
fi
((failed == 0))
