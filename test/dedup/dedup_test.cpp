// The batch's decisions about each file (src/pg/dedup.hpp), one test per case
// the SQL suites reach through a server (sql/import.sql, test/pgtap/02_reimport.sql,
// test/faults scenario 4b), and the edges between them.
#include "dedup.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace {

using mp_dedup::Candidate;
using mp_dedup::OldRow;
using mp_dedup::Recorded;
using mp_dedup::Stored;

constexpr int64_t kSize = 1234;
constexpr int64_t kMtime = 789'000'000;

struct Sha {
  uint8_t b[32];
  explicit Sha(uint8_t fill) { memset(b, fill, sizeof b); }
};

Recorded row(char status, const Sha* sha = nullptr) {
  Recorded r;
  r.exists = true;
  r.status = status;
  r.have_stat = true;
  r.size = kSize;
  r.mtime = kMtime;
  r.id = 42;
  if (sha != nullptr) {
    r.has_sha = true;
    memcpy(r.sha, sha->b, 32);
  }
  return r;
}

// --- 1. unchanged ------------------------------------------------------------

TEST(DedupUnchanged, NewPathIsRead) {
  EXPECT_FALSE(mp_dedup::unchanged(Recorded{}, kSize, kMtime));
}

TEST(DedupUnchanged, SameSizeAndMtimeIsNotReadForEveryStatus) {
  // import.sql run2 and 02_reimport "an unchanged tree is not read again":
  // ok rows, duplicates and content errors alike
  for (char status : {'o', 'd', 'e'})
    EXPECT_TRUE(mp_dedup::unchanged(row(status), kSize, kMtime)) << status;
}

TEST(DedupUnchanged, TouchedFileIsRead) {
  // 02_reimport "the touched file is re-read", import.sql run3 c.MIDI
  EXPECT_FALSE(mp_dedup::unchanged(row('o'), kSize, kMtime + 1));
}

TEST(DedupUnchanged, RewrittenFileIsRead) {
  EXPECT_FALSE(mp_dedup::unchanged(row('o'), kSize + 1, kMtime));
  EXPECT_FALSE(mp_dedup::unchanged(row('d'), 6, kMtime + 5));
}

TEST(DedupUnchanged, IoErrorRowIsReadAgain) {
  // import.sql run2: "the FIFO is checked again" (not_regular_file)
  Recorded r = row('e');
  r.io_error = true;
  EXPECT_FALSE(mp_dedup::unchanged(r, kSize, kMtime));
}

TEST(DedupUnchanged, RowWithoutSizeOrMtimeIsRead) {
  Recorded r = row('e');
  r.have_stat = false;
  EXPECT_FALSE(mp_dedup::unchanged(r, kSize, kMtime));
}

TEST(DedupUnchanged, UnknownStatusIsRead) {
  EXPECT_FALSE(mp_dedup::unchanged(row('x'), kSize, kMtime));
}

TEST(DedupIoCode, FileSystemCodesOnly) {
  for (const char* c :
       {"io_error", "not_regular_file", "file_too_large", "out_of_memory", "too_many_events"})
    EXPECT_TRUE(mp_dedup::is_io_code(c)) << c;
  for (const char* c : {"truncated_header", "not_midi", "empty_file", "bad_file_name", ""})
    EXPECT_FALSE(mp_dedup::is_io_code(c)) << c;
}

// --- 2. the path's old 'ok' row ----------------------------------------------

TEST(DedupOldRow, SameContentIsReanalysedInPlace) {
  // 02_reimport "the touched file is re-read (same content, still ok)"
  const Sha s(7);
  EXPECT_EQ(mp_dedup::old_ok_row(row('o', &s), true, s.b), OldRow::reanalyse);
}

TEST(DedupOldRow, NewContentReleasesTheRow) {
  // import.sql run3: a.mid gets new content, b.mid takes the old one over
  const Sha before(7), after(8);
  EXPECT_EQ(mp_dedup::old_ok_row(row('o', &before), true, after.b), OldRow::release);
}

TEST(DedupOldRow, UnreadableNowReleasesTheRow) {
  // 02_reimport "the rewritten file is now an error", "no analysis row left"
  const Sha s(7);
  EXPECT_EQ(mp_dedup::old_ok_row(row('o', &s), false, s.b), OldRow::release);
}

TEST(DedupOldRow, OkRowWithoutShaIsReleased) {
  const Sha s(7);
  EXPECT_EQ(mp_dedup::old_ok_row(row('o'), true, s.b), OldRow::release);
}

TEST(DedupOldRow, OnlyOkRowsHaveAnythingToHandOver) {
  const Sha s(7);
  EXPECT_EQ(mp_dedup::old_ok_row(Recorded{}, true, s.b), OldRow::none);
  EXPECT_EQ(mp_dedup::old_ok_row(row('d', &s), true, s.b), OldRow::none);
  EXPECT_EQ(mp_dedup::old_ok_row(row('e'), false, s.b), OldRow::none);
}

// --- 3. a stored row of the same content -------------------------------------

TEST(DedupStored, CopyUnderANewNameIsADuplicate) {
  // 02_reimport "the copy is a duplicate", "duplicate_of names the original"
  EXPECT_EQ(mp_dedup::match_stored(false, -1, "/t/copy of a file.mid", 42, "/t/a.mid"),
            Stored::duplicate);
}

TEST(DedupStored, ReanalysedFileIgnoresItsOwnRow) {
  EXPECT_EQ(mp_dedup::match_stored(true, 42, "/t/a.mid", 42, "/t/a.mid"), Stored::own_row);
}

TEST(DedupStored, ReanalysedFileDuplicatesAnotherRow) {
  // the same content under another ok row (two runs at once): a duplicate
  EXPECT_EQ(mp_dedup::match_stored(true, 42, "/t/a.mid", 17, "/t/b.mid"), Stored::duplicate);
}

TEST(DedupStored, PathStoredMeanwhileByAnotherRunIsUnchanged) {
  // test/faults 4b: two runs on overlapping trees; never a duplicate of itself
  EXPECT_EQ(mp_dedup::match_stored(false, -1, "/t/a.mid", 42, "/t/a.mid"), Stored::same_path);
}

// --- 4. one new content, several files of the batch ---------------------------

TEST(DedupHolder, FirstPathHoldsANewContent) {
  // import.sql: the first path of each content is ok, the others duplicates
  const std::vector<Candidate> g = {{true, false}, {true, false}, {true, false}};
  EXPECT_EQ(mp_dedup::holder(g), 0);
}

TEST(DedupHolder, TheReanalysedPathKeepsItsContent) {
  // import.sql run3: d.mid repeats a.mid's content in the same batch
  const std::vector<Candidate> g = {{true, false}, {true, true}, {true, false}};
  EXPECT_EQ(mp_dedup::holder(g), 1);
}

TEST(DedupHolder, FilesNoLongerOkAreSkipped) {
  const std::vector<Candidate> g = {{false, false}, {true, false}};
  EXPECT_EQ(mp_dedup::holder(g), 1);
  const std::vector<Candidate> none = {{false, false}, {false, true}};
  EXPECT_EQ(mp_dedup::holder(none), -1);
}

TEST(DedupHolder, SingleFileHoldsItsContent) {
  const std::vector<Candidate> g = {{true, false}};
  EXPECT_EQ(mp_dedup::holder(g), 0);
}

}  // namespace
