#!/bin/sh
# Runs once, when the container initialises an empty data directory: make the preload
# permanent in postgresql.conf (so a custom `command:` still loads midipipe).
set -e
cat >> "$PGDATA/postgresql.conf" <<CONF

# --- midipipe (docker/initdb/00-midipipe-conf.sh) ---
shared_preload_libraries = 'midipipe'
# midipipe.max_workers (8) + 2 utility processes + parallel query workers (8) + headroom
max_worker_processes = 40
CONF
