// midipipe: the guard between C++ and PostgreSQL error handling.
//
// Two rules, both needed because PostgreSQL reports errors with longjmp and
// C++ with exceptions, and neither may cross the other's frames:
//
// 1. No C++ exception leaves a function PostgreSQL calls (SQL-callable
//    functions, background worker entry points, hooks). Wrap the C++ work:
//
//      Datum my_function(PG_FUNCTION_ARGS) {
//        MP_GUARD_BEGIN
//          ... C++ code ...
//        MP_GUARD_END
//        PG_RETURN_...;
//      }
//
//    A std::exception's message (or "unknown C++ exception") is copied to a
//    buffer and reported with ereport(ERROR) only after the catch block has
//    ended, so no C++ object is live when PostgreSQL longjmps. An MpPgError
//    (rule 2) is rethrown as the original PostgreSQL error.
//
// 2. C++ code that calls PostgreSQL functions while C++ objects with
//    destructors are alive calls them through mp_pg_call(), which runs the
//    call inside PG_TRY and turns an ERROR into a C++ exception (MpPgError
//    carrying the copied ErrorData), so destructors run; rule 1 turns it back
//    into the PostgreSQL error at the boundary.
//
//    The callable passed to mp_pg_call must not itself hold objects with
//    non-trivial destructors: a longjmp skips them.
//
// 3. Where running out of memory is the input's fault rather than the
//    statement's (one file of a batch: it gets an error row, the batch goes
//    on), mp_guard_input() runs the C++ work like rule 1 but returns false for
//    a C++ exception instead of reporting it; a PostgreSQL ERROR raised in
//    mp_pg_call() is still re-thrown as itself.
#pragma once

extern "C" {
#include "postgres.h"

#include "utils/elog.h"
#include "utils/memutils.h"
}

#include <cstring>
#include <exception>
#include <new>
#include <type_traits>
#include <utility>

// A PostgreSQL ERROR carried through C++ frames.
class MpPgError : public std::exception {
 public:
  explicit MpPgError(ErrorData* edata) : edata_(edata) {}
  const char* what() const noexcept override {
    return edata_ != nullptr && edata_->message != nullptr ? edata_->message : "PostgreSQL error";
  }
  ErrorData* edata() const noexcept { return edata_; }

 private:
  ErrorData* edata_;  // palloc'd by CopyErrorData in the caller's memory context
};

namespace mp_detail {
// Runs f() in PG_TRY; on ERROR stores a copy of the error (in `cxt`) in *out.
// Nothing here is modified between setjmp and longjmp except through pointers.
template <typename F>
void pg_try(F& f, MemoryContext cxt, ErrorData** out) {
  PG_TRY();
  { f(); }
  PG_CATCH();
  {
    MemoryContextSwitchTo(cxt);
    *out = CopyErrorData();
    FlushErrorState();
  }
  PG_END_TRY();
}
}  // namespace mp_detail

// Runs f() (which calls PostgreSQL functions) in PG_TRY; an ERROR becomes MpPgError.
template <typename F>
auto mp_pg_call(F&& f) -> decltype(f()) {
  ErrorData* edata = nullptr;
  if constexpr (std::is_void_v<decltype(f())>) {
    mp_detail::pg_try(f, CurrentMemoryContext, &edata);
    if (edata != nullptr) throw MpPgError(edata);
  } else {
    decltype(f()) result{};
    auto call = [&]() { result = f(); };
    mp_detail::pg_try(call, CurrentMemoryContext, &edata);
    if (edata != nullptr) throw MpPgError(edata);
    return result;
  }
}

// Runs f() (C++ code calling PostgreSQL only through mp_pg_call): true when
// it returned, false when it threw a C++ exception (the engine throws only
// std::bad_alloc). A PostgreSQL ERROR is re-thrown once f's objects are gone.
template <typename F>
bool mp_guard_input(F&& f) {
  ErrorData* pg_error = nullptr;
  bool ok = true;
  try {
    f();
  } catch (const MpPgError& e) {
    pg_error = e.edata();
  } catch (...) {
    ok = false;
  }
  if (pg_error != nullptr) ReThrowError(pg_error);
  return ok;
}

// State of one guarded region; lives in the PostgreSQL-facing function's frame.
struct MpGuardState {
  char message[1024];
  bool failed = false;
  ErrorData* pg_error = nullptr;

  void set(const char* what) noexcept {
    failed = true;
    strlcpy(message, what != nullptr ? what : "unknown C++ exception", sizeof(message));
  }
  // Called after the catch blocks, when no C++ object of the region is alive.
  void report() const {
    if (pg_error != nullptr) ReThrowError(pg_error);
    if (failed) ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("midipipe: %s", message)));
  }
};

#define MP_GUARD_BEGIN    \
  MpGuardState mp_guard_; \
  try {
#define MP_GUARD_END                        \
  }                                         \
  catch (const MpPgError& e) {              \
    mp_guard_.pg_error = e.edata();         \
  }                                         \
  catch (const std::bad_alloc&) {           \
    mp_guard_.set("out of memory");         \
  }                                         \
  catch (const std::exception& e) {         \
    mp_guard_.set(e.what());                \
  }                                         \
  catch (...) {                             \
    mp_guard_.set("unknown C++ exception"); \
  }                                         \
  mp_guard_.report();
