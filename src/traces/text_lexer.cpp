#include "traces/text_lexer.hpp"

#include <charconv>
#include <cstring>
#include <limits>

namespace mmusim::traces::detail {

LineBuffer::LineBuffer(Input& in) : in_(in), buf_(new char[kBlock]) {}

void LineBuffer::refill() {
  // Keep the unfinished line, at the front so that the block has room after it.
  std::size_t keep = end_ - pos_;
  if (pos_ != 0) {
    if (keep != 0) std::memmove(buf_.get(), buf_.get() + pos_, keep);
    pos_ = 0;
    end_ = keep;
  }
  if (end_ == cap_) {
    // One line fills the whole buffer: grow, up to kMaxLine (checked by the caller).
    std::size_t cap = cap_ * 2;
    std::unique_ptr<char[]> bigger(new char[cap]);
    std::memcpy(bigger.get(), buf_.get(), end_);
    buf_ = std::move(bigger);
    cap_ = cap;
  }
  std::size_t got = in_.read(buf_.get() + end_, cap_ - end_);
  if (got == 0) eof_ = true;
  end_ += got;
  if (at_start_ && (end_ >= 3 || eof_)) {
    at_start_ = false;
    // Editors on Windows (where PAGE_* traces come from) like to start UTF-8 with a BOM.
    if (end_ >= 3 && std::memcmp(buf_.get(), "\xEF\xBB\xBF", 3) == 0) pos_ = 3;
  }
}

LineBuffer::Status LineBuffer::next(std::string_view& line) {
  for (;;) {
    const char* start = buf_.get() + pos_;
    std::size_t avail = end_ - pos_;
    if (!at_start_ || eof_) {
      if (const void* nl = std::memchr(start, '\n', avail)) {
        std::size_t len = static_cast<const char*>(nl) - start;
        pos_ += len + 1;
        if (len != 0 && start[len - 1] == '\r') --len;
        line = std::string_view(start, len);
        return Status::Line;
      }
    }
    if (eof_) {
      // A last line without a newline is a line, unless the data behind it is damaged:
      // then it is most likely cut short and must not be simulated.
      if (avail == 0 || in_.failed()) return Status::End;
      pos_ = end_;
      if (start[avail - 1] == '\r') --avail;
      line = std::string_view(start, avail);
      return Status::Line;
    }
    if (avail >= kMaxLine) return Status::TooLong;
    refill();
  }
}

LexError tokenize(std::string_view line, std::vector<Token>& out, std::uint32_t& bad) {
  out.clear();
  const char* p = line.data();
  const std::size_t n = line.size();
  std::size_t i = 0;
  for (;;) {
    while (i < n && (p[i] == ' ' || p[i] == '\t')) ++i;
    if (i >= n || p[i] == '#') return LexError::None;
    const std::size_t start = i;
    bool quoted = false;
    while (i < n && p[i] != ' ' && p[i] != '\t') {
      if (p[i] != '"') {
        ++i;
        continue;
      }
      // Only "TEXT" and key="TEXT" are quoted forms; anything else is a typo that
      // would otherwise silently change where a token ends.
      const bool at_start = i == start;
      const bool after_key = i > start && p[i - 1] == '=' &&
                             std::memchr(p + start, '=', i - start) == p + i - 1;
      const void* close = std::memchr(p + i + 1, '"', n - i - 1);
      bad = static_cast<std::uint32_t>(start);
      if (!close) return LexError::UnterminatedQuote;
      if (!at_start && !after_key) return LexError::BadQuote;
      i = static_cast<std::size_t>(static_cast<const char*>(close) - p) + 1;
      if (i < n && p[i] != ' ' && p[i] != '\t') return LexError::BadQuote;
      quoted = true;
      break;
    }
    out.push_back(Token{std::string_view(p + start, i - start), static_cast<std::uint32_t>(start), quoted});
  }
}

NumStatus parse_number(std::string_view s, std::uint64_t& out) {
  int base = 10;
  if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  }
  if (s.empty()) return NumStatus::Bad;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, out, base);
  if (ptr != end) return NumStatus::Bad;
  if (ec == std::errc::result_out_of_range) return NumStatus::Range;
  return ec == std::errc() ? NumStatus::Ok : NumStatus::Bad;
}

NumStatus parse_size(std::string_view s, std::uint64_t& out) {
  unsigned shift = 0;
  if (!s.empty()) {
    switch (s.back()) {
      case 'K': shift = 10; break;
      case 'M': shift = 20; break;
      case 'G': shift = 30; break;
      default: break;
    }
  }
  if (shift == 0) return parse_number(s, out);
  s.remove_suffix(1);
  std::uint64_t v = 0;
  NumStatus st = parse_number(s, v);
  if (st != NumStatus::Ok) return st;
  if (v > (std::numeric_limits<std::uint64_t>::max() >> shift)) return NumStatus::Range;
  out = v << shift;
  return NumStatus::Ok;
}

std::uint64_t column_of(std::string_view line, std::size_t offset) {
  std::uint64_t col = 1;
  for (std::size_t i = 0; i < offset && i < line.size(); ++i) {
    if ((static_cast<unsigned char>(line[i]) & 0xC0) != 0x80) ++col;
  }
  return col;
}

}  // namespace mmusim::traces::detail
