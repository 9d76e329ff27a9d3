# midipipe: PGXS build of the PostgreSQL extension.
#   make && make install        build and install (any pg_config: make PG_CONFIG=...)
#   make installcheck           pg_regress against a running server that preloads midipipe
# The C++ library, its tests, fuzzers and benchmarks are built by CMakeLists.txt.

EXTENSION = midipipe
MODULE_big = midipipe
DATA = $(wildcard sql/midipipe--*.sql)
PGFILEDESC = "midipipe - MIDI import and analysis on a background-worker pool"

# Plain lists: a file joins the extension when it is named here.
PG_OBJS = \
	src/pg/analyze_sql.o \
	src/pg/batch.o \
	src/pg/dbhold.o \
	src/pg/import.o \
	src/pg/module.o \
	src/pg/pool.o \
	src/pg/scanner.o \
	src/pg/shmem.o \
	src/pg/split_sql.o \
	src/pg/stats.o \
	src/pg/supervisor.o \
	src/pg/worker.o \
	src/pg/yield.o
MIDI_OBJS = \
	src/midi/analysis.o \
	src/midi/chords.o \
	src/midi/depth.o \
	src/midi/drums.o \
	src/midi/filename_meta.o \
	src/midi/gm.o \
	src/midi/json.o \
	src/midi/key.o \
	src/midi/sha256.o \
	src/midi/smf.o \
	src/midi/split.o \
	src/midi/text.o
OBJS = $(PG_OBJS) $(MIDI_OBJS)

REGRESS = $(patsubst sql/%.sql,%,$(filter-out sql/midipipe--%,$(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=. --load-extension=midipipe

PG_CONFIG ?= pg_config
PG_CXXFLAGS = -std=c++20 -fPIC -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-register -Wno-volatile -Isrc/midi -Isrc/pg
PG_CPPFLAGS = -Isrc/midi -Isrc/pg
SHLIB_LINK = -lstdc++

# No LLVM bitcode for JIT inlining: it would need the exact clang the server
# was built with, and our C++ gains nothing from it.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS knows nothing of our headers: rebuild every object when one changes
# (the reader is a header template, so a change there must reach the .so).
$(OBJS): $(wildcard src/midi/*.hpp src/pg/*.hpp)
