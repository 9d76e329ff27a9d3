-- Reading server files needs superuser or pg_read_server_files (as COPY FROM
-- a file does); pool control is revoked from PUBLIC; rows are written as the caller.
SET client_min_messages = warning;
CREATE ROLE regress_midipipe_plain;
CREATE ROLE regress_midipipe_reader IN ROLE pg_read_server_files;
\set dir /tmp/midipipe_regress_priv
\i sql/include/one_file.sql

SET ROLE regress_midipipe_plain;
-- 42501 for a role without pg_read_server_files, whatever the root
DO $$ BEGIN
  PERFORM midipipe_import('/tmp/midipipe_regress_priv');
EXCEPTION WHEN insufficient_privilege THEN RAISE WARNING 'import: %', SQLSTATE;
END $$;
DO $$ BEGIN
  PERFORM midipipe_import('/no/such/dir');
EXCEPTION WHEN insufficient_privilege THEN RAISE WARNING 'import of a missing root: %', SQLSTATE;
END $$;
-- pool control and the internal helper
SELECT midipipe_pool_start(1);
SELECT midipipe_pool_resize(1);
SELECT midipipe_pool_stop();
SELECT * FROM midipipe__process_batch(1);
-- the tables are not readable until granted; the views are
SELECT count(*) FROM midipipe_files;
SELECT count(*) >= 0 AS can_read_stats FROM midipipe_stats;
SELECT count(*) >= 0 AS can_read_progress FROM midipipe_progress;
-- analysing bytes needs no privilege
SELECT midipipe_analyze('\x00'::bytea)->>'error_code' AS code;
RESET ROLE;

-- a member of pg_read_server_files imports; the rows are its own
SET ROLE regress_midipipe_reader;
SELECT midipipe_import('/tmp/midipipe_regress_priv', workers => 1) AS run \gset
SELECT state, requested_by, files_found, files_ok FROM midipipe_runs WHERE run_id = :run;
SELECT status FROM midipipe_files WHERE path = '/tmp/midipipe_regress_priv/one.mid';
-- it may cancel its own (finished) run, not pool control
SELECT midipipe_cancel(:run);
SELECT midipipe_pool_stop();
RESET ROLE;

-- row-level security on midipipe_files applies to the importer: a policy
-- that hides nothing but forbids writing under *_priv makes the run fail
ALTER TABLE midipipe_files ENABLE ROW LEVEL SECURITY;
CREATE POLICY regress_read ON midipipe_files FOR SELECT USING (true);
CREATE POLICY regress_write ON midipipe_files FOR INSERT WITH CHECK (path NOT LIKE '%_priv/%');
CREATE POLICY regress_update ON midipipe_files FOR UPDATE USING (true) WITH CHECK (path NOT LIKE '%_priv/%');
COPY (SELECT 1) TO PROGRAM 'cat >/dev/null; touch -d "2001-01-01" /tmp/midipipe_regress_priv/one.mid';
SET ROLE regress_midipipe_reader;
DO $$ BEGIN
  PERFORM midipipe_import('/tmp/midipipe_regress_priv', workers => 1);
EXCEPTION WHEN OTHERS THEN RAISE WARNING 'import under a policy: failed (%)', (SQLERRM LIKE '%row-level security%');
END $$;
RESET ROLE;
SELECT state, error LIKE '%row-level security%' AS rls_error FROM midipipe_runs
 WHERE run_id = (SELECT max(run_id) FROM midipipe_runs);
DROP POLICY regress_read ON midipipe_files;
DROP POLICY regress_write ON midipipe_files;
DROP POLICY regress_update ON midipipe_files;
ALTER TABLE midipipe_files DISABLE ROW LEVEL SECURITY;

-- clean up: stop this database's pool so it can be dropped
SELECT midipipe_pool_stop() >= 0 AS stopped;
\i sql/include/pool_gone.sql
DELETE FROM midipipe_files WHERE path LIKE '/tmp/midipipe_regress_priv/%';
DELETE FROM midipipe_runs;
DROP ROLE regress_midipipe_plain;
DROP ROLE regress_midipipe_reader;
COPY (SELECT 1) TO PROGRAM 'cat >/dev/null; rm -rf /tmp/midipipe_regress_priv';
