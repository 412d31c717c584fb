#include "traces/text_writer.hpp"

#include <array>
#include <bit>
#include <charconv>
#include <cstring>
#include <ios>
#include <stdexcept>
#include <string>
#include <string_view>

#include "traces/binary_format.hpp"
#include "traces/windows_prot.hpp"

namespace mmusim::traces {

namespace {

constexpr std::uint64_t kMaxAccessSize = 4096;


const WindowsProt* windows_prot(const Prot& p) {
  for (const WindowsProt& w : kWindowsProts) {
    if (w.value == p.windows && w.read == p.read && w.write == p.write && w.exec == p.exec &&
        w.writecopy == p.writecopy)
      return &w;
  }
  return nullptr;
}

bool fits(std::uint64_t value, std::uint64_t size) { return size >= 8 || (value >> (8 * size)) == 0; }

// A name the text format can quote: no quote inside, and on one line.
bool quotable(const std::string& s) { return s.find_first_of("\"\n") == std::string::npos; }

const char* access_problem(const Event& ev) {
  const bool fetch = ev.op == Op::Fetch, print = ev.op == Op::Print;
  if (ev.size == 0 || ev.size > (print ? 8 : kMaxAccessSize))
    return print ? "print SIZE out of range (expected 1..8)" : "access SIZE out of range (expected 1..4096)";
  if (ev.has_value) {
    if (fetch || print) return "=VALUE on x or print";
    if (ev.size > 8) return "=VALUE needs a SIZE of at most 8";
    if (!fits(ev.value, ev.size)) return "value does not fit in SIZE bytes";
  }
  if (ev.rmw && (fetch || print)) return "rmw on x or print";
  if (print && !quotable(ev.name)) return "print label with a double quote or a newline";
  if (ev.expect > Expect::Sigbus) return "unknown expectation";
  if (ev.expect_segv > SegvCode::AccErr) return "unknown SIGSEGV code";
  if (ev.expect_segv != SegvCode::Any && ev.expect != Expect::Sigsegv) return "SIGSEGV code without expect=SIGSEGV";
  switch (ev.expect) {
    case Expect::PageFault:
      if (!ev.expect_has_code) return "expect=#PF without an error code";
      break;
    case Expect::Sigsegv:
      if (ev.expect_has_code && ev.expect_segv == SegvCode::Any)
        return "expect=SIGSEGV with an error code but no MAPERR or ACCERR";
      if (!ev.expect_has_code && ev.expect_value != 0) return "expect=SIGSEGV value without an error code";
      break;
    case Expect::PhysAddr:
      if (ev.expect_has_code) return "expect=PADDR with an error code";
      break;
    default:
      if (ev.expect_has_code || ev.expect_value != 0) return "error code or address on an expectation without one";
      break;
  }
  return nullptr;
}

const char* prot_problem(const Prot& p) {
  if (p.windows == 0) return p.writecopy ? "writecopy protection without a PAGE_* constant" : nullptr;
  return windows_prot(p) ? nullptr : "unknown PAGE_* protection";
}

// ---- number formatting -------------------------------------------------------------

constexpr char kDigits[] = "0123456789abcdef";

inline char* put_hex(char* p, std::uint64_t v) {
  *p++ = '0';
  *p++ = 'x';
  const int digits = v == 0 ? 1 : (67 - std::countl_zero(v)) / 4;
  for (int i = digits - 1; i >= 0; --i) {
    p[i] = kDigits[v & 15];
    v >>= 4;
  }
  return p + digits;
}

inline char* put_dec(char* p, std::uint64_t v) {
  if (v < 10) {
    *p = static_cast<char>('0' + v);
    return p + 1;
  }
  return std::to_chars(p, p + 20, v).ptr;
}

// A length: with the largest K/M/G suffix that divides it exactly, else in hex.
inline char* put_len(char* p, std::uint64_t v) {
  if (v != 0) {
    static constexpr struct {
      unsigned shift;
      char suffix;
    } kSuffixes[] = {{30, 'G'}, {20, 'M'}, {10, 'K'}};
    for (const auto& s : kSuffixes) {
      if ((v & ((std::uint64_t{1} << s.shift) - 1)) == 0) {
        p = put_dec(p, v >> s.shift);
        *p++ = s.suffix;
        return p;
      }
    }
  }
  return put_hex(p, v);
}

inline char* put_str(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

}  // namespace

const char* event_problem(const Event& ev) {
  switch (ev.op) {
    case Op::Read:
    case Op::Write:
    case Op::Fetch:
    case Op::Print:
      return access_problem(ev);
    case Op::Cpu:
    case Op::Switch:
    case Op::Exit:
    case Op::Fork:
    case Op::Thread:
    case Op::Munmap:
    case Op::Invlpg:
    case Op::Invpcid:
    case Op::ExpectFaults:
      return nullptr;
    case Op::Spawn:
    case Op::Exec:
    case Op::Mark:
      return quotable(ev.name) ? nullptr : "name with a double quote or a newline";
    case Op::Mmap:
      if (const char* why = prot_problem(ev.prot)) return why;
      if (!quotable(ev.file) || !quotable(ev.name)) return "name with a double quote or a newline";
      if (ev.offset != 0 && ev.file.empty()) return "offset= without file=";
      return nullptr;
    case Op::Mprotect:
      return prot_problem(ev.prot);
    case Op::Madvise:
      return ev.advice > Advice::NoHugePage ? "unknown madvise advice" : nullptr;
    case Op::File:
      return quotable(ev.file) ? nullptr : "file name with a double quote or a newline";
    case Op::Mode:
      return ev.name == binary::kModeNames[0] ? nullptr : "unknown mode (expected bare)";
    case Op::Poke:
      if (!ev.has_value) return "poke without a VALUE";
      if (ev.size == 0 || ev.size > 8) return "poke SIZE out of range (expected 1..8)";
      return fits(ev.value, ev.size) ? nullptr : "value does not fit in SIZE bytes";
    case Op::Peek:
      if (ev.size == 0 || ev.size > 8) return "peek SIZE out of range (expected 1..8)";
      return !ev.has_value || fits(ev.value, ev.size) ? nullptr : "value does not fit in SIZE bytes";
    case Op::Set:
      if (ev.sets.empty()) return "set without a register";
      for (const auto& [name, value] : ev.sets) {
        const std::size_t i = binary::set_index(name);
        if (i == binary::kSetNames.size()) return "unknown register in set";
        if (value > binary::kSetNames[i].max) return "set value out of range for its register";
      }
      return nullptr;
  }
  return "unknown event kind";
}

TextWriter::TextWriter(std::ostream& out) : out_(out), buf_(new char[kBuf]) { put("mmutrace 1\n", 11); }

TextWriter::~TextWriter() {
  try {
    drain();
    out_.flush();
  } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor must not throw
  }
}

char* TextWriter::room(std::size_t n) {
  if (kBuf - pos_ < n) drain();
  return buf_.get() + pos_;
}

void TextWriter::put(const char* s, std::size_t n) {
  if (n > kBuf / 2) {
    drain();
    out_.write(s, static_cast<std::streamsize>(n));
    return;
  }
  std::memcpy(room(n), s, n);
  pos_ += n;
}

void TextWriter::put_quoted(const std::string& s) {
  char* p = room(1);
  *p = '"';
  ++pos_;
  put(s.data(), s.size());
  p = room(1);
  *p = '"';
  ++pos_;
}

void TextWriter::drain() {
  if (pos_ != 0) out_.write(buf_.get(), static_cast<std::streamsize>(pos_));
  pos_ = 0;
}

void TextWriter::flush() {
  drain();
  out_.flush();
  if (!out_) throw std::ios_base::failure("cannot write the text trace");
}

void TextWriter::write(const Event& ev) {
  if (const char* why = event_problem(ev)) {
    throw std::invalid_argument("line " + std::to_string(ev.line) + ": the text format cannot express this event: " +
                                why);
  }
  if (ev.op == Op::Mode && events_ != 0) {
    throw std::invalid_argument("line " + std::to_string(ev.line) + ": 'mode bare' must be the first event");
  }
  ++events_;

  char* p = room(kLineRoom);
  // Commits the bytes written through p, for a name of any length next.
  auto commit = [&] { pos_ = static_cast<std::size_t>(p - buf_.get()); };
  auto reopen = [&] { p = room(kLineRoom); };
  auto name = [&](const std::string& s) {
    *p++ = ' ';
    commit();
    put_quoted(s);
    reopen();
  };
  auto dec = [&](std::uint64_t v) {
    *p++ = ' ';
    p = put_dec(p, v);
  };
  auto pid = dec;
  auto hex = [&](std::uint64_t v) {
    *p++ = ' ';
    p = put_hex(p, v);
  };
  auto len = [&](std::uint64_t v) {
    *p++ = ' ';
    p = put_len(p, v);
  };
  auto prot = [&](const Prot& pr) {
    *p++ = ' ';
    if (pr.windows != 0) {
      p = put_str(p, windows_prot(pr)->name);
    } else {
      *p++ = pr.read ? 'r' : '-';
      *p++ = pr.write ? 'w' : '-';
      *p++ = pr.exec ? 'x' : '-';
    }
  };

  switch (ev.op) {
    case Op::Read:
    case Op::Write:
    case Op::Fetch:
    case Op::Print: {
      const bool print = ev.op == Op::Print;
      if (print) {
        p = put_str(p, "print");
      } else {
        *p++ = ev.op == Op::Read ? 'r' : ev.op == Op::Write ? 'w' : 'x';
      }
      hex(ev.addr);
      if (print || ev.size != (ev.op == Op::Fetch ? 1u : 8u)) {
        *p++ = ' ';
        p = put_dec(p, ev.size);
      }
      if (print) name(ev.name);
      if (ev.has_value) {
        *p++ = ' ';
        *p++ = '=';
        p = put_hex(p, ev.value);
      }
      if (ev.supervisor) p = put_str(p, " user=0");
      if (ev.implicit) p = put_str(p, " implicit");
      if (ev.stack) p = put_str(p, " stack");
      if (ev.rmw) p = put_str(p, " rmw");
      switch (ev.expect) {
        case Expect::None: break;
        case Expect::PhysAddr:
          p = put_str(p, " expect=");
          p = put_hex(p, ev.expect_value);
          break;
        case Expect::PageFault:
          p = put_str(p, " expect=#PF:");
          p = put_hex(p, ev.expect_value);
          break;
        case Expect::GeneralProtection: p = put_str(p, " expect=#GP"); break;
        case Expect::StackFault: p = put_str(p, " expect=#SS"); break;
        case Expect::Sigbus: p = put_str(p, " expect=SIGBUS"); break;
        case Expect::Sigsegv:
          p = put_str(p, " expect=SIGSEGV");
          if (ev.expect_segv == SegvCode::MapErr) p = put_str(p, ":MAPERR");
          if (ev.expect_segv == SegvCode::AccErr) p = put_str(p, ":ACCERR");
          if (ev.expect_has_code) {
            *p++ = ':';
            p = put_hex(p, ev.expect_value);
          }
          break;
      }
      break;
    }
    case Op::Cpu:
      p = put_str(p, "cpu");
      pid(ev.pid);
      break;
    case Op::Switch:
      p = put_str(p, "switch");
      pid(ev.pid);
      break;
    case Op::Spawn:
      p = put_str(p, "spawn");
      pid(ev.pid);
      if (!ev.name.empty()) name(ev.name);
      if (ev.automap) p = put_str(p, " automap");
      break;
    case Op::Mmap:
      p = put_str(p, "mmap");
      pid(ev.pid);
      hex(ev.addr);
      len(ev.size);
      prot(ev.prot);
      if (ev.shared) p = put_str(p, " shared");
      if (!ev.file.empty()) {
        p = put_str(p, " file=");
        commit();
        put_quoted(ev.file);
        reopen();
        if (ev.offset != 0) {
          p = put_str(p, " offset=");
          p = put_len(p, ev.offset);
        }
      }
      if (ev.populate) p = put_str(p, " populate");
      if (ev.huge) p = put_str(p, " huge");
      if (ev.fixed) p = put_str(p, " fixed");
      if (!ev.name.empty()) {
        p = put_str(p, " name=");
        commit();
        put_quoted(ev.name);
        reopen();
      }
      break;
    case Op::Mprotect:
      p = put_str(p, "mprotect");
      pid(ev.pid);
      hex(ev.addr);
      len(ev.size);
      prot(ev.prot);
      break;
    case Op::Munmap:
      p = put_str(p, "munmap");
      pid(ev.pid);
      hex(ev.addr);
      len(ev.size);
      break;
    case Op::Fork:
    case Op::Thread:
      p = put_str(p, ev.op == Op::Fork ? "fork" : "thread");
      pid(ev.pid);
      pid(ev.pid2);
      break;
    case Op::Madvise:
      p = put_str(p, "madvise");
      pid(ev.pid);
      hex(ev.addr);
      len(ev.size);
      p = put_str(p, ev.advice == Advice::DontNeed   ? " DONTNEED"
                     : ev.advice == Advice::HugePage ? " HUGEPAGE"
                                                     : " NOHUGEPAGE");
      break;
    case Op::Exec:
      p = put_str(p, "exec");
      pid(ev.pid);
      if (!ev.name.empty()) name(ev.name);
      break;
    case Op::Exit:
      p = put_str(p, "exit");
      pid(ev.pid);
      break;
    case Op::File:
      p = put_str(p, "file");
      name(ev.file);
      len(ev.size);
      if (ev.fs_tmpfs) p = put_str(p, " fs=tmpfs");
      break;
    case Op::Mark:
      p = put_str(p, "mark");
      name(ev.name);
      break;
    case Op::ExpectFaults:
      p = put_str(p, "expect");
      pid(ev.pid);
      p = put_str(p, " minflt=");
      p = put_dec(p, ev.minflt);
      if (ev.has_majflt) {
        p = put_str(p, " majflt=");
        p = put_dec(p, ev.majflt);
      }
      break;
    case Op::Mode:
      p = put_str(p, "mode bare");
      break;
    case Op::Poke:
      p = put_str(p, "poke");
      hex(ev.addr);
      hex(ev.value);
      if (ev.size != 8) dec(ev.size);
      break;
    case Op::Peek:
      p = put_str(p, "peek");
      hex(ev.addr);
      if (ev.size != 8) dec(ev.size);
      if (ev.has_value) {
        p = put_str(p, " =");
        p = put_hex(p, ev.value);
      }
      break;
    case Op::Set:
      p = put_str(p, "set");
      for (const auto& [reg, value] : ev.sets) {
        commit();
        reopen();
        *p++ = ' ';
        p = put_str(p, reg);
        *p++ = '=';
        // Register contents in hex; bits, the CPL and MAXPHYADDR (a count) in decimal.
        p = reg == "cr3" || reg == "pkru" ? put_hex(p, value) : put_dec(p, value);
      }
      break;
    case Op::Invlpg:
      p = put_str(p, "invlpg");
      hex(ev.addr);
      break;
    case Op::Invpcid:
      // TYPE and PCID in decimal, trailing defaults (0) left out.
      p = put_str(p, "invpcid");
      dec(ev.invpcid_type);
      if (ev.invpcid_pcid != 0 || ev.addr != 0) dec(ev.invpcid_pcid);
      if (ev.addr != 0) hex(ev.addr);
      break;
  }
  *p++ = '\n';
  commit();
}

}  // namespace mmusim::traces
