-- The extension's objects, columns, privileges and settings (SPEC's names).
SELECT pg_describe_object(classid, objid, 0) AS object
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'midipipe')
   AND deptype = 'e'
 ORDER BY 1;

SELECT table_name, string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position)
  FROM information_schema.columns
 WHERE table_name LIKE 'midipipe%'
 GROUP BY 1 ORDER BY 1;

-- Who may call what: pool control and the internal helpers are not PUBLIC.
SELECT p.oid::regprocedure AS function,
       p.proacl IS NULL OR EXISTS (SELECT FROM aclexplode(p.proacl) a
                                    WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE') AS public_execute,
       has_function_privilege('pg_read_server_files', p.oid, 'EXECUTE') AS read_server_files_execute
  FROM pg_proc p
 WHERE p.proname LIKE 'midipipe%'
 ORDER BY 1::text;

SELECT c.relname, has_table_privilege('public', c.oid, 'SELECT') AS public_select,
       has_table_privilege('pg_read_server_files', c.oid, 'INSERT') AS importer_insert
  FROM pg_class c
 WHERE c.relname LIKE 'midipipe%' AND c.relkind IN ('r', 'v')
 ORDER BY 1;

-- Functions that run SQL set search_path = pg_catalog, pg_temp (issue 13; the
-- C functions that run SPI set it themselves); a SQL-standard body is bound
-- when created, with its operators qualified.
SELECT p.oid::regprocedure AS function, l.lanname, p.proconfig
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.proname LIKE 'midipipe%' AND (p.proconfig IS NOT NULL OR l.lanname <> 'c')
 ORDER BY 1::text;

-- pg_dump keeps the rows of these
SELECT unnest(extconfig)::regclass AS dumped FROM pg_extension WHERE extname = 'midipipe' ORDER BY 1::text;

-- midipipe_analyze is IMMUTABLE, PARALLEL SAFE, STRICT
SELECT proname, provolatile, proparallel, proisstrict FROM pg_proc
 WHERE proname IN ('midipipe_analyze', 'midipipe_import', 'midipipe_cancel') ORDER BY 1;

-- settings and their built-in defaults
SELECT name, boot_val, unit, context, vartype FROM pg_settings WHERE name LIKE 'midipipe.%' ORDER BY 1;

-- the prefix is reserved: a misspelt setting is an error, not a new placeholder
SET midipipe.no_such_setting = 1;

-- loaded through shared_preload_libraries: the check passes quietly
SELECT current_setting('shared_preload_libraries') ~ 'midipipe' AS preloaded;
