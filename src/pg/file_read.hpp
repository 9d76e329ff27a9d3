// midipipe: reading a whole server file, the one reader of the extension: the
// imports' (batch_read.cpp, which turns a failure into the file's error row)
// and midipipe_split's (split_sql.cpp, which turns it into an ERROR); and the
// one check of the privilege to read server files.
#pragma once

extern "C" {
#include "postgres.h"
}

#include <sys/stat.h>

#include <cstddef>

enum class MpReadFail : uint8 {
  none,
  open,         // open() failed (err); ELOOP: a symbolic link not followed
  stat,         // fstat() failed (err)
  not_regular,  // not a regular file
  too_large,    // more than max_size bytes (st.st_size)
  no_memory,    // no memory for the buffer (never an ERROR)
  read,         // read() failed (err) after `len` bytes
};

// A read buffer, palloc'd in the current memory context, grown as needed and
// reused from one file to the next.
struct MpReadBuffer {
  char* data = nullptr;
  size_t cap = 0;
};

struct MpFileRead {
  MpReadFail fail = MpReadFail::none;
  int err = 0;  // errno of an open, stat or read failure
  bool have_stat = false;
  struct stat st = {};  // from fstat(), when have_stat
  size_t len = 0;       // bytes read (the file may shrink while it is read)
};

// Whether `role` may read server files, as for COPY FROM a file: a
// superuser or a role with the privileges of pg_read_server_files.
bool mp_may_read_server_files(Oid role);
// ERROR "permission denied to read server files" (insufficient privilege)
// unless the current user may (midipipe_import, midipipe_split and
// midipipe__process_batch: one check, one message).
void mp_require_read_server_files();

// Opens `path` (O_NOFOLLOW unless follow_symlinks; a transient file, closed at
// abort too), checks that it is a regular file of at most max_size bytes, and
// reads it into buf->data[0..len), up to the size fstat() saw. Failures are
// returned, not reported.
MpFileRead mp_read_file(const char* path, bool follow_symlinks, uint64 max_size, MpReadBuffer* buf);
