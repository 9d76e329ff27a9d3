-- Issue 13, the SQL and privilege holes: each tried by the least-privileged
-- role that can reach it, in a hostile database where everyone may create
-- objects in public, the extension's schema (the default before PostgreSQL 15).
SET client_min_messages = warning;
GRANT CREATE ON SCHEMA public TO PUBLIC;
CREATE ROLE regress_mp_attacker;                                -- no privilege at all
CREATE ROLE regress_mp_reader IN ROLE pg_read_server_files;     -- may import
CREATE ROLE regress_mp_pool;                                    -- pool control only
-- the attacker's traps write here who ran them
CREATE TABLE regress_mp_trap (who name, what text);
GRANT INSERT ON regress_mp_trap TO PUBLIC;
\set dir /tmp/midipipe_regress_sec
\i sql/include/one_file.sql

-- The traps, planted by a role without any privilege. Each matches a call
-- the extension's SQL makes better than pg_catalog's own function does (an
-- exact signature beats an implicit cast or a polymorphic one), or hides
-- pg_catalog's when a search_path puts public first.
SET ROLE regress_mp_attacker;
CREATE FUNCTION public.trap_int8eq(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.regress_mp_trap VALUES (current_user, 'bigint = bigint');
  RETURN $1 OPERATOR(pg_catalog.=) $2;
END $$;
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.trap_int8eq);
CREATE FUNCTION public.unnest(text[]) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.regress_mp_trap VALUES (current_user, 'unnest(text[])');
  RETURN QUERY SELECT pg_catalog.unnest($1);
END $$;
CREATE FUNCTION public.trap_int8div(bigint, double precision) RETURNS double precision
  LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.regress_mp_trap VALUES (current_user, 'bigint / double precision');
  RETURN $1::double precision OPERATOR(pg_catalog./) $2;
END $$;
CREATE OPERATOR public./ (LEFTARG = bigint, RIGHTARG = double precision,
                          FUNCTION = public.trap_int8div);
RESET ROLE;

-- The extension created (and its views bound) while the traps are in place,
-- as a DBA would on such a cluster.
DROP EXTENSION midipipe;
CREATE EXTENSION midipipe;
GRANT EXECUTE ON FUNCTION midipipe_pool_start(int), midipipe_pool_resize(int), midipipe_pool_stop()
  TO regress_mp_pool;

-- Finding 1: midipipe__release ran with public before pg_catalog, so the
-- attacker's = ran as whoever imported (in the report, a superuser).
INSERT INTO midipipe_files (path, status, sha256) VALUES ('/nowhere/x.mid', 'ok', '\x00');
SELECT midipipe__release(ARRAY[(SELECT file_id FROM midipipe_files)], '{}');
-- The views, bound when the extension was created.
INSERT INTO midipipe_chords (file_id, resolution, ticks, seconds, roots, qualities, names)
  SELECT file_id, 'beat', '{0}', '{0}', '{0}', '{maj}', '{C}' FROM midipipe_files;
