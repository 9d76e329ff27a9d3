-- Included by the regression tests (psql \i, from the repository's root):
-- after midipipe_pool_stop(), waits (30 s at most) until no midipipe process
-- is connected to this database any more, so that it can be dropped. The view
-- is read afresh each time (pg_stat_activity is otherwise one snapshot for the
-- whole transaction), and the state must hold on two reads 0.1 s apart: a
-- process that is leaving can be missed by one read and seen by the next.
DO $$
DECLARE
  clear int := 0;
BEGIN
  FOR i IN 1 .. 300 LOOP
    PERFORM pg_catalog.pg_stat_clear_snapshot();
    IF EXISTS (SELECT FROM pg_catalog.pg_stat_activity
                WHERE datname = pg_catalog.current_database() AND backend_type LIKE 'midipipe%') THEN
      clear := 0;
    ELSE
      clear := clear + 1;
      EXIT WHEN clear >= 2;
    END IF;
    PERFORM pg_catalog.pg_sleep(0.1);
  END LOOP;
END $$;
