# midipipe: PGXS build of the PostgreSQL extension.
#   make && make install        build and install (any pg_config: make PG_CONFIG=...)
#   make installcheck           pg_regress against a running server that preloads midipipe
# The C++ library, its tests, fuzzers and benchmarks are built by CMakeLists.txt.

EXTENSION = midipipe
MODULE_big = midipipe
DATA = $(wildcard sql/midipipe--*.sql)
PGFILEDESC = "midipipe - MIDI import and analysis on a background-worker pool"

# Every .cpp file of src/pg and src/midi, as CMakeLists.txt globs src/midi:
# a new file joins both builds (no list to forget).
PG_OBJS = $(patsubst %.cpp,%.o,$(sort $(wildcard src/pg/*.cpp)))
MIDI_OBJS = $(patsubst %.cpp,%.o,$(sort $(wildcard src/midi/*.cpp)))
OBJS = $(PG_OBJS) $(MIDI_OBJS)

REGRESS = $(patsubst sql/%.sql,%,$(filter-out sql/midipipe--%,$(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=. --load-extension=midipipe

PG_CONFIG ?= pg_config
# The warnings of CMakeLists.txt (add_compile_options), but for -Wpedantic,
# which flags ereport's "%m" (PostgreSQL's own format extension), and with
# the exceptions PostgreSQL's macros and callbacks need. Its headers are system
# headers here (-isystem): their insides do not warn, only our code does.
MP_WARNINGS = -Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion \
	-Wno-unused-parameter -Wno-missing-field-initializers -Wno-register -Wno-volatile
PG_CXXFLAGS = -std=c++20 -fPIC $(MP_WARNINGS)
PG_CPPFLAGS = -Isrc/midi -Isrc/pg -isystem $(shell $(PG_CONFIG) --includedir-server)
SHLIB_LINK = -lstdc++

# No LLVM bitcode for JIT inlining: it would need the exact clang the server
# was built with, and our C++ gains nothing from it.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS knows nothing of our headers: rebuild every object when one changes
# (the reader is a header template, so a change there must reach the .so).
$(OBJS): $(wildcard src/midi/*.hpp src/pg/*.hpp)
