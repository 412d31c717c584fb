#include "traces/binary_writer.hpp"

#include <bit>
#include <cstring>
#include <ios>
#include <stdexcept>
#include <string>

#include "traces/text_writer.hpp"

namespace mmusim::traces {

namespace {

using namespace binary;

inline unsigned char* put_varint(unsigned char* p, std::uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<unsigned char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<unsigned char>(v);
  return p;
}

inline std::uint64_t zigzag(std::uint64_t delta) {
  return (delta << 1) ^ static_cast<std::uint64_t>(static_cast<std::int64_t>(delta) >> 63);
}

inline unsigned varint_len(std::uint64_t v) { return (64 - static_cast<unsigned>(std::countl_zero(v | 1)) + 6) / 7; }

// Size class of a compact access, or -1.
inline int size_class(std::uint64_t size) {
  switch (size) {
    case 1: return 0;
    case 2: return 1;
    case 4: return 2;
    case 8: return 3;
    default: return -1;
  }
}

unsigned expect_code(Expect e) {
  switch (e) {
    case Expect::None: return kExpectNone;
    case Expect::PhysAddr: return kExpectPhysAddr;
    case Expect::PageFault: return kExpectPageFault;
    case Expect::GeneralProtection: return kExpectGP;
    case Expect::StackFault: return kExpectSS;
    case Expect::Sigsegv: return kExpectSigsegv;
    case Expect::Sigbus: return kExpectSigbus;
  }
  return kExpectNone;  // excluded by event_problem
}

unsigned segv_code(SegvCode c) {
  switch (c) {
    case SegvCode::Any: return kSegvAny;
    case SegvCode::MapErr: return kSegvMapErr;
    case SegvCode::AccErr: return kSegvAccErr;
  }
  return kSegvAny;
}

unsigned char* put_prot(unsigned char* p, const Prot& pr) {
  p = put_varint(p, (pr.read ? kProtRead : 0) | (pr.write ? kProtWrite : 0) | (pr.exec ? kProtExec : 0) |
                        (pr.writecopy ? kProtWritecopy : 0));
  return put_varint(p, pr.windows);
}

unsigned type_of(Op op) {
  switch (op) {
    case Op::Read: return kTypeRead;
    case Op::Write: return kTypeWrite;
    case Op::Fetch: return kTypeFetch;
    case Op::Print: return kTypePrint;
    case Op::Cpu: return kTypeCpu;
    case Op::Switch: return kTypeSwitch;
    case Op::Spawn: return kTypeSpawn;
    case Op::Mmap: return kTypeMmap;
    case Op::Mprotect: return kTypeMprotect;
    case Op::Munmap: return kTypeMunmap;
    case Op::Fork: return kTypeFork;
    case Op::Thread: return kTypeThread;
    case Op::Madvise: return kTypeMadvise;
    case Op::Exec: return kTypeExec;
    case Op::Exit: return kTypeExit;
    case Op::File: return kTypeFile;
    case Op::Mark: return kTypeMark;
    case Op::ExpectFaults: return kTypeExpectFaults;
    case Op::Mode: return kTypeMode;
    case Op::Poke: return kTypePoke;
    case Op::Peek: return kTypePeek;
    case Op::Set: return kTypeSet;
    case Op::Invlpg: return kTypeInvlpg;
    case Op::Invpcid: return kTypeInvpcid;
  }
  return kTypeEnd;  // excluded by event_problem
}

[[noreturn]] void refuse(const Event& ev, const std::string& why) {
  throw std::invalid_argument("line " + std::to_string(ev.line) + ": cannot write this event: " + why);
}

}  // namespace

BinaryWriter::BinaryWriter(std::ostream& out, SlotPolicy policy)
    : out_(out), buf_(new unsigned char[kBuf]), policy_(policy) {
  std::memcpy(buf_.get(), kMagic, sizeof kMagic);
  unsigned char* p = buf_.get() + sizeof kMagic;
  p = put_varint(p, kVersion);
  p = put_varint(p, kHeaderFlags);
  pos_ = static_cast<std::size_t>(p - buf_.get());
}

BinaryWriter::~BinaryWriter() {
  if (finished_) return;
  try {
    drain();
    out_.flush();
  } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor must not throw
  }
}

void BinaryWriter::drain() {
  if (pos_ != 0) out_.write(reinterpret_cast<const char*>(buf_.get()), static_cast<std::streamsize>(pos_));
  flushed_ += pos_;
  pos_ = 0;
}

unsigned char* BinaryWriter::room(std::size_t n) {
  if (kBuf - pos_ < n) drain();
  return buf_.get() + pos_;
}

void BinaryWriter::put_string(std::string_view s) {
  unsigned char* p = room(kMaxVarint);
  pos_ = static_cast<std::size_t>(put_varint(p, s.size()) - buf_.get());
  if (s.size() > kBuf / 2) {
    drain();
    out_.write(s.data(), static_cast<std::streamsize>(s.size()));
    flushed_ += s.size();
    return;
  }
  std::memcpy(room(s.size()), s.data(), s.size());
  pos_ += s.size();
}

