// midipipe: a batch's decisions about each file (see dedup.hpp).
#include "dedup.hpp"

#include <cstring>

namespace mp_dedup {

bool is_io_code(std::string_view code) noexcept {
  return code == "io_error" || code == "not_regular_file" || code == "file_too_large" ||
         code == "out_of_memory" ||
         code == "too_many_events";  // midipipe.max_events may have changed
}

bool unchanged(const Recorded& old, int64_t size, int64_t mtime) noexcept {
  return old.exists && old.have_stat && old.size == size && old.mtime == mtime && !old.io_error &&
         (old.status == 'o' || old.status == 'd' || old.status == 'e');
}

OldRow old_ok_row(const Recorded& old, bool read_ok, const uint8_t* sha) noexcept {
  if (!old.exists || old.status != 'o') return OldRow::none;
  const bool same = read_ok && old.has_sha && memcmp(sha, old.sha, 32) == 0;
  return same ? OldRow::reanalyse : OldRow::release;
}

Stored match_stored(bool reanalyse, int64_t old_id, std::string_view path, int64_t stored_id,
                    std::string_view stored_path) noexcept {
  if (reanalyse && old_id == stored_id) return Stored::own_row;
  if (stored_path == path) return Stored::same_path;
  return Stored::duplicate;
}

int holder(std::span<const Candidate> group) noexcept {
  int h = -1;
  for (size_t g = 0; g < group.size(); ++g)
    if (group[g].ok && group[g].reanalyse) h = static_cast<int>(g);
  for (size_t g = 0; g < group.size() && h < 0; ++g)
    if (group[g].ok) h = static_cast<int>(g);
  return h;
}

}  // namespace mp_dedup