SELECT ord, tick, name FROM midipipe_chord_events;
DELETE FROM midipipe_files;
-- The SQL the scanner and the workers run from C++ (a superuser's import).
SELECT midipipe_import('/tmp/midipipe_regress_sec', workers => 1) AS run \gset
SELECT state, files_ok FROM midipipe_runs WHERE run_id = :run;
SELECT files_per_sec > 0 AS rate FROM midipipe_progress WHERE run_id = :run;
SELECT what, who = current_user AS as_superuser, count(*) FROM regress_mp_trap GROUP BY 1, 2 ORDER BY 1;

-- Finding 2: the run rows and the manifest are the extension's own; a role
-- that may import can neither forge a run (its role, root, state) nor
-- rewrite one: the resume path trusts them.
SET ROLE regress_mp_reader;
DO $$ BEGIN
  INSERT INTO midipipe_runs (root, state, requested_by) VALUES ('/', 'queued', 'postgres');
  RAISE WARNING 'a reader inserted a run';
EXCEPTION WHEN insufficient_privilege THEN RAISE WARNING 'insert a run: %', SQLSTATE;
END $$;
DO $$ BEGIN
  UPDATE midipipe_runs SET state = 'queued', root = '/';
  RAISE WARNING 'a reader rewrote a run';
EXCEPTION WHEN insufficient_privilege THEN RAISE WARNING 'update a run: %', SQLSTATE;
END $$;
DO $$ BEGIN
  DELETE FROM midipipe_runs;
  RAISE WARNING 'a reader deleted runs';
EXCEPTION WHEN insufficient_privilege THEN RAISE WARNING 'delete a run: %', SQLSTATE;
END $$;
DO $$ BEGIN
  INSERT INTO midipipe_queue (run_id, path) SELECT run_id, '/etc/passwd' FROM midipipe_runs;
  RAISE WARNING 'a reader queued a path';
EXCEPTION WHEN insufficient_privilege THEN RAISE WARNING 'insert into the manifest: %', SQLSTATE;
END $$;
DO $$ BEGIN
  UPDATE midipipe_queue SET done = false;
  RAISE WARNING 'a reader rewrote the manifest';
EXCEPTION WHEN insufficient_privilege THEN RAISE WARNING 'update the manifest: %', SQLSTATE;
END $$;
-- its own import still works, written as itself
SELECT midipipe_import('/tmp/midipipe_regress_sec', workers => 1) AS reader_run \gset
SELECT state, requested_by, files_unchanged FROM midipipe_runs WHERE run_id = :reader_run;
RESET ROLE;

-- Finding 8: a run the superuser's; counts and root are shown to the run's
-- role, superusers and members of pg_read_all_stats or pg_read_server_files;
-- anyone sees that it exists and its state.
SET ROLE regress_mp_attacker;
SELECT state, root IS NULL AS no_root, files_found IS NULL AS no_counts, files_done IS NULL AS no_done
  FROM midipipe_progress WHERE run_id = :run;
-- nor through the function behind the view
SELECT state, files_done IS NULL AS no_done, bytes_read IS NULL AS no_bytes
  FROM midipipe_run_live() WHERE run_id = :run;
SELECT midipipe_wait(:run);
RESET ROLE;
SET ROLE regress_mp_reader;
SELECT state, root, files_found FROM midipipe_progress WHERE run_id = :run;
RESET ROLE;
-- Cancelling another role's run needs pool control (EXECUTE on
-- midipipe_pool_stop): a run waiting to be resumed, as after a restart.
INSERT INTO midipipe_runs (run_id, root, state, requested_by)
  VALUES (900001, '/nowhere', 'queued', 'regress_mp_reader'),
         (900002, '/nowhere', 'queued', 'regress_mp_reader');
SET ROLE regress_mp_attacker;
DO $$ BEGIN
  PERFORM midipipe_cancel(900001);
  RAISE WARNING 'a role without pool control cancelled another role''s run';
EXCEPTION WHEN insufficient_privilege THEN RAISE WARNING 'cancel without pool control: %', SQLSTATE;
END $$;
RESET ROLE;
SET ROLE regress_mp_pool;
SELECT midipipe_cancel(900001) AS cancelled_with_pool_control;
RESET ROLE;
SET ROLE regress_mp_reader;
SELECT midipipe_cancel(900002) AS cancelled_own;
RESET ROLE;
SELECT run_id, state FROM midipipe_runs WHERE run_id > 900000 ORDER BY 1;

-- clean up: the traps first, then an extension made without them
SELECT midipipe_pool_stop() >= 0 AS stopped;
\i sql/include/pool_gone.sql
DROP OWNED BY regress_mp_attacker;
DROP EXTENSION midipipe;
CREATE EXTENSION midipipe;
DROP TABLE regress_mp_trap;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
DROP OWNED BY regress_mp_pool;
DROP ROLE regress_mp_attacker;
DROP ROLE regress_mp_reader;
DROP ROLE regress_mp_pool;
COPY (SELECT 1) TO PROGRAM 'cat >/dev/null; rm -rf /tmp/midipipe_regress_sec';
