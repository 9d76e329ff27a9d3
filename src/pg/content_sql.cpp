// midipipe: the SQL helpers of the content searches (docs/content.md):
//   midipipe__melody_query(int[])        the query's intervals and n-grams
//   midipipe__progression_query(text)    the parsed progression's codes and n-grams
//   midipipe__positions(int2[], int2[])  where a sequence occurs in another
//   midipipe__pick(int8[], int4[])       the elements at those places
// midipipe_find_melody / _find_progression / _similar (SQL, the 0.4 script)
// call them. The engine's parser runs inside the C++ guard on copies of the
// arguments; its results are copied into fixed buffers (a query has at most
// kMaxQueryNotes entries) before any PostgreSQL call that may ERROR.
#include <algorithm>
#include <cstring>

#include "content.hpp"
#include "guard.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

PGDLLEXPORT Datum midipipe__melody_query(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum midipipe__progression_query(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum midipipe__positions(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum midipipe__pick(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(midipipe__melody_query);
PG_FUNCTION_INFO_V1(midipipe__progression_query);
PG_FUNCTION_INFO_V1(midipipe__positions);
PG_FUNCTION_INFO_V1(midipipe__pick);
}

namespace {

constexpr int kMax = midipipe::kMaxQueryNotes;

// The elements of a one-dimensional array without NULLs (ERROR otherwise).
template <class T>
int array_values(ArrayType* a, Oid type, const char* what, T** out) {
  if (ARR_NDIM(a) > 1)
    ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
                    errmsg("midipipe: %s must be a one-dimensional array", what)));
  if (array_contains_nulls(a))
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                    errmsg("midipipe: %s must not contain NULL", what)));
  int16 len;
  bool byval;
  char align;
  get_typlenbyvalalign(type, &len, &byval, &align);
  Datum* d;
  int n;
  deconstruct_array(a, type, len, byval, align, &d, nullptr, &n);
  T* v = static_cast<T*>(palloc(sizeof(T) * (n > 0 ? n : 1)));
  for (int i = 0; i < n; ++i) {
    if constexpr (sizeof(T) == 2)
      v[i] = DatumGetInt16(d[i]);
    else
      v[i] = DatumGetInt32(d[i]);
  }
  *out = v;
  return n;
}

Datum two_arrays(FunctionCallInfo fcinfo, const int16* codes, int ncodes, const int64* grams,
                 int ngrams) {
  TupleDesc desc;
  if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
    elog(ERROR, "midipipe: a record type was expected");
  desc = BlessTupleDesc(desc);
  Datum* c = static_cast<Datum*>(palloc(sizeof(Datum) * (ncodes + 1)));
  for (int i = 0; i < ncodes; ++i) c[i] = Int16GetDatum(codes[i]);
  Datum* g = static_cast<Datum*>(palloc(sizeof(Datum) * (ngrams + 1)));
  for (int i = 0; i < ngrams; ++i) g[i] = Int64GetDatum(grams[i]);
  Datum values[2] = {
      PointerGetDatum(construct_array(c, ncodes, INT2OID, 2, true, TYPALIGN_SHORT)),
      PointerGetDatum(construct_array(g, ngrams, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE))};
  bool nulls[2] = {false, false};
  return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

}  // namespace

// (pitches int[], OUT intervals int2[], OUT ngrams int8[])
Datum midipipe__melody_query(PG_FUNCTION_ARGS) {
  ArrayType* a = PG_GETARG_ARRAYTYPE_P(0);
  int32* p = nullptr;
  const int n = array_values(a, INT4OID, "the pitches", &p);
  if (n > kMax)
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("midipipe: a melody needs %d to %d pitches, not %d",
                           midipipe::kMinMelodyNotes, kMax, n)));
  int16 iv[kMax];
  int64 grams[kMax];
  int niv = 0, ngrams = 0;
  char error[256] = "";
  MP_GUARD_BEGIN
  const midipipe::MelodyQuery q = midipipe::melody_query({p, static_cast<size_t>(n)});
  if (!q.error.empty()) {
    strlcpy(error, q.error.c_str(), sizeof error);
  } else {
    niv = static_cast<int>(q.intervals.size());
    ngrams = static_cast<int>(q.ngrams.size());
    std::copy(q.intervals.begin(), q.intervals.end(), iv);
    std::copy(q.ngrams.begin(), q.ngrams.end(), grams);
  }
  MP_GUARD_END
  if (error[0] != '\0')
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("midipipe: %s", error)));
  return two_arrays(fcinfo, iv, niv, grams, ngrams);
}

