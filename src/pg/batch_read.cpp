// midipipe: the reading phase of a batch: every claimed file is stat'ed, and
// read (file_read.hpp) and analysed (batch_engine.cpp) unless it is unchanged;
// whatever goes wrong with a file becomes its error row (set_error), never an
// ERROR.
#include <sys/stat.h>

#include <cerrno>

#include "batch_internal.hpp"
#include "file_read.hpp"

extern "C" {
#include "common/string.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/timestamp.h"
}

namespace mp_batch {

void set_error(FileRec* r, const char* code, char* msg, int64 offset) {
  r->state = FS_ERROR;
  r->err_code = code;
  r->err_msg = msg;
  r->err_offset = offset;
}

namespace {

// strerror text, valid in the database encoding.
char* errno_message(const char* what, int err) {
  const char* e = strerror(err);
  if (e == nullptr || !pg_verifymbstr(e, static_cast<int>(strlen(e)), true) || !pg_is_ascii(e))
    return psprintf("%s: errno %d", what, err);
  return psprintf("%s: %s", what, e);
}

void set_stat(FileRec* r, const struct stat* st) {
  r->have_stat = true;
  r->size = static_cast<int64>(st->st_size);
  r->mtime = time_t_to_timestamptz(st->st_mtim.tv_sec) + st->st_mtim.tv_nsec / 1000;
}

constexpr const char* kLinkNotFollowed = "symbolic link not followed (follow_symlinks is off)";

// lstat (stat when following symlinks): the size and mtime, or an error row.
void stat_file(Batch* b, FileRec* r) {
  struct stat st;
  if ((b->options.follow_symlinks ? stat(r->path, &st) : lstat(r->path, &st)) != 0) {
    set_error(r, "io_error", errno_message("could not stat file", errno), -1);
    return;
  }
  set_stat(r, &st);
  if (S_ISLNK(st.st_mode))
    set_error(r, "not_regular_file", pstrdup(kLinkNotFollowed), -1);
  else if (!S_ISREG(st.st_mode))
    set_error(r, "not_regular_file", pstrdup("not a regular file"), -1);
}

// Reads the whole file into b->buf; false (and an error row) on failure.
bool read_file(Batch* b, FileRec* r, size_t* len) {
  MpReadBuffer buf{b->buf, b->bufcap};
  const MpFileRead rd = mp_read_file(r->path, b->options.follow_symlinks, b->max_file_size, &buf);
  b->buf = buf.data;
  b->bufcap = buf.cap;
  if (rd.have_stat) set_stat(r, &rd.st);
  switch (rd.fail) {
    case MpReadFail::none:
      r->bytes = static_cast<int64>(rd.len);
      *len = rd.len;
      return true;
    case MpReadFail::open:
      if (rd.err == ELOOP)
        set_error(r, "not_regular_file", pstrdup(kLinkNotFollowed), -1);
      else
        set_error(r, "io_error", errno_message("could not open file", rd.err), -1);
      break;
    case MpReadFail::stat:
      set_error(r, "io_error", errno_message("could not stat file", rd.err), -1);
      break;
    case MpReadFail::not_regular:
      set_error(r, "not_regular_file", pstrdup("not a regular file"), -1);
      break;
    case MpReadFail::too_large:
      set_error(r, "file_too_large",
                psprintf("file is " UINT64_FORMAT
                         " bytes, more than midipipe.max_file_size (" UINT64_FORMAT " bytes)",
                         static_cast<uint64>(rd.st.st_size), b->max_file_size),
                -1);
      break;
    case MpReadFail::no_memory:
      set_error(r, "out_of_memory", pstrdup("out of memory reading the file"), -1);
      break;
    case MpReadFail::read:
      set_error(r, "io_error", errno_message("could not read file", rd.err),
                static_cast<int64>(rd.len));
      break;
  }
  return false;
}

}  // namespace

void read_files(Batch* b, MpBatchOutcome* out, mp_file_callback on_file, void* arg) {
  for (int k = 0; k < b->n; ++k) {
    FileRec* r = &b->f[k];
    r->state = FS_ERROR;
    r->err_code = nullptr;
    if (on_file != nullptr) on_file(arg, r->path, -1, false);  // starting it
    stat_file(b, r);
    if (r->err_code == nullptr) {
      if (mp_dedup::unchanged(r->old, r->size, r->mtime)) {
        r->state = FS_UNCHANGED;
      } else {
        size_t len = 0;
        if (read_file(b, r, &len)) engine_file(b, r, reinterpret_cast<const uint8_t*>(b->buf), len);
      }
    }
    switch (r->state) {
      case FS_UNCHANGED:
        ++out->unchanged;
        break;
      case FS_ERROR:
        ++out->failed;
        break;
      default:
        break;
    }
    out->bytes_read += r->bytes;
    if (on_file != nullptr)
      on_file(arg, r->path, r->bytes, r->state == FS_ERROR);
    else
      CHECK_FOR_INTERRUPTS();
  }
}

}  // namespace mp_batch
