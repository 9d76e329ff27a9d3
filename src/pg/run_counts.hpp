// midipipe: folding the batches' counts (midipipe_run_counts, appended by each
// batch in its own transaction) into their run's midipipe_runs row. The run's
// scanner folds about once a second and when it ends the run (scanner.cpp);
// midipipe_cancel folds for a run that has no scanner (import.cpp).
#pragma once

// SQL with %s for the extension's schema (mp_with_schema) and $1 the run_id:
// deletes the run's count rows and adds them to its row, in one statement, so
// that each count is in exactly one of the two places whatever crashes.
const char* mp_fold_counts_sql();
