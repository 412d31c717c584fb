#include "traces/binary_reader.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <optional>
#include <string>

#include "traces/binary_format.hpp"
#include "traces/input.hpp"
#include "traces/text_writer.hpp"

namespace mmusim::traces {

namespace {

using namespace binary;

constexpr std::uint64_t unzigzag(std::uint64_t v) { return (v >> 1) ^ (~(v & 1) + 1); }

std::string hex(std::uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  do {
    s.insert(s.begin(), kDigits[v & 15]);
    v >>= 4;
  } while (v != 0);
  return "0x" + s;
}

// What a compact access type says, by type.
struct Compact {
  Op op;
  unsigned char slot;  // index into Impl::slot, bank included
  bool has_value;
  std::uint64_t size;
};
constexpr std::array<Compact, kCompactEnd> kCompact = [] {
  std::array<Compact, kCompactEnd> t{};
  for (unsigned type = 0; type < kCompactEnd; ++type) {
    Compact& c = t[type];
    if (type < kTypeCompactFetch) {
      c.op = type < kTypeCompactWrite ? Op::Read : Op::Write;
      c.size = kSizeOfClass[(type >> 3) & 3];
      c.slot = static_cast<unsigned char>((type >> 1) & 3);
      c.has_value = type & 1;
    } else {
      c.op = Op::Fetch;
      c.size = kSizeOfClass[(type >> 2) & 3];
      c.slot = static_cast<unsigned char>(kAddrSlots + (type & 3));
      c.has_value = false;
    }
  }
  return t;
}();

}  // namespace

struct BinaryReader::Impl {
  static constexpr std::size_t kBlock = 1 << 20;
  // A compact access takes at most 31 bytes (a tag and 3 varints), and decoding one
  // reads at most 39 (the 8-byte loads of varint_fast). The hot path decodes without
  // bounds checks when kFast bytes are buffered, or at the end of the data, where the
  // buffer is followed by kPad zero bytes: a varint cut short ends in them, and the
  // record is found truncated afterwards.
  static constexpr std::size_t kFast = 64;
  static constexpr std::size_t kPad = 64;

  std::string path;
  Input input;
  std::unique_ptr<unsigned char[]> buf;
  std::size_t pos = 0, end = 0;  // unread data: [pos, end)
  std::uint64_t buf_off = 0;     // offset of buf[0] in the decompressed data
  bool eof = false;
  bool done = false;
  bool first_event = true;
  std::uint64_t prev_line = 0;
  std::uint64_t event_line = 0;
  std::uint64_t slot[kAddrBanks * kAddrSlots] = {};  // bank-major
  std::uint64_t rec_off = 0;   // offset of the record being decoded
  std::uint64_t rec_line = 0;  // its line, once decoded (0 before)
  std::optional<TraceError> fatal;

  explicit Impl(const std::string& p) : path(p), input(p), buf(new unsigned char[kBlock + kPad]) {
    std::memset(buf.get(), 0, kBlock + kPad);
    header();
  }

  void refill() {
    const std::size_t keep = end - pos;
    if (pos != 0) {
      std::memmove(buf.get(), buf.get() + pos, keep);
      buf_off += pos;
      pos = 0;
      end = keep;
    }
    // Up to a block, but no more reads than it takes to decode a record: a pipe
    // that delivers little at a time must not hold events back.
    while (!eof && end < kBlock) {
      const std::size_t got = input.read(reinterpret_cast<char*>(buf.get()) + end, kBlock - end);
      if (got == 0) eof = true;
      end += got;
      if (end >= kFast) break;
    }
    std::memset(buf.get() + end, 0, kPad);
  }

