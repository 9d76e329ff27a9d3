// midipipe: a run's options (see run_options.hpp).
#include "run_options.hpp"

#include <cstring>

#include "pool_internal.hpp"

extern "C" {
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
}

namespace {

// Every option but workers: its name in midipipe_runs.options, its member,
// and its value when the name is missing.
struct BoolOption {
  const char* name;
  bool MpRunOptions::*member;
  bool missing;
};
constexpr BoolOption kBoolOptions[] = {
    {"recursive", &MpRunOptions::recursive, true},
    {"wait", &MpRunOptions::wait, false},
    {"follow_symlinks", &MpRunOptions::follow_symlinks, false},
    {"split_tracks", &MpRunOptions::split_tracks, false},
    {"analysis_depth", &MpRunOptions::analysis_depth, true},
};
constexpr const char* kWorkers = "workers";

void push_key(JsonbParseState** state, const char* name) {
  JsonbValue k;
  k.type = jbvString;
  k.val.string.val = const_cast<char*>(name);
  k.val.string.len = static_cast<int>(strlen(name));
  (void)pushJsonbValue(state, WJB_KEY, &k);
}

// The value of key `name`, or nullptr when it is missing or JSON null.
JsonbValue* find_key(Jsonb* j, const char* name) {
  JsonbValue* v =
      getKeyJsonValueFromContainer(&j->root, name, static_cast<int>(strlen(name)), nullptr);
  return v != nullptr && v->type != jbvNull ? v : nullptr;
}

// A boolean option as (options->>'name')::boolean reads it.
bool bool_value(const JsonbValue* v, const char* name) {
  if (v->type == jbvBool) return v->val.boolean;
  bool b = false;
  if (v->type == jbvString && parse_bool_with_len(v->val.string.val, v->val.string.len, &b))
    return b;
  ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                  errmsg("midipipe: run option \"%s\" is not a boolean", name)));
  return false;
}

}  // namespace

MpRunOptions mp_run_options_from_call(FunctionCallInfo fcinfo) {
  MpRunOptions o;
  o.workers = PG_ARGISNULL(1) ? -1 : PG_GETARG_INT32(1);
  o.recursive = PG_ARGISNULL(2) ? true : PG_GETARG_BOOL(2);
  o.wait = PG_ARGISNULL(3) ? true : PG_GETARG_BOOL(3);
  o.follow_symlinks = PG_ARGISNULL(4) ? false : PG_GETARG_BOOL(4);
  // split_tracks arrived in 0.2; the 0.1 signature has five arguments
  o.split_tracks = PG_NARGS() > 5 && !PG_ARGISNULL(5) ? PG_GETARG_BOOL(5) : false;
  o.analysis_depth = mp_analysis_depth;
  return o;
}

Datum mp_run_options_to_jsonb(const MpRunOptions& o) {
  JsonbParseState* state = nullptr;
  (void)pushJsonbValue(&state, WJB_BEGIN_OBJECT, nullptr);
  push_key(&state, kWorkers);
  JsonbValue n;
  n.type = jbvNumeric;
  n.val.numeric = int64_to_numeric(o.workers);
  (void)pushJsonbValue(&state, WJB_VALUE, &n);
  for (const BoolOption& opt : kBoolOptions) {
    push_key(&state, opt.name);
    JsonbValue b;
    b.type = jbvBool;
    b.val.boolean = o.*opt.member;
    (void)pushJsonbValue(&state, WJB_VALUE, &b);
  }
  JsonbValue* object = pushJsonbValue(&state, WJB_END_OBJECT, nullptr);
  return JsonbPGetDatum(JsonbValueToJsonb(object));
}

MpRunOptions mp_run_options_from_jsonb(Datum options, bool isnull) {
  MpRunOptions o;
  o.workers = 0;
  for (const BoolOption& opt : kBoolOptions) o.*opt.member = opt.missing;
  if (isnull) return o;
  Jsonb* j = DatumGetJsonbP(options);
  if (!JB_ROOT_IS_OBJECT(j)) return o;
  for (const BoolOption& opt : kBoolOptions)
    if (const JsonbValue* v = find_key(j, opt.name)) o.*opt.member = bool_value(v, opt.name);
  if (const JsonbValue* v = find_key(j, kWorkers); v != nullptr && v->type == jbvNumeric)
    o.workers = DatumGetInt32(DirectFunctionCall1(numeric_int4, NumericGetDatum(v->val.numeric)));
  return o;
}
