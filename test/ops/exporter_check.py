"""Runs every query of a postgres_exporter queries file against a midipipe cluster.

    exporter_check.py YAML CLUSTER_DIR DB IMPORT_SQL

Checks, for every top-level entry: the query runs, its columns are exactly the metrics it
lists (same names, same order), LABEL columns are text and the others numbers. Runs the
queries, then IMPORT_SQL, then the queries again: every *_total counter of this database
did not shrink and files_total, bytes_total, batches_total, checkouts_total,
runs_started_total and runs_completed_total grew; the last run is the import and its
success is 1. Exit status 0 when all holds; prints what it saw.
"""
import csv
import io
import os
import subprocess
import sys

import yaml

path, cluster, db, import_sql = sys.argv[1:5]
env = dict(os.environ)
for line in open(os.path.join(cluster, "cluster.env")):
    line = line.strip().replace("export ", "")
    if "=" in line and not line.startswith("#"):
        k, v = line.split("=", 1)
        env[k] = v.strip("'\"")


def psql(sql):
    """Rows of sql as a list of dicts (CSV with a header)."""
    out = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--csv", "-d", db, "-c", sql],
                         env=env, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip())
    rows = list(csv.reader(io.StringIO(out.stdout)))
    return rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]


spec = yaml.safe_load(open(path))
failures = []


def scrape(label):
    seen = {}
    for name, entry in spec.items():
        listed = [list(m.keys())[0] for m in entry["metrics"]]
        usage = {list(m.keys())[0]: list(m.values())[0]["usage"] for m in entry["metrics"]}
        try:
            cols, rows = psql(entry["query"])
        except RuntimeError as e:
            failures.append(f"{label}: {name}: query failed: {e}")
            continue
        if cols != listed:
            failures.append(f"{label}: {name}: columns {cols} != listed {listed}")
        for r in rows:
            for c, v in r.items():
                if usage.get(c) != "LABEL" and v != "":
                    try:
                        float(v)
                    except ValueError:
                        failures.append(f"{label}: {name}.{c} = {v!r} is not a number")
        print(f"{label}: {name}: {len(rows)} row(s), {len(cols)} columns")
        seen[name] = rows
    return seen


before = scrape("before")
psql(import_sql)
after = scrape("after")


def mine(rows):
    return next((r for r in rows if r.get("datname") == db), None)


b, a = mine(before.get("midipipe", [])) or {}, mine(after.get("midipipe", []))
if a is None:
    failures.append(f"after: no midipipe row for database {db}")
else:
    for c in a:
        if c.endswith("_total") and float(a[c]) < float(b.get(c) or 0):
            failures.append(f"{c} shrank: {b.get(c)} -> {a[c]}")
    for c in ("files_total", "bytes_total", "batches_total", "checkouts_total",
              "runs_started_total", "runs_completed_total"):
        if float(a[c]) <= float(b.get(c) or 0):
            failures.append(f"{c} did not grow: {b.get(c) or 0} -> {a[c]}")
    print("after: " + ", ".join(f"{c}={a[c]}" for c in a if c.endswith("_total")))
last = after.get("midipipe_last_run", [])
if len(last) != 1 or last[0].get("success") != "1" or last[0].get("state") != "completed":
    failures.append(f"midipipe_last_run after the import: {last}")
for f in failures:
    print("FAIL: " + f)
sys.exit(1 if failures else 0)