  // ---- errors ----------------------------------------------------------------------
  [[noreturn]] void die(const std::string& msg) {
    fatal.emplace(path, rec_line, 0, msg + " at byte offset " + std::to_string(rec_off));
    throw *fatal;
  }
  [[noreturn]] void truncated() {
    if (input.failed()) die(input.error() + " (binary record cut short)");
    die("truncated record");
  }
  [[noreturn]] void too_long() { die("varint too long"); }
  [[noreturn]] void invalid(const std::string& why) {
    throw TraceError(path, rec_line, 0, "bad record: " + why + " at byte offset " + std::to_string(rec_off), true);
  }

  // ---- primitives --------------------------------------------------------------------
  // A LEB128 varint at p, which the padding lets run past the data (see kFast).
  std::uint64_t varint(const unsigned char*& p) {
    std::uint64_t b = *p++;
    if (b < 0x80) [[likely]] return b;
    std::uint64_t v = b & 0x7f;
    for (unsigned shift = 7;; shift += 7) {
      b = *p++;
      if (shift == 63) {
        if (b > 1) too_long();
        return v | b << 63;
      }
      v |= (b & 0x7f) << shift;
      if (b < 0x80) return v;
    }
  }
  // The same, branch-free for varints of up to 8 bytes (values below 2^56: nearly
  // every address delta): one 8-byte load, the end found by the first byte without
  // its continuation bit, the 7-bit groups packed by three mask-and-shift steps.
  std::uint64_t varint_fast(const unsigned char*& p) {
    if constexpr (std::endian::native != std::endian::little) return varint(p);
    std::uint64_t x;
    std::memcpy(&x, p, 8);
    const std::uint64_t stops = ~x & 0x8080808080808080ull;
    if (stops == 0) [[unlikely]] return varint(p);
    const unsigned bits = static_cast<unsigned>(std::countr_zero(stops)) + 1;  // 8 * length
    p += bits / 8;
    x &= bits == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits) - 1;
    x = ((x & 0x7f007f007f007f00ull) >> 1) | (x & 0x007f007f007f007full);
    x = ((x & 0x3fff00003fff0000ull) >> 2) | (x & 0x00003fff00003fffull);
    x = ((x & 0x0fffffff00000000ull) >> 4) | (x & 0x000000000fffffffull);
    return x;
  }
  // The slow path's varint: refills first, checks for truncation after.
  std::uint64_t get() {
    if (end - pos < kMaxVarint && !eof) refill();
    const unsigned char* p = buf.get() + pos;
    const std::uint64_t v = varint(p);
    const auto at = static_cast<std::size_t>(p - buf.get());
    if (at > end) truncated();
    pos = at;
    return v;
  }
  std::uint32_t get_u32(const char* what) {
    const std::uint64_t v = get();
    if (v > 0xffffffffu) invalid(std::string(what) + " " + std::to_string(v) + " out of range (expected at most 4294967295)");
    return static_cast<std::uint32_t>(v);
  }
  std::uint64_t get_flags(std::uint64_t known, const char* record) {
    const std::uint64_t v = get();
    if (v & ~known) die("unknown flags " + hex(v & ~known) + " in a " + record + " record");
    return v;
  }
  void get_string(std::string& s) {
    std::uint64_t n = get();
    if (n > kMaxString) die("string too long (" + std::to_string(n) + " bytes, at most 64 MiB)");
    s.clear();
    while (n != 0) {
      if (pos == end) {
        if (eof) truncated();
        refill();
        continue;
      }
      const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, end - pos));
      s.append(reinterpret_cast<const char*>(buf.get()) + pos, k);
      pos += k;
      n -= k;
    }
  }
  Prot get_prot() {
    const std::uint64_t f = get_flags(kProtRead | kProtWrite | kProtExec | kProtWritecopy, "protection");
    Prot p;
    p.read = f & kProtRead;
    p.write = f & kProtWrite;
    p.exec = f & kProtExec;
    p.writecopy = f & kProtWritecopy;
    const std::uint64_t w = get();
    if (w > 0xffff) invalid("PAGE_* value " + hex(w) + " out of range");
    p.windows = static_cast<std::uint16_t>(w);
    return p;
  }

  void header() {
    refill();
    rec_off = 0;
    if (end < sizeof kMagic) {
      if (end == 0 && input.failed()) die(input.error());
      if (std::memcmp(buf.get(), kMagic, end) == 0) die("truncated header");
    }
    if (end < sizeof kMagic || std::memcmp(buf.get(), kMagic, sizeof kMagic) != 0)
      die("not a binary mmusim trace (bad magic)");
    pos = sizeof kMagic;
    rec_off = pos;
    const std::uint64_t version = get();
    if (version != kVersion) die("unsupported binary trace version " + std::to_string(version) + " (expected 1)");
    rec_off = pos;
    const std::uint64_t flags = get();
    if (flags & ~kHeaderFlags) die("unknown header flags " + hex(flags));
  }

  // ---- records -----------------------------------------------------------------------
  bool next(Event& ev) {
    if (fatal) [[unlikely]] throw *fatal;
    if (done) [[unlikely]] return false;
    if (end - pos < kFast && !eof) refill();
    const unsigned char* const b = buf.get();
    const unsigned char* p = b + pos;
    const unsigned char* const e = b + end;
    rec_off = buf_off + pos;
    rec_line = 0;
    if (p == e) [[unlikely]] {
      if (input.failed()) die(input.error() + " (binary trace cut short)");
      die("truncated: the trace ends without its end record");
    }
    const unsigned tag = *p++;
    std::uint64_t line = prev_line + 1;
    if (tag & kLineBit) [[unlikely]] line = prev_line + unzigzag(varint(p));
    rec_line = line;
    const unsigned type = tag & kTypeMask;
    if (type >= kCompactEnd) return next_full(ev, type, line, p);

    // A compact access.
    const Compact& c = kCompact[type];
    // A one-byte delta is a stream's next address: worth its own branch.
    const std::uint64_t delta = *p < 0x80 ? *p++ : varint_fast(p);
    const std::uint64_t value = c.has_value ? varint_fast(p) : 0;
    if (p > e) [[unlikely]] truncated();
    pos = static_cast<std::size_t>(p - b);
    prev_line = event_line = line;
    first_event = false;
    const std::uint64_t addr = slot[c.slot] + unzigzag(delta);
    slot[c.slot] = addr;

    ev.reset_options();
    ev.op = c.op;
    ev.line = line;
    ev.addr = addr;
    ev.size = c.size;
    if (c.has_value) {
      ev.value = value;
      ev.has_value = true;
      if (c.size < 8 && (value >> (8 * c.size)) != 0) [[unlikely]] invalid("value does not fit in SIZE bytes");
    }
    return true;
  }

  // Every record but a compact access; p is past the tag and the line delta.
  bool next_full(Event& ev, unsigned type, std::uint64_t line, const unsigned char* p) {
    pos = static_cast<std::size_t>(p - buf.get());
    if (pos > end) truncated();
    rec_line = line;
    if (type == kTypeEnd) {
      rec_off = buf_off + pos;
      if (pos == end && !eof) refill();
      if (pos != end) die("data after the end record");
      if (input.failed()) die(input.error());
      done = true;
      return false;
    }
    ev.reset_options();
    ev.line = line;
    switch (type) {
      case kTypeRead:
      case kTypeWrite:
      case kTypeFetch:
      case kTypePrint: {
        ev.op = type == kTypeRead ? Op::Read : type == kTypeWrite ? Op::Write : type == kTypeFetch ? Op::Fetch : Op::Print;
        const std::uint64_t flags = get_flags(kAccKnown, "access");
        ev.size = get();
        const unsigned s = (type == kTypeFetch ? kAddrSlots : 0) + ((flags >> kAccSlotShift) & 3);
        ev.addr = slot[s] + unzigzag(get());
        slot[s] = ev.addr;
        if (flags & kAccValue) {
          ev.value = get();
          ev.has_value = true;
        }
        if (flags & kAccExpectValue) ev.expect_value = get();
        ev.expect_has_code = flags & kAccHasCode;
        ev.supervisor = flags & kAccSupervisor;
        ev.implicit = flags & kAccImplicit;
        ev.stack = flags & kAccStack;
        ev.rmw = flags & kAccRmw;
        if (type == kTypePrint) get_string(ev.name);
        finish_record(line);
        switch ((flags >> kAccExpectShift) & 7) {
          case kExpectNone: ev.expect = Expect::None; break;
          case kExpectPhysAddr: ev.expect = Expect::PhysAddr; break;
          case kExpectPageFault: ev.expect = Expect::PageFault; break;
          case kExpectGP: ev.expect = Expect::GeneralProtection; break;
          case kExpectSS: ev.expect = Expect::StackFault; break;
          case kExpectSigsegv: ev.expect = Expect::Sigsegv; break;
          case kExpectSigbus: ev.expect = Expect::Sigbus; break;
          default: invalid("unknown expectation code " + std::to_string((flags >> kAccExpectShift) & 7));
        }
        switch ((flags >> kAccSegvShift) & 3) {
          case kSegvAny: ev.expect_segv = SegvCode::Any; break;
          case kSegvMapErr: ev.expect_segv = SegvCode::MapErr; break;
          case kSegvAccErr: ev.expect_segv = SegvCode::AccErr; break;
          default: invalid("unknown SIGSEGV code 3");
        }
        break;
      }
      case kTypeCpu:
        ev.op = Op::Cpu;
        ev.pid = get_u32("CPU");
        finish_record(line);
        break;
      case kTypeSwitch:
        ev.op = Op::Switch;
        ev.pid = get_u32("PID");
        finish_record(line);
        break;
      case kTypeSpawn:
        ev.op = Op::Spawn;
        ev.pid = get_u32("PID");
        ev.automap = get_flags(1, "spawn") & 1;
        get_string(ev.name);
        finish_record(line);
        break;
      case kTypeMmap: {
        ev.op = Op::Mmap;
        ev.pid = get_u32("PID");
        ev.addr = get();
        ev.size = get();
        ev.prot = get_prot();
        const std::uint64_t f = get_flags(kMmapKnown, "mmap");
        ev.shared = f & kMmapShared;
        ev.populate = f & kMmapPopulate;
        ev.huge = f & kMmapHuge;
        ev.fixed = f & kMmapFixed;
        if (f & kMmapFile) {
          get_string(ev.file);
          ev.offset = get();
          if (ev.file.empty()) {
            finish_record(line);
            invalid("empty file name");
          }
        }
        if (f & kMmapName) get_string(ev.name);
        finish_record(line);
        break;
      }
      case kTypeMprotect:
        ev.op = Op::Mprotect;
        ev.pid = get_u32("PID");
        ev.addr = get();
        ev.size = get();
        ev.prot = get_prot();
        finish_record(line);
        break;
      case kTypeMunmap:
        ev.op = Op::Munmap;
        ev.pid = get_u32("PID");
        ev.addr = get();
        ev.size = get();
        finish_record(line);
        break;
      case kTypeFork:
      case kTypeThread:
        ev.op = type == kTypeFork ? Op::Fork : Op::Thread;
        ev.pid = get_u32(type == kTypeFork ? "PARENT" : "PID");
        ev.pid2 = get_u32(type == kTypeFork ? "CHILD" : "TID");
        finish_record(line);
        break;
      case kTypeMadvise: {
        ev.op = Op::Madvise;
        ev.pid = get_u32("PID");
        ev.addr = get();
        ev.size = get();
        const std::uint64_t a = get();
        finish_record(line);
        if (a > 2) invalid("unknown madvise advice " + std::to_string(a));
        ev.advice = a == 0 ? Advice::DontNeed : a == 1 ? Advice::HugePage : Advice::NoHugePage;
        break;
      }
      case kTypeExec:
        ev.op = Op::Exec;
        ev.pid = get_u32("PID");
        get_string(ev.name);
        finish_record(line);
        break;
      case kTypeExit:
        ev.op = Op::Exit;
        ev.pid = get_u32("PID");
        finish_record(line);
        break;
      case kTypeFile:
        ev.op = Op::File;
        get_string(ev.file);
        ev.size = get();
        ev.fs_tmpfs = get_flags(1, "file") & 1;
        finish_record(line);
        break;
      case kTypeMark:
        ev.op = Op::Mark;
        get_string(ev.name);
        finish_record(line);
        break;
      case kTypeExpectFaults:
        ev.op = Op::ExpectFaults;
        ev.pid = get_u32("PID");
        ev.has_majflt = get_flags(1, "expect") & 1;
        ev.minflt = get();
        if (ev.has_majflt) ev.majflt = get();
        finish_record(line);
        break;
      case kTypeMode: {
        ev.op = Op::Mode;
        const std::uint64_t m = get();
        const bool was_first = first_event;
        finish_record(line);
        if (m >= kModeNames.size()) invalid("unknown mode " + std::to_string(m));
        ev.name.assign(kModeNames[m]);
        if (!was_first) invalid("'mode bare' must be the first event of the trace");
        break;
      }
      case kTypePoke:
        ev.op = Op::Poke;
        ev.addr = get();
        ev.size = get();
        ev.value = get();
        ev.has_value = true;
        finish_record(line);
        break;
      case kTypePeek:
        ev.op = Op::Peek;
        ev.addr = get();
        ev.size = get();
        if (get_flags(1, "peek") & 1) {
          ev.value = get();
          ev.has_value = true;
        }
        finish_record(line);
        break;
      case kTypeSet: {
        ev.op = Op::Set;
        const std::uint64_t n = get();
        if (n > kMaxSetCount) die("set record with " + std::to_string(n) + " registers (at most 16M)");
        std::uint64_t bad = kSetNames.size();
        for (std::uint64_t i = 0; i < n; ++i) {
          const std::uint64_t reg = get();
          const std::uint64_t value = get();
          if (reg < kSetNames.size()) {
            ev.sets.emplace_back(std::string(kSetNames[reg].name), value);
          } else if (bad == kSetNames.size()) {
            bad = reg;
          }
        }
        finish_record(line);
        if (bad != kSetNames.size()) invalid("unknown set register index " + std::to_string(bad));
        break;
      }
      case kTypeInvlpg:
        ev.op = Op::Invlpg;
        ev.addr = get();
        finish_record(line);
        break;
      case kTypeInvpcid:
        ev.op = Op::Invpcid;
        ev.invpcid_type = get();
        ev.invpcid_pcid = get();
        ev.addr = get();
        finish_record(line);
        break;
      default:
        die("unknown record type " + hex(type));
    }
    if (const char* why = event_problem(ev)) invalid(why);
    return true;
  }

  // The record is consumed: the next one follows whatever its content says.
  void finish_record(std::uint64_t line) {
    prev_line = event_line = line;
    first_event = false;
  }
};

BinaryReader::BinaryReader(const std::string& path) : impl_(std::make_unique<Impl>(path)) {}
BinaryReader::~BinaryReader() = default;
BinaryReader::BinaryReader(BinaryReader&&) noexcept = default;
BinaryReader& BinaryReader::operator=(BinaryReader&&) noexcept = default;

bool BinaryReader::next(Event& ev) { return impl_->next(ev); }
const std::string& BinaryReader::path() const { return impl_->path; }
double BinaryReader::fraction_read() const { return impl_->input.fraction_read(); }
std::uint64_t BinaryReader::line() const { return impl_->event_line; }
std::uint64_t BinaryReader::offset() const { return impl_->buf_off + impl_->pos; }

}  // namespace mmusim::traces