// (progression text, OUT codes int2[], OUT ngrams int8[])
Datum midipipe__progression_query(PG_FUNCTION_ARGS) {
  text* t = PG_GETARG_TEXT_PP(0);
  const char* s = VARDATA_ANY(t);
  const size_t len = VARSIZE_ANY_EXHDR(t);
  int16 codes[kMax];
  int64 grams[kMax];
  int ncodes = 0, ngrams = 0, pos = 0;
  char error[512] = "";
  MP_GUARD_BEGIN
  const midipipe::ProgressionQuery q = midipipe::parse_progression({s, len});
  if (q.error_pos != 0) {
    pos = q.error_pos;
    strlcpy(error, q.error.c_str(), sizeof error);
  } else {
    ncodes = static_cast<int>(q.codes.size());
    ngrams = static_cast<int>(q.ngrams.size());
    std::copy(q.codes.begin(), q.codes.end(), codes);
    std::copy(q.ngrams.begin(), q.ngrams.end(), grams);
  }
  MP_GUARD_END
  if (pos != 0)
    ereport(ERROR,
            (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
             errmsg("midipipe: bad progression at character %d: %s", pos, error),
             errhint("Write Roman numerals separated by spaces or hyphens, e.g. 'ii V I', "
                     "'I-V-vi-IV', 'i bVII bVI V' (README \"Finding music by its content\").")));
  return two_arrays(fcinfo, codes, ncodes, grams, ngrams);
}

// (haystack int2[], needle int2[]) -> int4[]: 1-based start of every occurrence.
Datum midipipe__positions(PG_FUNCTION_ARGS) {
  int16* h = nullptr;
  int16* nd = nullptr;
  const int nh = array_values(PG_GETARG_ARRAYTYPE_P(0), INT2OID, "the sequence", &h);
  const int nn = array_values(PG_GETARG_ARRAYTYPE_P(1), INT2OID, "the pattern", &nd);
  Datum* out = static_cast<Datum*>(palloc(sizeof(Datum) * (nh > 0 ? nh : 1)));
  int k = 0;
  for (int i = 0; nn > 0 && i + nn <= nh; ++i) {
    if ((i & 4095) == 0) CHECK_FOR_INTERRUPTS();
    if (memcmp(h + i, nd, sizeof(int16) * nn) == 0) out[k++] = Int32GetDatum(i + 1);
  }
  PG_RETURN_ARRAYTYPE_P(construct_array(out, k, INT4OID, 4, true, TYPALIGN_INT));
}

// (values int8[], positions int4[]) -> int8[]: values[p] for each 1-based p
// (NULL outside the array). The searches read the onsets and bars of their
// hits through it: a subscript in SQL detoasts the whole array again for
// every element it reads, this detoasts it once.
Datum midipipe__pick(PG_FUNCTION_ARGS) {
  ArrayType* va = PG_GETARG_ARRAYTYPE_P(0);
  int32* pos = nullptr;
  const int np = array_values(PG_GETARG_ARRAYTYPE_P(1), INT4OID, "the positions", &pos);
  if (ARR_NDIM(va) > 1)
    ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
                    errmsg("midipipe: the values must be a one-dimensional array")));
  Datum* d;
  bool* dn;
  int nv;
  deconstruct_array(va, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &d, &dn, &nv);
  Datum* out = static_cast<Datum*>(palloc(sizeof(Datum) * (np > 0 ? np : 1)));
  bool* on = static_cast<bool*>(palloc(sizeof(bool) * (np > 0 ? np : 1)));
  for (int i = 0; i < np; ++i) {
    const bool in = pos[i] >= 1 && pos[i] <= nv;
    on[i] = !in || dn[pos[i] - 1];
    out[i] = on[i] ? Int64GetDatum(0) : d[pos[i] - 1];
  }
  int dims[1] = {np};
  int lbs[1] = {1};
  PG_RETURN_ARRAYTYPE_P(
      construct_md_array(out, on, 1, dims, lbs, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}
