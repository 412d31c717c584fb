#include "traces/text_grammar.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <string>

#include "traces/windows_prot.hpp"

namespace mmusim::traces::detail {

namespace {

constexpr std::string_view kKeywords =
    "r, w, x, print, cpu, switch, spawn, mmap, mprotect, munmap, fork, thread, madvise, exec, exit, "
    "file, mark, expect, mode, poke, peek, set, invlpg, invpcid";

constexpr std::uint64_t kMaxAccessSize = 4096;

// Quotes a token for a message; a runaway token (a missing newline, binary data)
// must not turn the one-line error into a screenful.
std::string quoted(std::string_view s) {
  constexpr std::size_t kMax = 60;
  std::string q = "'";
  if (s.size() > kMax) {
    q.append(s.substr(0, kMax));
    q += "...";
  } else {
    q.append(s);
  }
  q += '\'';
  return q;
}


enum class SetKind { Bit, Cpl, U32, Any };
struct SetName {
  std::string_view name;
  SetKind kind;
};
constexpr std::array<SetName, 16> kSetNames{{
    {"cr0.wp", SetKind::Bit},    {"cr3", SetKind::Any},        {"cr4.pge", SetKind::Bit},
    {"cr4.pcide", SetKind::Bit}, {"cr4.smep", SetKind::Bit},   {"cr4.smap", SetKind::Bit},
    {"cr4.pke", SetKind::Bit},   {"cr4.la57", SetKind::Bit},   {"efer.nxe", SetKind::Bit},
    {"rflags.ac", SetKind::Bit}, {"cpl", SetKind::Cpl},        {"pkru", SetKind::U32},
    {"cr0.pg", SetKind::Bit},    {"cr4.pae", SetKind::Bit},    {"efer.lme", SetKind::Bit},
    {"maxphyaddr", SetKind::Any},
}};
constexpr std::string_view kSetList =
    "cr0.wp, cr3, cr4.pge, cr4.pcide, cr4.smep, cr4.smap, cr4.pke, cr4.la57, efer.nxe, rflags.ac, "
    "cpl, pkru, cr0.pg, cr4.pae, efer.lme, maxphyaddr";

// Value of a hex digit, or 0xff.
constexpr std::array<unsigned char, 256> kHex = [] {
  std::array<unsigned char, 256> t{};
  for (auto& v : t) v = 0xff;
  for (int c = '0'; c <= '9'; ++c) t[c] = static_cast<unsigned char>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) t[c] = static_cast<unsigned char>(c - 'a' + 10);
  for (int c = 'A'; c <= 'F'; ++c) t[c] = static_cast<unsigned char>(c - 'A' + 10);
  return t;
}();

// A plain number at p, stopping at a space, tab or the end. Declines (false) rather
// than judging anything unusual: the general parser then decides, and words the error.
inline bool quick_number(const char*& p, const char* end, std::uint64_t& out) {
  std::uint64_t v = 0;
  const char* start;
  if (end - p > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
    p += 2;
    start = p;
    while (p < end && kHex[static_cast<unsigned char>(*p)] != 0xff) v = v << 4 | kHex[static_cast<unsigned char>(*p++)];
    if (p - start > 16) return false;
  } else {
    start = p;
    while (p < end && *p >= '0' && *p <= '9') v = v * 10 + static_cast<unsigned>(*p++ - '0');
    if (p - start > 19) return false;  // could have overflowed
  }
  out = v;
  return p != start && (p == end || *p == ' ' || *p == '\t');
}

// The common line of a real trace, `r|w|x ADDR [SIZE]` with nothing else, parsed
// without tokenizing: this is what bounds the reader's speed. Anything else
// (options, values, suffixes, comments, errors) declines to the general parser.
}  // namespace

bool quick_access(std::string_view line, Event& ev) {
  const char* p = line.data();
  const char* end = p + line.size();
  Op op;
  switch (*p) {
    case 'r': op = Op::Read; break;
    case 'w': op = Op::Write; break;
    case 'x': op = Op::Fetch; break;
    default: return false;
  }
  ++p;
  auto skip = [&] { while (p < end && (*p == ' ' || *p == '\t')) ++p; };
  if (p == end || (*p != ' ' && *p != '\t')) return false;
  skip();
  std::uint64_t addr, size = op == Op::Fetch ? 1 : 8;
  if (!quick_number(p, end, addr)) return false;
  skip();
  if (p != end) {
    if (!quick_number(p, end, size) || size == 0 || size > kMaxAccessSize) return false;
    skip();
    if (p != end) return false;
  }
  ev.reset_options();
  ev.op = op;
  ev.addr = addr;
  ev.size = size;
  return true;
}