// An address this many varint bytes or more from every slot of its bank
// (|delta| >= 8 KiB) is far: a jump, or the start of a new stream.
constexpr unsigned kFarLen = 3;
// A far address takes the bank's slot least recently used for a near one, and makes
// it "recently used" only once in kRefreshEvery times (bimodal insertion, as in
// cache replacement): jumps and new streams then mostly reuse one slot while the
// streams in the others keep theirs. Refreshing every time (LRU) lets five streams
// that take turns in four slots evict each other at every access.
constexpr unsigned kRefreshEvery = 8;

unsigned BinaryWriter::pick_slot(Op op, std::uint64_t addr) {
  const unsigned bank = op == Op::Fetch ? 1 : 0;
  switch (policy_) {
    case SlotPolicy::Single: return 0;
    case SlotPolicy::PerKind: return op == Op::Write ? 1 : 0;
    case SlotPolicy::Nearest: break;
  }
  const std::uint64_t* slot = slot_[bank];
  std::uint64_t* used = used_[bank];
  unsigned best = 0, best_len = ~0u, victim = 0;
  for (unsigned i = 0; i < kAddrSlots; ++i) {
    const unsigned len = varint_len(zigzag(addr - slot[i]));
    if (len < best_len || (len == best_len && used[i] > used[best])) {
      best = i;
      best_len = len;
    }
    if (used[i] < used[victim]) victim = i;
  }
  if (best_len < kFarLen) {
    used[best] = ++clock_;
    return best;
  }
  if (++far_ % kRefreshEvery == 0) used[victim] = ++clock_;
  return victim;
}

void BinaryWriter::write(const Event& ev) {
  if (finished_) throw std::logic_error("BinaryWriter::write after finish()");
  const int cls = size_class(ev.size);
  const bool compact = (ev.op == Op::Read || ev.op == Op::Write || ev.op == Op::Fetch) && cls >= 0 &&
                       !ev.supervisor && !ev.implicit && !ev.stack && !ev.rmw && ev.expect == Expect::None &&
                       ev.expect_value == 0 && !ev.expect_has_code && ev.expect_segv == SegvCode::Any;
  if (!compact) {
    write_full(ev);
    return;
  }
  // The common case: a compact access (binary_format.hpp). Checked as event_problem would.
  if (ev.has_value && (ev.op == Op::Fetch || (ev.size < 8 && (ev.value >> (8 * ev.size)) != 0))) {
    refuse(ev, event_problem(ev));
  }
  ++events_;
  unsigned char* const start = room(kRecordRoom);
  unsigned char* p = start + 1;
  const unsigned slot = pick_slot(ev.op, ev.addr);
  unsigned type = ev.op == Op::Fetch
                      ? kTypeCompactFetch | static_cast<unsigned>(cls) << 2 | slot
                      : (ev.op == Op::Write ? kTypeCompactWrite : 0) | static_cast<unsigned>(cls) << 3 | slot << 1 |
                            (ev.has_value ? 1u : 0u);
  const std::uint64_t dline = ev.line - prev_line_;
  if (dline != 1) {
    type |= kLineBit;
    p = put_varint(p, zigzag(dline));
  }
  prev_line_ = ev.line;
  *start = static_cast<unsigned char>(type);
  p = put_varint(p, zigzag(ev.addr - slot_[ev.op == Op::Fetch ? 1 : 0][slot]));
  slot_[ev.op == Op::Fetch ? 1 : 0][slot] = ev.addr;
  if (ev.has_value) p = put_varint(p, ev.value);
  pos_ = static_cast<std::size_t>(p - buf_.get());
}

