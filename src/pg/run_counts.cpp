// midipipe: the statement that folds a run's batch counts into its run row
// (see run_counts.hpp).
#include "run_counts.hpp"

const char* mp_fold_counts_sql() {
  return "WITH d AS (DELETE FROM %s.midipipe_run_counts WHERE run_id = $1 RETURNING *), "
         "s AS (SELECT count(*) AS n, COALESCE(sum(files_ok), 0) AS ok, "
         "COALESCE(sum(files_duplicate), 0) AS dup, COALESCE(sum(files_unchanged), 0) AS unch, "
         "COALESCE(sum(files_failed), 0) AS failed, COALESCE(sum(bytes_read), 0) AS bytes FROM d) "
         "UPDATE %s.midipipe_runs r SET files_ok = r.files_ok + s.ok, "
         "files_duplicate = r.files_duplicate + s.dup, "
         "files_unchanged = r.files_unchanged + s.unch, "
         "files_failed = r.files_failed + s.failed, bytes_read = r.bytes_read + s.bytes "
         "FROM s WHERE r.run_id = $1 AND s.n > 0";
}
