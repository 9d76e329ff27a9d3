// midipipe: helpers shared by the analysis, the JSON writer and their tests.
// Plain C++20; never includes postgres.h; nothing here throws except
// std::bad_alloc from std::string (caught by analyze() and to_json()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace midipipe {

// Longest text kept (bytes) and most list entries kept (track_names, markers).
inline constexpr size_t kMaxTextBytes = 1024;
inline constexpr size_t kMaxListEntries = 256;

// True when `s` is well-formed UTF-8 (no overlong forms, no surrogates, at most
// U+10FFFF): what PostgreSQL's UTF8 encoding and jsonb accept.
bool is_valid_utf8(std::span<const uint8_t> s) noexcept;

// Meta-event text to a string that PostgreSQL accepts: valid UTF-8 is kept,
// anything else is decoded as Latin-1; NUL bytes are dropped; the result is cut
// to at most `max_bytes` bytes at a character boundary.
std::string sanitize_text(std::span<const uint8_t> data, size_t max_bytes = kMaxTextBytes);

// GM2 drum kit name for a program change on the drum channel ("Standard Drum Kit").
std::string_view gm_drum_kit_name(int program) noexcept;

// Error object as to_json writes it for a fatal error, for errors that are not
// reader codes (the CLI's "io_error"). `path` empty: no "path" key.
std::string error_json(std::string_view path, std::string_view code, std::string_view message,
                       uint64_t offset);

}  // namespace midipipe