namespace {

// The grammar of one line. Errors are recoverable TraceErrors: the reader has
// already consumed the line and can go on after it.
class LineParser {
 public:
  LineParser(const LinePlace& at, std::string_view line, const std::vector<Token>& toks)
      : at_(at), line_(line), toks_(toks) {}

  LineKind parse(Event& ev);

 private:
  const LinePlace& at_;
  std::string_view line_;
  const std::vector<Token>& toks_;
  std::size_t i_ = 1;              // next token
  std::string_view keyword_;
  const char* usage_ = "";
  const char* options_ = "";       // for "expected ..." in option errors
  std::uint32_t seen_ = 0;         // options given, to refuse duplicates

  // A bad version line is not skippable: the lines after it are in a format this
  // reader does not know.
  bool recoverable_ = true;

  [[noreturn]] void fail_at(std::size_t offset, std::string msg) const {
    throw TraceError(at_.path, at_.line_no, column_of(line_, offset), std::move(msg), recoverable_);
  }
  [[noreturn]] void fail(const Token& t, std::string msg) const { fail_at(t.offset, std::move(msg)); }
  void begin(Event& ev, Op op, const char* usage, const char* options = "") {
    ev.op = op;
    usage_ = usage;
    options_ = options;
  }
  std::string usage() const { return std::string(" (usage: ") + usage_ + ")"; }

  const Token* peek() const { return i_ < toks_.size() ? &toks_[i_] : nullptr; }
  const Token& need(const char* what) {
    if (i_ >= toks_.size()) {
      const Token& last = toks_.back();
      fail_at(last.offset + last.text.size(), std::string("missing ") + what + usage());
    }
    return toks_[i_++];
  }
  void check_number(NumStatus st, std::string_view text, std::size_t offset, bool size) const {
    if (st == NumStatus::Ok) return;
    if (st == NumStatus::Range) fail_at(offset, "number " + quoted(text) + " out of range (expected at most 64 bits)");
    fail_at(offset, "bad number " + quoted(text) +
                        (size ? " (expected decimal or 0x hexadecimal, optionally with a K, M or G suffix)"
                              : " (expected decimal or 0x hexadecimal)"));
  }
  std::uint64_t number_in(std::string_view text, std::size_t offset) const {
    std::uint64_t v = 0;
    check_number(parse_number(text, v), text, offset, false);
    return v;
  }
  std::uint64_t size_in(std::string_view text, std::size_t offset) const {
    std::uint64_t v = 0;
    check_number(parse_size(text, v), text, offset, true);
    return v;
  }
  std::uint64_t number(const char* what) {
    const Token& t = need(what);
    return number_in(t.text, t.offset);
  }
  std::uint64_t size(const char* what) {
    const Token& t = need(what);
    return size_in(t.text, t.offset);
  }
  std::uint32_t pid(const char* what) {
    const Token& t = need(what);
    std::uint64_t v = number_in(t.text, t.offset);
    if (v > std::numeric_limits<std::uint32_t>::max()) {
      fail(t, std::string(what) + " " + quoted(t.text) + " out of range (expected at most 4294967295)");
    }
    return static_cast<std::uint32_t>(v);
  }
  std::string_view text(const char* what) { return unquote(need(what).text); }
  void check_range(const Token& t, std::uint64_t v, std::uint64_t lo, std::uint64_t hi, const char* what) const {
    if (v < lo || v > hi) {
      fail(t, std::string(what) + " " + quoted(t.text) + " out of range (expected " + std::to_string(lo) + ".." +
                  std::to_string(hi) + ")");
    }
  }
  bool next_is_number() const {
    const Token* t = peek();
    return t && t->text[0] >= '0' && t->text[0] <= '9';
  }
  void no_more() {
    if (const Token* t = peek()) fail(*t, "extra argument " + quoted(t->text) + usage());
  }

