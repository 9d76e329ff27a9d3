// midipipe: Datum building for a batch's rows: the column buffers of the
// set-based inserts, text in the database encoding, arrays, and the depth
// values built in binary (chord names, drum counts).
//
// Text: the engine's strings are valid UTF-8 without NUL. In a UTF-8 database
// they are stored as they are (after a verification); in SQL_ASCII too; in any
// other encoding they are converted, and a string that cannot be represented
// is stored as NULL (never an error that would fail the batch).
#include "batch_internal.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/string.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
}

namespace mp_batch {

// ------------------------------------------------------------------ columns

void col_init(Col* c, Oid type) {
  c->type = type;
  get_typlenbyvalalign(type, &c->len, &c->byval, &c->align);
  c->cap = 64;
  c->n = 0;
  c->v = static_cast<Datum*>(palloc(sizeof(Datum) * c->cap));
  c->isnull = static_cast<bool*>(palloc(sizeof(bool) * c->cap));
}

void col_grow(Col* c) {
  c->cap *= 2;
  c->v = static_cast<Datum*>(repalloc(c->v, sizeof(Datum) * c->cap));
  c->isnull = static_cast<bool*>(repalloc(c->isnull, sizeof(bool) * c->cap));
}

Datum col_array(const Col* c, const int* idx, int k) {
  Datum* v = static_cast<Datum*>(palloc(sizeof(Datum) * (k > 0 ? k : 1)));
  bool* nl = static_cast<bool*>(palloc(sizeof(bool) * (k > 0 ? k : 1)));
  for (int i = 0; i < k; ++i) {
    const int r = idx != nullptr ? idx[i] : i;
    v[i] = c->v[r];
    nl[i] = c->isnull[r];
  }
  int dims[1] = {k};
  int lbs[1] = {1};
  ArrayType* a = construct_md_array(v, nl, 1, dims, lbs, c->type, c->len, c->byval, c->align);
  return PointerGetDatum(a);
}

// ------------------------------------------------------------------ text

namespace {

Oid g_conv_proc = InvalidOid;  // UTF-8 -> database encoding, when neither is UTF-8/SQL_ASCII
int g_db_encoding = -1;

}  // namespace

void text_setup() {
  g_db_encoding = GetDatabaseEncoding();
  g_conv_proc = InvalidOid;
  if (g_db_encoding != PG_UTF8 && g_db_encoding != PG_SQL_ASCII)
    g_conv_proc = FindDefaultConversionProc(PG_UTF8, g_db_encoding);
}

bool utf8_text(const char* s, size_t len, Datum* out) {
  if (len > MaxAllocSize / 8) return false;
  if (g_db_encoding == PG_SQL_ASCII) {
    *out = PointerGetDatum(cstring_to_text_with_len(s, static_cast<int>(len)));
    return true;
  }
  if (!pg_verify_mbstr(PG_UTF8, s, static_cast<int>(len), true)) return false;
  if (g_db_encoding == PG_UTF8 || pg_is_ascii(s)) {
    *out = PointerGetDatum(cstring_to_text_with_len(s, static_cast<int>(len)));
    return true;
  }
  if (!OidIsValid(g_conv_proc)) return false;
  const int srclen = static_cast<int>(len);
  char* dst = static_cast<char*>(palloc(static_cast<size_t>(srclen) * MAX_CONVERSION_GROWTH + 1));
  char* src = pnstrdup(s, len);
  const int done = pg_do_encoding_conversion_buf(
      g_conv_proc, PG_UTF8, g_db_encoding, reinterpret_cast<unsigned char*>(src), srclen,
      reinterpret_cast<unsigned char*>(dst), srclen * MAX_CONVERSION_GROWTH + 1, true);
  pfree(src);
  if (done != srclen) {
    pfree(dst);
    return false;
  }
  *out = PointerGetDatum(cstring_to_text(dst));
  pfree(dst);
  return true;
}

void push_text(Col* c, const char* s, size_t len) {
  Datum d;
  const bool ok = utf8_text(s, len, &d);
  col_push(c, d, !ok);
}
void push_str(Col* c, const std::string& s) { push_text(c, s.data(), s.size()); }
void push_opt_str(Col* c, const std::optional<std::string>& s) {
  if (s.has_value())
    push_text(c, s->data(), s->size());
  else
    col_push(c, 0, true);
}

// The list columns, as arrays built in binary (they are fields of the rows'
// composite values, see batch_store.cpp; equal to what array_in makes of
// '{1,2,3}': an empty list is the empty array).
void push_i2_list(Col* c, const std::vector<int16_t>& v) {
  Datum* d = static_cast<Datum*>(palloc(sizeof(Datum) * (v.empty() ? 1 : v.size())));
  for (size_t i = 0; i < v.size(); ++i) d[i] = Int16GetDatum(v[i]);
  col_push(c, simple_array(d, nullptr, static_cast<int>(v.size()), INT2OID), false);
  pfree(d);
}

void push_i8_list(Col* c, const std::vector<int64_t>& v) {
  Datum* d = static_cast<Datum*>(palloc(sizeof(Datum) * (v.empty() ? 1 : v.size())));
  for (size_t i = 0; i < v.size(); ++i) d[i] = Int64GetDatum(static_cast<int64>(v[i]));
  col_push(c, simple_array(d, nullptr, static_cast<int>(v.size()), INT8OID), false);
  pfree(d);
}

void push_bytea(Col* c, const uint8_t* p, size_t len) {
  col_push(c, bytea_datum(p, static_cast<int>(len)), false);
}

// A text[] of the strings (NUL bytes dropped, as the text form this replaces
// dropped them); NULL as a whole when one cannot be represented in the
// database encoding, as that text form was.
void push_text_list(Col* c, const std::vector<std::string>& v) {
  Datum* d = static_cast<Datum*>(palloc(sizeof(Datum) * (v.empty() ? 1 : v.size())));
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string& x = v[i];
    bool ok;
    if (memchr(x.data(), '\0', x.size()) == nullptr) {
      ok = utf8_text(x.data(), x.size(), &d[i]);
    } else {
      std::string y;
      for (char ch : x)
        if (ch != '\0') y.push_back(ch);
      ok = utf8_text(y.data(), y.size(), &d[i]);
    }
    if (!ok) {
      pfree(d);
      col_push(c, 0, true);
      return;
    }
  }
  col_push(c, simple_array(d, nullptr, static_cast<int>(v.size()), TEXTOID), false);
  pfree(d);
}

