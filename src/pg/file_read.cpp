// midipipe: reading a whole server file (see file_read.hpp).
#include "file_read.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

extern "C" {
#include "catalog/pg_authid.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/memutils.h"
}

bool mp_may_read_server_files(Oid role) {
  return superuser_arg(role) || has_privs_of_role(role, ROLE_PG_READ_SERVER_FILES);
}

void mp_require_read_server_files() {
  if (!mp_may_read_server_files(GetUserId()))
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("permission denied to read server files"),
                    errdetail("Only roles with privileges of the \"pg_read_server_files\" role "
                              "may read files on the server.")));
}

MpFileRead mp_read_file(const char* path, bool follow_symlinks, uint64 max_size,
                        MpReadBuffer* buf) {
  MpFileRead out;
  int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC;
  if (!follow_symlinks) flags |= O_NOFOLLOW;
  const int fd = OpenTransientFile(path, flags);
  if (fd < 0) {
    out.err = errno;
    out.fail = MpReadFail::open;
    return out;
  }
  if (fstat(fd, &out.st) != 0) {
    out.err = errno;
    CloseTransientFile(fd);
    out.fail = MpReadFail::stat;
    return out;
  }
  out.have_stat = true;
  if (!S_ISREG(out.st.st_mode)) {
    CloseTransientFile(fd);
    out.fail = MpReadFail::not_regular;
    return out;
  }
  const uint64 size = static_cast<uint64>(out.st.st_size);
  if (size > max_size) {
    CloseTransientFile(fd);
    out.fail = MpReadFail::too_large;
    return out;
  }
  if (size + 1 > buf->cap) {
    size_t cap = std::max<size_t>(buf->cap * 2, size + 1);
    void* p =
        MemoryContextAllocExtended(CurrentMemoryContext, cap, MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
    if (p == nullptr) {
      CloseTransientFile(fd);
      out.fail = MpReadFail::no_memory;
      return out;
    }
    if (buf->data != nullptr) pfree(buf->data);
    buf->data = static_cast<char*>(p);
    buf->cap = cap;
  }
  // The file may change while we read: read what is there, up to the size fstat saw.
  size_t got = 0;
  while (got < size) {
    const ssize_t k = read(fd, buf->data + got, size - got);
    if (k < 0) {
      if (errno == EINTR) continue;
      out.err = errno;
      CloseTransientFile(fd);
      out.fail = MpReadFail::read;
      out.len = got;
      return out;
    }
    if (k == 0) break;
    got += static_cast<size_t>(k);
  }
  CloseTransientFile(fd);
  out.len = got;
  return out;
}
