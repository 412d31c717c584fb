// Lexical layer of the text trace format (TRACE_FORMAT.md, "Lexical rules"): lines
// out of a byte stream, tokens out of a line, numbers out of tokens. Kept apart from
// the keyword grammar so that the hot path (block reads, memchr, from_chars) can be
// read and tuned on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "traces/input.hpp"

namespace mmusim::traces::detail {

// Splits the decompressed stream into lines, reading it in large blocks. Memory is
// bounded by the block size and the longest line, never by the trace length.
class LineBuffer {
 public:
  static constexpr std::size_t kBlock = 1 << 20;
  static constexpr std::size_t kMaxLine = 64u << 20;

  explicit LineBuffer(Input& in);

  enum class Status { Line, End, TooLong };
  // The next line without its terminator (and without a trailing CR). The view stays
  // valid until the next call.
  Status next(std::string_view& line);

 private:
  Input& in_;
  std::unique_ptr<char[]> buf_;
  std::size_t cap_ = kBlock;
  std::size_t pos_ = 0, end_ = 0;
  bool eof_ = false;
  bool at_start_ = true;

  void refill();
};

struct Token {
  std::string_view text;  // as written, quotes included
  std::uint32_t offset;   // byte offset in the line
  bool quoted;            // written as "TEXT" or key="TEXT"
};

enum class LexError { None, UnterminatedQuote, BadQuote };

// Splits a line at spaces and tabs, honouring double quotes and dropping a comment
// (a token that starts with '#'). On error, `bad` is the offending token's offset.
LexError tokenize(std::string_view line, std::vector<Token>& out, std::uint32_t& bad);

// TEXT of a "TEXT" token or the token itself.
inline std::string_view unquote(std::string_view s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return s.substr(1, s.size() - 2);
  return s;
}

enum class NumStatus { Ok, Bad, Range };
// Decimal or 0x hexadecimal (hex digits in either case).
NumStatus parse_number(std::string_view s, std::uint64_t& out);
// A number with an optional K, M or G suffix (powers of two), for lengths and sizes.
NumStatus parse_size(std::string_view s, std::uint64_t& out);

// 1-based column of a byte offset, counting UTF-8 characters (a tab is one column).
std::uint64_t column_of(std::string_view line, std::size_t offset);

}  // namespace mmusim::traces::detail