  // Options after the positional arguments. handle(key, value, has_eq, token) returns
  // the option's bit (for the duplicate check), or -1 if it does not know the option.
  template <typename Handler>
  void options(Handler&& handle) {
    for (; i_ < toks_.size(); ++i_) {
      const Token& t = toks_[i_];
      const char c = t.text[0];
      if (c == '"' || c == '=' || (c >= '0' && c <= '9')) fail(t, "extra argument " + quoted(t.text) + usage());
      const std::size_t eq = t.text.find('=');
      const bool has_eq = eq != std::string_view::npos;
      std::string_view key = has_eq ? t.text.substr(0, eq) : t.text;
      std::string_view value = has_eq ? unquote(t.text.substr(eq + 1)) : std::string_view();
      int bit = handle(key, value, has_eq, t);
      if (bit < 0) {
        fail(t, std::string(has_eq ? "unknown option " : "unknown flag ") + quoted(t.text) + " for " +
                    std::string(keyword_) + " (expected " + options_ + ")");
      }
      if (seen_ & (1u << bit)) fail(t, "duplicate option " + quoted(t.text));
      seen_ |= 1u << bit;
    }
  }
  // Offset of an option's value in the line, so that errors point at the value.
  static std::size_t value_offset(const Token& t) {
    return t.offset + t.text.find('=') + 1 + (t.quoted ? 1 : 0);
  }
  int flag(bool& field, int bit, bool has_eq, const Token& t) const {
    if (has_eq) fail(t, "flag " + quoted(t.text) + " takes no value");
    field = true;
    return bit;
  }

