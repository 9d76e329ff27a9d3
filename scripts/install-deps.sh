#!/usr/bin/env bash
# Install the Debian 12 (bookworm) packages midipipe needs to build and test.
#
#   bash scripts/install-deps.sh               everything (build + tests + demo)
#   bash scripts/install-deps.sh --build-only  what `make && make install` of the extension needs
#   bash scripts/install-deps.sh --runtime-only  what a server running midipipe needs
#
# Idempotent: when every package is already installed it does nothing (no apt-get update).
# Works with Debian's PostgreSQL and with the PGDG repository (apt.postgresql.org, used by the
# official postgres:15 Docker image): the package names are the same.
# Runs as root, or through sudo when not root. Never leaves a packaged cluster ("15 main")
# running that the install itself started.
set -euo pipefail

mode=all
for arg in "$@"; do
  case "$arg" in
    --build-only) mode=build ;;
    --runtime-only) mode=runtime ;;
    --all) mode=all ;;
    -h | --help)
      sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "install-deps: unknown option '$arg' (try --help)" >&2
      exit 2
      ;;
  esac
done

runtime_pkgs=(postgresql-15 procps)
build_pkgs=(postgresql-server-dev-15 g++ make pkg-config)
test_pkgs=(
  postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
  libsmf-dev cmake libgtest-dev libbenchmark-dev
  clang-14 libclang-rt-14-dev llvm-14
  python3 python3-mido python3-yaml
  postgresql-15-cron
)

case "$mode" in
  runtime) pkgs=("${runtime_pkgs[@]}") ;;
  build) pkgs=("${runtime_pkgs[@]}" "${build_pkgs[@]}") ;;
  all) pkgs=("${runtime_pkgs[@]}" "${build_pkgs[@]}" "${test_pkgs[@]}") ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: this script needs a Debian-based system with apt-get (Debian 12 expected)" >&2
  exit 1
fi

missing=()
for p in "${pkgs[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == installed ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#pkgs[@]} packages already installed ($mode)"
  exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-deps: not root and no sudo; install these as root:" >&2
    echo "  apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}"

# Remember whether the packaged cluster ran before, so that we only stop what the install
# started. A policy-rc.d that forbids service starts is the first line of defence; it is only
# created when none exists and removed afterwards.
main_was_running=no
if command -v pg_lsclusters >/dev/null 2>&1 && pg_lsclusters -h 2>/dev/null | awk '$1=="15" && $2=="main" && $4=="online"' | grep -q .; then
  main_was_running=yes
fi
policy=/usr/sbin/policy-rc.d
made_policy=no
if [[ ! -e $policy ]]; then
  "${SUDO[@]}" sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
  made_policy=yes
fi
cleanup() {
  if [[ $made_policy == yes ]]; then "${SUDO[@]}" rm -f "$policy"; fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
# Update the package lists once: when they are missing or older than a day, or when a
# package is unknown to the current lists.
need_update=no
if [[ -z $(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1) ]]; then
  need_update=yes
fi
for p in "${missing[@]}"; do
  if ! apt-cache show "$p" >/dev/null 2>&1; then need_update=yes; fi
done
if [[ $need_update == yes ]]; then
  "${SUDO[@]}" apt-get update
fi
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"

if [[ $main_was_running == no ]] && command -v pg_lsclusters >/dev/null 2>&1; then
  if pg_lsclusters -h 2>/dev/null | awk '$1=="15" && $2=="main" && $4=="online"' | grep -q .; then
    echo "install-deps: stopping the packaged cluster 15/main that the install started"
    "${SUDO[@]}" pg_ctlcluster 15 main stop || true
  fi
fi
echo "install-deps: done"