void BinaryWriter::write_full(const Event& ev) {
  if (const char* why = event_problem(ev)) refuse(ev, why);
  if (ev.op == Op::Mode && events_ != 0) refuse(ev, "'mode bare' must be the first event");
  const bool names = ev.op == Op::Print || ev.op == Op::Spawn || ev.op == Op::Exec || ev.op == Op::Mark ||
                     ev.op == Op::Mmap || ev.op == Op::File;
  if (names && (ev.name.size() > kMaxString || ev.file.size() > kMaxString)) refuse(ev, "name longer than 64 MiB");
  if (ev.op == Op::Set && ev.sets.size() > kMaxSetCount) refuse(ev, "more than 16M registers in one set");
  ++events_;

  // The tag first: a string below may hand the buffer to the stream.
  unsigned char* p = room(kRecordRoom);
  const std::uint64_t dline = ev.line - prev_line_;
  *p++ = static_cast<unsigned char>(type_of(ev.op) | (dline != 1 ? kLineBit : 0));
  if (dline != 1) p = put_varint(p, zigzag(dline));
  prev_line_ = ev.line;
  auto commit = [&] { pos_ = static_cast<std::size_t>(p - buf_.get()); };
  auto name = [&](const std::string& s) {
    commit();
    put_string(s);
    p = room(kRecordRoom);
  };

  switch (ev.op) {
    case Op::Read:
    case Op::Write:
    case Op::Fetch:
    case Op::Print: {
      const unsigned slot = pick_slot(ev.op, ev.addr);
      const std::uint64_t flags =
          (ev.has_value ? kAccValue : 0) | std::uint64_t{expect_code(ev.expect)} << kAccExpectShift |
          (ev.expect_value != 0 ? kAccExpectValue : 0) | std::uint64_t{slot} << kAccSlotShift |
          (ev.expect_has_code ? kAccHasCode : 0) | std::uint64_t{segv_code(ev.expect_segv)} << kAccSegvShift |
          (ev.supervisor ? kAccSupervisor : 0) | (ev.implicit ? kAccImplicit : 0) | (ev.stack ? kAccStack : 0) |
          (ev.rmw ? kAccRmw : 0);
      p = put_varint(p, flags);
      p = put_varint(p, ev.size);
      p = put_varint(p, zigzag(ev.addr - slot_[ev.op == Op::Fetch ? 1 : 0][slot]));
      slot_[ev.op == Op::Fetch ? 1 : 0][slot] = ev.addr;
      if (ev.has_value) p = put_varint(p, ev.value);
      if (ev.expect_value != 0) p = put_varint(p, ev.expect_value);
      if (ev.op == Op::Print) name(ev.name);
      break;
    }
    case Op::Cpu:
      p = put_varint(p, ev.pid);
      break;
    case Op::Switch:
      p = put_varint(p, ev.pid);
      break;
    case Op::Spawn:
      p = put_varint(p, ev.pid);
      p = put_varint(p, ev.automap ? 1 : 0);
      name(ev.name);
      break;
    case Op::Mmap: {
      p = put_varint(p, ev.pid);
      p = put_varint(p, ev.addr);
      p = put_varint(p, ev.size);
      p = put_prot(p, ev.prot);
      const unsigned flags = (ev.shared ? kMmapShared : 0) | (ev.populate ? kMmapPopulate : 0) |
                             (ev.huge ? kMmapHuge : 0) | (ev.fixed ? kMmapFixed : 0) |
                             (ev.file.empty() ? 0 : kMmapFile) | (ev.name.empty() ? 0 : kMmapName);
      p = put_varint(p, flags);
      if (!ev.file.empty()) {
        name(ev.file);
        p = put_varint(p, ev.offset);
      }
      if (!ev.name.empty()) name(ev.name);
      break;
    }
    case Op::Mprotect:
      p = put_varint(p, ev.pid);
      p = put_varint(p, ev.addr);
      p = put_varint(p, ev.size);
      p = put_prot(p, ev.prot);
      break;
    case Op::Munmap:
      p = put_varint(p, ev.pid);
      p = put_varint(p, ev.addr);
      p = put_varint(p, ev.size);
      break;
    case Op::Fork:
    case Op::Thread:
      p = put_varint(p, ev.pid);
      p = put_varint(p, ev.pid2);
      break;
    case Op::Madvise:
      p = put_varint(p, ev.pid);
      p = put_varint(p, ev.addr);
      p = put_varint(p, ev.size);
      p = put_varint(p, ev.advice == Advice::DontNeed ? 0 : ev.advice == Advice::HugePage ? 1 : 2);
      break;
    case Op::Exec:
      p = put_varint(p, ev.pid);
      name(ev.name);
      break;
    case Op::Exit:
      p = put_varint(p, ev.pid);
      break;
    case Op::File:
      name(ev.file);
      p = put_varint(p, ev.size);
      p = put_varint(p, ev.fs_tmpfs ? 1 : 0);
      break;
    case Op::Mark:
      name(ev.name);
      break;
    case Op::ExpectFaults:
      p = put_varint(p, ev.pid);
      p = put_varint(p, ev.has_majflt ? 1 : 0);
      p = put_varint(p, ev.minflt);
      if (ev.has_majflt) p = put_varint(p, ev.majflt);
      break;
    case Op::Mode:
      p = put_varint(p, 0);  // bare
      break;
    case Op::Poke:
      p = put_varint(p, ev.addr);
      p = put_varint(p, ev.size);
      p = put_varint(p, ev.value);
      break;
    case Op::Peek:
      p = put_varint(p, ev.addr);
      p = put_varint(p, ev.size);
      p = put_varint(p, ev.has_value ? 1 : 0);
      if (ev.has_value) p = put_varint(p, ev.value);
      break;
    case Op::Set:
      p = put_varint(p, ev.sets.size());
      for (const auto& [reg, value] : ev.sets) {
        commit();
        p = room(2 * kMaxVarint);
        p = put_varint(p, set_index(reg));
        p = put_varint(p, value);
      }
      break;
    case Op::Invlpg:
      p = put_varint(p, ev.addr);
      break;
    case Op::Invpcid:
      p = put_varint(p, ev.invpcid_type);
      p = put_varint(p, ev.invpcid_pcid);
      p = put_varint(p, ev.addr);
      break;
  }
  commit();
}

void BinaryWriter::finish() {
  if (finished_) return;
  unsigned char* p = room(1);
  *p = static_cast<unsigned char>(kTypeEnd);
  ++pos_;
  drain();
  out_.flush();
  finished_ = true;
  if (!out_) throw std::ios_base::failure("cannot write the binary trace");
}

}  // namespace mmusim::traces