  Prot prot(const Token& t) const;
  void expectation(Event& ev, std::string_view v, const Token& t) const;
  void access(Event& ev, Op op);
  void mmap(Event& ev);
  void set(Event& ev);
};

Prot LineParser::prot(const Token& t) const {
  std::string_view s = t.text;
  Prot p;
  if (s.size() == 3 && (s[0] == 'r' || s[0] == '-') && (s[1] == 'w' || s[1] == '-') && (s[2] == 'x' || s[2] == '-')) {
    p.read = s[0] == 'r';
    p.write = s[1] == 'w';
    p.exec = s[2] == 'x';
    return p;
  }
  for (const WindowsProt& w : kWindowsProts) {
    if (s == w.name) {
      p.read = w.read;
      p.write = w.write;
      p.exec = w.exec;
      p.writecopy = w.writecopy;
      p.windows = w.value;
      return p;
    }
  }
  fail(t, "bad protection " + quoted(s) +
              " (expected ---, r--, rw-, r-x, rwx, -w-, -wx, --x or PAGE_NOACCESS, PAGE_READONLY, PAGE_READWRITE, "
              "PAGE_WRITECOPY, PAGE_EXECUTE, PAGE_EXECUTE_READ, PAGE_EXECUTE_READWRITE, PAGE_EXECUTE_WRITECOPY)");
}

void LineParser::expectation(Event& ev, std::string_view v, const Token& t) const {
  const std::size_t off = value_offset(t);
  auto code = [&](std::string_view s, std::size_t at) {
    ev.expect_value = number_in(s, at);
    ev.expect_has_code = true;
  };
  if (v == "#GP") {
    ev.expect = Expect::GeneralProtection;
  } else if (v == "#SS") {
    ev.expect = Expect::StackFault;
  } else if (v.starts_with("#PF:")) {
    ev.expect = Expect::PageFault;
    code(v.substr(4), off + 4);
  } else if (v == "SIGBUS") {
    ev.expect = Expect::Sigbus;
  } else if (v.starts_with("SIGSEGV")) {
    ev.expect = Expect::Sigsegv;
    std::string_view rest = v.substr(7);
    if (rest.empty()) return;
    if (rest.starts_with(":MAPERR")) {
      ev.expect_segv = SegvCode::MapErr;
    } else if (rest.starts_with(":ACCERR")) {
      ev.expect_segv = SegvCode::AccErr;
    } else {
      fail_at(off, "bad expectation " + quoted(v) + " (expected SIGSEGV, SIGSEGV:MAPERR or SIGSEGV:ACCERR, "
                                                     "optionally followed by :0xERR)");
    }
    rest.remove_prefix(7);
    if (rest.empty()) return;
    if (rest[0] != ':') fail_at(off, "bad expectation " + quoted(v) + " (expected :0xERR after the code)");
    code(rest.substr(1), off + 15);
  } else if (!v.empty() && v[0] >= '0' && v[0] <= '9') {
    ev.expect = Expect::PhysAddr;
    ev.expect_value = number_in(v, off);
  } else {
    fail_at(off, "bad expectation " + quoted(v) +
                     " (expected PADDR, #PF:0xERR, #GP, #SS, SIGSEGV[:MAPERR|:ACCERR][:0xERR] or SIGBUS)");
  }
}

void LineParser::access(Event& ev, Op op) {
  const bool fetch = op == Op::Fetch, print = op == Op::Print;
  begin(ev, op,
        fetch   ? "x ADDR [SIZE] [options]"
        : print ? "print ADDR SIZE \"LABEL\" [options]"
        : op == Op::Read ? "r ADDR [SIZE] [=VALUE] [options]"
                         : "w ADDR [SIZE] [=VALUE] [options]",
        fetch || print ? "user=, implicit, stack, expect=" : "user=, implicit, stack, rmw, expect=");
  ev.addr = number("ADDR");
  ev.size = fetch ? 1 : 8;
  if (print || next_is_number()) {
    const Token& t = need("SIZE");
    ev.size = size_in(t.text, t.offset);
    // print shows one integer, so it cannot be wider than one.
    check_range(t, ev.size, 1, print ? 8 : kMaxAccessSize, "SIZE");
  }
  if (print) {
    ev.name = text("\"LABEL\"");
  } else if (!fetch) {
    const Token* t = peek();
    if (t && t->text[0] == '=') {
      ++i_;
      ev.value = number_in(t->text.substr(1), t->offset + 1);
      ev.has_value = true;
      if (ev.size > 8) fail(*t, "=VALUE needs a SIZE of at most 8 (got " + std::to_string(ev.size) + ")");
      if (ev.size < 8 && (ev.value >> (8 * ev.size)) != 0) {
        fail(*t, "value " + quoted(t->text.substr(1)) + " does not fit in " + std::to_string(ev.size) + " bytes");
      }
    }
  }
  options([&](std::string_view key, std::string_view value, bool has_eq, const Token& t) -> int {
    if (key == "user" && has_eq) {
      if (value != "0" && value != "1") fail_at(value_offset(t), "bad value " + quoted(value) + " for user (expected 0 or 1)");
      ev.supervisor = value == "0";
      return 0;
    }
    if (key == "expect" && has_eq) {
      expectation(ev, value, t);
      return 1;
    }
    if (key == "implicit") return flag(ev.implicit, 2, has_eq, t);
    if (key == "stack") return flag(ev.stack, 3, has_eq, t);
    if (key == "rmw" && !fetch && !print) return flag(ev.rmw, 4, has_eq, t);
    return -1;
  });
}

void LineParser::mmap(Event& ev) {
  begin(ev, Op::Mmap, "mmap PID ADDR LEN PROT [options]", "shared, file=, offset=, populate, huge, fixed, name=");
  ev.pid = pid("PID");
  ev.addr = number("ADDR");
  ev.size = size("LEN");
  ev.prot = prot(need("PROT"));
  const Token* offset_tok = nullptr;
  options([&](std::string_view key, std::string_view value, bool has_eq, const Token& t) -> int {
    if (key == "file" && has_eq) {
      if (value.empty()) fail_at(value_offset(t), "empty file name in " + quoted(t.text));
      ev.file.assign(value);
      return 0;
    }
    if (key == "offset" && has_eq) {
      ev.offset = size_in(value, value_offset(t));
      offset_tok = &t;
      return 1;
    }
    if (key == "name" && has_eq) {
      ev.name.assign(value);
      return 2;
    }
    if (key == "shared") return flag(ev.shared, 3, has_eq, t);
    if (key == "populate") return flag(ev.populate, 4, has_eq, t);
    if (key == "huge") return flag(ev.huge, 5, has_eq, t);
    if (key == "fixed") return flag(ev.fixed, 6, has_eq, t);
    return -1;
  });
  if (offset_tok && ev.file.empty()) fail(*offset_tok, "offset= needs file=\"NAME\" (an anonymous mapping has no offset)");
}

void LineParser::set(Event& ev) {
  begin(ev, Op::Set, "set NAME=VALUE [NAME=VALUE...]");
  need("NAME=VALUE");
  for (--i_; i_ < toks_.size(); ++i_) {
    const Token& t = toks_[i_];
    const std::size_t eq = t.text.find('=');
    if (eq == std::string_view::npos || eq == 0) fail(t, "bad setting " + quoted(t.text) + " (expected NAME=VALUE)");
    std::string_view name = t.text.substr(0, eq);
    auto it = std::find_if(kSetNames.begin(), kSetNames.end(), [&](const SetName& s) { return s.name == name; });
    if (it == kSetNames.end()) {
      fail(t, "unknown register " + quoted(name) + " in set (expected " + std::string(kSetList) + ")");
    }
    std::string_view value = unquote(t.text.substr(eq + 1));
    std::uint64_t v = number_in(value, value_offset(t));
    std::uint64_t max = it->kind == SetKind::Bit ? 1 : it->kind == SetKind::Cpl ? 3
                        : it->kind == SetKind::U32 ? 0xffffffffu : std::numeric_limits<std::uint64_t>::max();
    if (v > max) {
      fail_at(value_offset(t), "bad value " + quoted(value) + " for " + std::string(name) + " (expected 0.." +
                                   std::to_string(max) + ")");
    }
    ev.sets.emplace_back(std::string(name), v);
  }
}

LineKind LineParser::parse(Event& ev) {
  const Token& kw = toks_[0];
  keyword_ = kw.text;
  const std::string_view k = kw.text;
  ev.reset_options();

  // The hot path: accesses are nearly every line of a real trace.
  if (k.size() == 1) {
    switch (k[0]) {
      case 'r': access(ev, Op::Read); return LineKind::Event;
      case 'w': access(ev, Op::Write); return LineKind::Event;
      case 'x': access(ev, Op::Fetch); return LineKind::Event;
      default: break;
    }
  }
  if (k == "mmutrace") {
    usage_ = "mmutrace 1";
    if (!at_.first_line) fail(kw, "the version line 'mmutrace' must be the first line of the trace");
    recoverable_ = false;
    const Token& t = need("VERSION");
    if (number_in(t.text, t.offset) != 1) fail(t, "unknown format version " + quoted(t.text) + " (expected 1)");
    no_more();
    return LineKind::Version;
  }
  auto pos_name = [&](const char* what) {
    // An optional NAME must be quoted: otherwise a mistyped flag would become a name.
    const Token* t = peek();
    if (t && t->text[0] == '"') ev.name.assign(text(what));
  };
  if (k == "print") {
    access(ev, Op::Print);
  } else if (k == "cpu") {
    begin(ev, Op::Cpu, "cpu N");
    ev.pid = pid("N");
  } else if (k == "switch") {
    begin(ev, Op::Switch, "switch PID");
    ev.pid = pid("PID");
  } else if (k == "spawn") {
    begin(ev, Op::Spawn, "spawn PID [\"NAME\"] [automap]", "automap");
    ev.pid = pid("PID");
    pos_name("\"NAME\"");
    options([&](std::string_view key, std::string_view, bool has_eq, const Token& t) -> int {
      return key == "automap" ? flag(ev.automap, 0, has_eq, t) : -1;
    });
    return LineKind::Event;
  } else if (k == "mmap") {
    mmap(ev);
    return LineKind::Event;
  } else if (k == "mprotect") {
    begin(ev, Op::Mprotect, "mprotect PID ADDR LEN PROT");
    ev.pid = pid("PID");
    ev.addr = number("ADDR");
    ev.size = size("LEN");
    ev.prot = prot(need("PROT"));
  } else if (k == "munmap") {
    begin(ev, Op::Munmap, "munmap PID ADDR LEN");
    ev.pid = pid("PID");
    ev.addr = number("ADDR");
    ev.size = size("LEN");
  } else if (k == "fork" || k == "thread") {
    const bool fork = k == "fork";
    begin(ev, fork ? Op::Fork : Op::Thread, fork ? "fork PARENT CHILD" : "thread PID TID");
    ev.pid = pid(fork ? "PARENT" : "PID");
    ev.pid2 = pid(fork ? "CHILD" : "TID");
  } else if (k == "madvise") {
    begin(ev, Op::Madvise, "madvise PID ADDR LEN ADVICE");
    ev.pid = pid("PID");
    ev.addr = number("ADDR");
    ev.size = size("LEN");
    const Token& t = need("ADVICE");
    if (t.text == "DONTNEED") ev.advice = Advice::DontNeed;
    else if (t.text == "HUGEPAGE") ev.advice = Advice::HugePage;
    else if (t.text == "NOHUGEPAGE") ev.advice = Advice::NoHugePage;
    else fail(t, "bad advice " + quoted(t.text) + " (expected DONTNEED, HUGEPAGE or NOHUGEPAGE)");
  } else if (k == "exec") {
    begin(ev, Op::Exec, "exec PID [\"NAME\"]");
    ev.pid = pid("PID");
    pos_name("\"NAME\"");
  } else if (k == "exit") {
    begin(ev, Op::Exit, "exit PID");
    ev.pid = pid("PID");
  } else if (k == "file") {
    begin(ev, Op::File, "file \"NAME\" SIZE [fs=ext4|tmpfs]", "fs=");
    ev.file.assign(text("\"NAME\""));
    ev.size = size("SIZE");
    options([&](std::string_view key, std::string_view value, bool has_eq, const Token& t) -> int {
      if (key != "fs" || !has_eq) return -1;
      if (value != "ext4" && value != "tmpfs") fail_at(value_offset(t), "bad file system " + quoted(value) + " (expected ext4 or tmpfs)");
      ev.fs_tmpfs = value == "tmpfs";
      return 0;
    });
    return LineKind::Event;
  } else if (k == "mark") {
    begin(ev, Op::Mark, "mark \"NAME\"");
    ev.name.assign(text("\"NAME\""));
  } else if (k == "expect") {
    begin(ev, Op::ExpectFaults, "expect PID minflt=N [majflt=N]", "minflt=, majflt=");
    ev.pid = pid("PID");
    options([&](std::string_view key, std::string_view value, bool has_eq, const Token& t) -> int {
      if (!has_eq) return -1;
      if (key == "minflt") {
        ev.minflt = number_in(value, value_offset(t));
        return 0;
      }
      if (key == "majflt") {
        ev.majflt = number_in(value, value_offset(t));
        ev.has_majflt = true;
        return 1;
      }
      return -1;
    });
    if (!(seen_ & 1u)) fail_at(toks_.back().offset + toks_.back().text.size(), "missing minflt=N" + usage());
    return LineKind::Event;
  } else if (k == "mode") {
    begin(ev, Op::Mode, "mode bare");
    const Token& t = need("MODE");
    if (t.text != "bare") fail(t, "unknown mode " + quoted(t.text) + " (expected bare)");
    if (!at_.first_event) fail(kw, "'mode bare' must be the first event of the trace");
    ev.name.assign("bare");
  } else if (k == "poke") {
    begin(ev, Op::Poke, "poke PADDR VALUE [SIZE]");
    ev.addr = number("PADDR");
    const Token& v = need("VALUE");
    ev.value = number_in(v.text, v.offset);
    ev.has_value = true;
    ev.size = 8;
    if (const Token* t = peek()) {
      ev.size = size("SIZE");
      check_range(*t, ev.size, 1, 8, "SIZE");
      if (ev.size < 8 && (ev.value >> (8 * ev.size)) != 0) {
        fail(v, "value " + quoted(v.text) + " does not fit in " + std::to_string(ev.size) + " bytes");
      }
    }
  } else if (k == "peek") {
    begin(ev, Op::Peek, "peek PADDR [SIZE] [=VALUE]");
    ev.addr = number("PADDR");
    ev.size = 8;
    if (next_is_number()) {
      const Token& t = need("SIZE");
      ev.size = size_in(t.text, t.offset);
      check_range(t, ev.size, 1, 8, "SIZE");
    }
    if (const Token* t = peek(); t && t->text[0] == '=') {
      ++i_;
      ev.value = number_in(t->text.substr(1), t->offset + 1);
      ev.has_value = true;
      if (ev.size < 8 && (ev.value >> (8 * ev.size)) != 0) {
        fail(*t, "value " + quoted(t->text.substr(1)) + " does not fit in " + std::to_string(ev.size) + " bytes");
      }
    }
  } else if (k == "set") {
    set(ev);
  } else if (k == "invlpg") {
    begin(ev, Op::Invlpg, "invlpg ADDR");
    ev.addr = number("ADDR");
  } else if (k == "invpcid") {
    // Values are not range-checked: a TYPE or PCID that hardware refuses with #GP is
    // something a bare-mode trace may want to test.
    begin(ev, Op::Invpcid, "invpcid TYPE [PCID] [ADDR]");
    ev.invpcid_type = number("TYPE");
    ev.invpcid_pcid = peek() ? number("PCID") : 0;
    ev.addr = peek() ? number("ADDR") : 0;
  } else {
    fail(kw, "unknown keyword " + quoted(k) + " (expected " + std::string(kKeywords) + ")");
  }
  no_more();
  return LineKind::Event;
}

}  // namespace

LineKind parse_line(const LinePlace& at, std::string_view line, const std::vector<Token>& toks, Event& ev) {
  return LineParser(at, line, toks).parse(ev);
}

}  // namespace mmusim::traces::detail
