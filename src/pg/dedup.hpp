// midipipe: the decisions a batch takes about each claimed file, from what
// the tables already hold: plain C++, no PostgreSQL (the SPI side is
// batch_dedup.cpp), unit-tested on its own (test/dedup).
//
//   1. before reading: is the file unchanged (not read again)?    unchanged()
//   2. after reading: what becomes of the path's old 'ok' row?     old_ok_row()
//   3. its content is stored already: under which row?             match_stored()
//   4. its content is new, and repeated in the batch: who holds it? holder()
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace mp_dedup {

// The midipipe_files row stored for a path when the batch looked.
struct Recorded {
  bool exists = false;
  char status = 0;         // first letter of its status: 'o'k, 'd'uplicate, 'e'rror
  bool have_stat = false;  // size and mtime are not NULL
  int64_t size = -1;
  int64_t mtime = 0;      // TimestampTz
  bool io_error = false;  // an error row whose cause was not the content (is_io_code)
  int64_t id = -1;        // its file_id
  bool has_sha = false;
  uint8_t sha[32] = {};
};

// Error codes that describe the file system rather than the content: such a
// row is re-read even when size and mtime did not change.
bool is_io_code(std::string_view code) noexcept;

// 1. Size and mtime as recorded, and the row not an I/O error: not read again.
bool unchanged(const Recorded& old, int64_t size, int64_t mtime) noexcept;

// 2. A file read again whose path holds an 'ok' row: the row keeps its content
//    and is re-analysed in place (the same bytes were read), or releases it
//    (midipipe__release: a duplicate of it takes the analysis over).
enum class OldRow { none, reanalyse, release };
OldRow old_ok_row(const Recorded& old, bool read_ok, const uint8_t* sha) noexcept;

// 3. A file read as new content, and a stored 'ok' row of the same content:
//    that row is the file's own (re-analysed in place: ignore it), or holds
//    the file's very path (another run stored it meanwhile: unchanged), or the
//    file is its duplicate.
enum class Stored { own_row, same_path, duplicate };
Stored match_stored(bool reanalyse, int64_t old_id, std::string_view path, int64_t stored_id,
                    std::string_view stored_path) noexcept;

// 4. The files of one new content in a batch (in path order): the one that
//    holds it is the one re-analysed in place if any (the last such), else the
//    first still 'ok'; the others become its duplicates. -1: none is 'ok'.
struct Candidate {
  bool ok;         // still new content (not already a duplicate or unchanged)
  bool reanalyse;  // re-analysed in place
};
int holder(std::span<const Candidate> group) noexcept;

}  // namespace mp_dedup
