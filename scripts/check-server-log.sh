#!/usr/bin/env bash
# Check a PostgreSQL server log for crashes.
#
#   bash scripts/check-server-log.sh [--allow-sigkill] LOG
#
# Exits 1 (and prints the offending lines) when the log shows a process that died by a signal
# ("... was terminated by signal N"), any other "server process ... was terminated" line, a
# PANIC, or an assertion TRAP. With --allow-sigkill, deaths by signal 9 (SIGKILL) are only
# reported, not failed: fault-injection tests kill workers on purpose, and a bug never raises
# SIGKILL by itself (crashes are SIGSEGV 11, SIGABRT 6, SIGBUS 7, SIGFPE 8, SIGILL 4).
# Exits 2 when the log cannot be read.
set -euo pipefail

allow_kill=no
if [[ ${1:-} == --allow-sigkill ]]; then
  allow_kill=yes
  shift
fi
log=${1:-}
if [[ -z $log || ! -r $log ]]; then
  echo "check-server-log: cannot read log '${log}'" >&2
  exit 2
fi

pattern='terminated by signal|server process \(PID [0-9]+\) was terminated|process \(PID [0-9]+\) was terminated by exception|PANIC:|TRAP:'
mapfile -t hits < <(grep -nE "$pattern" "$log" || true)

bad=()
killed=()
for line in "${hits[@]}"; do
  if [[ $allow_kill == yes && $line =~ terminated\ by\ signal\ 9([^0-9]|$) ]]; then
    killed+=("$line")
  else
    bad+=("$line")
  fi
done

if ((${#killed[@]})); then
  echo "check-server-log: ${#killed[@]} process(es) killed with SIGKILL (allowed: deliberate kills):"
  printf '  %s\n' "${killed[@]}"
fi
if ((${#bad[@]})); then
  echo "check-server-log: $log shows ${#bad[@]} crash line(s):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  # Context: what the crashed processes were doing just before.
  first=$(printf '%s\n' "${bad[0]}" | cut -d: -f1)
  from=$((first > 20 ? first - 20 : 1))
  echo "--- $log lines $from-$((first + 5)) ---" >&2
  sed -n "${from},$((first + 5))p" "$log" >&2
  exit 1
fi
echo "check-server-log: no crash in $log ($(wc -l <"$log") lines)"