// ------------------------------------------------------------------ depth values

// The text datum of a chord quality or name ("maj", "C#m7", "N", ...): a few
// hundred ASCII strings of at most 7 bytes, each made once per process (in
// TopMemoryContext) instead of once per chord. Anything else: utf8_text().
bool chord_text(const std::string& s, Datum* out) {
  constexpr size_t kMaxLen = 7;
  struct Entry {
    uint64 key;
    Datum text;  // 0: empty
  };
  static Entry cache[512];
  if (s.empty() || s.size() > kMaxLen || !pg_is_ascii(s.c_str()))
    return utf8_text(s.data(), s.size(), out);
  unsigned char bytes[8] = {};  // the string, zero-padded, and its length last
  memcpy(bytes, s.data(), s.size());
  bytes[7] = static_cast<unsigned char>(s.size());
  uint64 key;
  memcpy(&key, bytes, sizeof key);
  size_t h = static_cast<size_t>((key * UINT64CONST(0x9E3779B97F4A7C15)) >> 55);
  for (size_t probe = 0; probe < 8; ++probe, h = (h + 1) & 511) {
    Entry& e = cache[h];
    if (e.text != 0 && e.key == key) {
      *out = e.text;
      return true;
    }
    if (e.text == 0) {
      MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
      e.text = PointerGetDatum(cstring_to_text_with_len(s.data(), static_cast<int>(s.size())));
      MemoryContextSwitchTo(old);
      e.key = key;
      *out = e.text;
      return true;
    }
  }
  return utf8_text(s.data(), s.size(), out);  // (a full neighbourhood: never with these names)
}

// The drum counts as a jsonb object {"class": count, ...}, built in binary
// (equal to what jsonb_in makes of the same text: integral numerics, keys in
// jsonb's order, which is by length then bytes; given in that order, the
// object's key sort finds them sorted).
Datum drum_counts_jsonb(const std::array<uint64_t, midipipe::kDrumClasses>& counts) {
  static int order[midipipe::kDrumClasses];
  static bool have_order = false;
  if (!have_order) {
    for (int k = 0; k < midipipe::kDrumClasses; ++k) order[k] = k;
    std::sort(order, order + midipipe::kDrumClasses, [](int x, int y) {
      const std::string_view a = midipipe::drum_class_name(x), b = midipipe::drum_class_name(y);
      return a.size() != b.size() ? a.size() < b.size() : a < b;
    });
    have_order = true;
  }
  JsonbParseState* state = nullptr;
  (void)pushJsonbValue(&state, WJB_BEGIN_OBJECT, nullptr);
  for (int i = 0; i < midipipe::kDrumClasses; ++i) {
    const int k = order[i];
    const std::string_view name = midipipe::drum_class_name(k);
    JsonbValue key;
    key.type = jbvString;
    key.val.string.len = static_cast<int>(name.size());
    key.val.string.val = const_cast<char*>(name.data());
    (void)pushJsonbValue(&state, WJB_KEY, &key);
    JsonbValue value;
    value.type = jbvNumeric;
    value.val.numeric =
        int64_to_numeric(static_cast<int64>(std::min<uint64_t>(counts[k], PG_INT64_MAX)));
    (void)pushJsonbValue(&state, WJB_VALUE, &value);
  }
  return JsonbPGetDatum(JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, nullptr)));
}

// ------------------------------------------------------------------ arrays

Datum bytea_datum(const uint8* p, int len) {
  bytea* v = static_cast<bytea*>(palloc(VARHDRSZ + len));
  SET_VARSIZE(v, VARHDRSZ + len);
  memcpy(VARDATA(v), p, len);
  return PointerGetDatum(v);
}

Datum simple_array(Datum* v, bool* nulls, int n, Oid type) {
  int16 len;
  bool byval;
  char align;
  get_typlenbyvalalign(type, &len, &byval, &align);
  int dims[1] = {n};
  int lbs[1] = {1};
  return PointerGetDatum(construct_md_array(v, nulls, 1, dims, lbs, type, len, byval, align));
}

// Index of `path` in the batch (recs sorted by strcmp through `order`), or -1.

}  // namespace mp_batch
