#include "traces/lackey_reader.hpp"

#include <array>
#include <string_view>

#include "traces/line_source.hpp"
#include "traces/text_lexer.hpp"

namespace mmusim::traces {
namespace {

// Hex digit values, -1 for anything else: one load per digit on the hot path.
constexpr std::array<signed char, 256> kHex = [] {
  std::array<signed char, 256> t{};
  for (auto& v : t) v = -1;
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = static_cast<signed char>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) t[static_cast<std::size_t>(c)] = static_cast<signed char>(c - 'a' + 10);
  for (int c = 'A'; c <= 'F'; ++c) t[static_cast<std::size_t>(c)] = static_cast<signed char>(c - 'A' + 10);
  return t;
}();

inline int hex_value(char c) { return kHex[static_cast<unsigned char>(c)]; }
inline bool is_blank(char c) { return c == ' ' || c == '\t'; }

// valgrind's own lines: "==PID==..." (messages) and "--PID--..." (warnings, -v).
bool is_valgrind_line(std::string_view line) {
  if (line.size() < 5) return false;
  const char m = line[0];
  if ((m != '=' && m != '-') || line[1] != m) return false;
  std::size_t i = 2;
  while (i < line.size() && line[i] >= '0' && line[i] <= '9') ++i;
  return i > 2 && i + 1 < line.size() && line[i] == m && line[i + 1] == m;
}

// A token for a message, cut short if it runs away (binary data, a missing newline).
std::string quoted(std::string_view s) {
  constexpr std::size_t kMax = 60;
  std::string q = "'";
  q.append(s.substr(0, kMax));
  if (s.size() > kMax) q += "...";
  q += '\'';
  return q;
}

constexpr const char* kExpected = "expected \"I  ADDR,SIZE\", \" L|S|M ADDR,SIZE\" or a ==PID== line";

}  // namespace

struct LackeyReader::Impl {
  detail::LineSource lines;
  std::uint64_t event_line = 0;   // line of the last event returned
  bool pending_write = false;     // the store half of an M line is still to come
  std::uint64_t pending_addr = 0, pending_size = 0;

  explicit Impl(const std::string& p) : lines(p, "a lackey trace") {}

  [[noreturn]] void bad(std::string_view line, std::size_t offset, std::string msg) const {
    throw TraceError(lines.path(), lines.line_no(), detail::column_of(line, offset), std::move(msg), true);
  }

  // The token at `offset`: up to a blank, or also up to a comma for `stop_at_comma`.
  static std::string_view token_at(std::string_view line, std::size_t offset, bool stop_at_comma) {
    std::size_t e = offset;
    while (e < line.size() && !is_blank(line[e]) && !(stop_at_comma && line[e] == ',')) ++e;
    return line.substr(offset, e - offset);
  }

  void emit(Event& ev, Op op, std::uint64_t addr, std::uint64_t size) {
    ev.reset_options();
    ev.op = op;
    ev.addr = addr;
    ev.size = size;
    ev.line = event_line = lines.line_no();
  }

  // One line: true with ev filled for an access (the read half of an M), false for a
  // line to skip. Throws a recoverable TraceError for anything else.
  bool parse(std::string_view line, Event& ev) {
    const char* p = line.data();
    const std::size_t n = line.size();
    std::size_t i = 0;
    while (i < n && is_blank(p[i])) ++i;
    if (i == n) return false;
    if ((p[0] == '=' || p[0] == '-') && is_valgrind_line(line)) return false;

    // Kind: a single letter followed by a blank.
    const std::size_t kind_at = i;
    const char kind = p[i];
    if ((kind != 'I' && kind != 'L' && kind != 'S' && kind != 'M') || i + 1 == n || !is_blank(p[i + 1])) {
      bad(line, kind_at, "unexpected " + quoted(token_at(line, kind_at, false)) + " (" + kExpected + ")");
    }
    i += 2;
    while (i < n && is_blank(p[i])) ++i;
    if (i == n) bad(line, n, std::string("missing ADDR,SIZE after '") + kind + "' (" + kExpected + ")");

    // ADDR: hex digits, no 0x.
    const std::size_t addr_at = i;
    while (i < n && p[i] == '0') ++i;  // lackey pads to 8 digits
    const std::size_t significant_at = i;
    std::uint64_t addr = 0;
    for (int d; i < n && (d = hex_value(p[i])) >= 0; ++i) addr = addr << 4 | static_cast<unsigned>(d);
    const bool overflow = i - significant_at > 16;
    if (i == addr_at || (i < n && p[i] != ',' && !is_blank(p[i]))) {
      bad(line, addr_at, "bad address " + quoted(token_at(line, addr_at, true)) +
                             " (expected hexadecimal digits without 0x, then ,SIZE)");
    }
    if (overflow) {
      bad(line, addr_at, "address " + quoted(token_at(line, addr_at, true)) +
                             " does not fit in 64 bits (expected at most 16 hex digits)");
    }
    if (i == n || p[i] != ',') bad(line, i, "missing ,SIZE after the address (" + std::string(kExpected) + ")");
    ++i;

    // SIZE: decimal bytes.
    const std::size_t size_at = i;
    std::uint64_t size = 0;
    bool size_overflow = false;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; ++i) {
      size_overflow |= __builtin_mul_overflow(size, 10u, &size);
      size_overflow |= __builtin_add_overflow(size, static_cast<unsigned>(p[i] - '0'), &size);
    }
    if (i == size_at || (i < n && !is_blank(p[i]))) {
      bad(line, size_at, "bad size " + quoted(token_at(line, size_at, false)) + " (expected a decimal byte count)");
    }
    if (size_overflow || size == 0) {
      bad(line, size_at, "size " + quoted(token_at(line, size_at, false)) +
                             (size_overflow ? " does not fit in 64 bits (expected at most 18446744073709551615)"
                                            : " (expected at least 1 byte)"));
    }

    while (i < n && is_blank(p[i])) ++i;
    if (i != n) {
      bad(line, i, "unexpected " + quoted(token_at(line, i, false)) +
                       " after the record (expected the end of the line)");
    }

    switch (kind) {
      case 'I': emit(ev, Op::Fetch, addr, size); break;
      case 'L': emit(ev, Op::Read, addr, size); break;
      case 'S': emit(ev, Op::Write, addr, size); break;
      default:  // 'M': a load, then a store of the same bytes
        emit(ev, Op::Read, addr, size);
        pending_write = true;
        pending_addr = addr;
        pending_size = size;
        break;
    }
    return true;
  }

  bool next(Event& ev) {
    if (pending_write) {
      pending_write = false;
      emit(ev, Op::Write, pending_addr, pending_size);
      return true;
    }
    for (;;) {
      std::string_view line;
      if (!lines.next(line)) return false;
      if (parse(line, ev)) return true;
    }
  }
};

LackeyReader::LackeyReader(const std::string& path) : impl_(std::make_unique<Impl>(path)) {}
LackeyReader::~LackeyReader() = default;
LackeyReader::LackeyReader(LackeyReader&&) noexcept = default;
LackeyReader& LackeyReader::operator=(LackeyReader&&) noexcept = default;

bool LackeyReader::next(Event& ev) { return impl_->next(ev); }
const std::string& LackeyReader::path() const { return impl_->lines.path(); }
double LackeyReader::fraction_read() const { return impl_->lines.fraction_read(); }
std::uint64_t LackeyReader::line() const { return impl_->event_line; }

}  // namespace mmusim::traces
