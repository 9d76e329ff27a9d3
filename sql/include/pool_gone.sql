-- Included by the regression tests (psql \i, from the repository's root):
-- after midipipe_pool_stop(), waits (30 s at most) until no midipipe process
-- is connected to this database any more, so that it can be dropped.
DO $$
BEGIN
  FOR i IN 1 .. 300 LOOP
    EXIT WHEN NOT EXISTS (SELECT FROM pg_stat_activity
                           WHERE datname = current_database() AND backend_type LIKE 'midipipe%');
    PERFORM pg_sleep(0.1);
  END LOOP;
END $$;
