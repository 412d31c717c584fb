// One event of a trace (../shared/TRACE_FORMAT.md, version 1). Readers fill an
// Event in place so that strings and vectors keep their storage across lines.
#pragma once

#include <cstdint>
#include <iterator>
#include <string_view>
#include <string>
#include <utility>
#include <vector>

namespace mmusim::traces {

enum class Op : unsigned char {
  // memory accesses
  Read, Write, Fetch, Print,
  // execution context
  Cpu, Switch,
  // OS mode
  Spawn, Mmap, Mprotect, Munmap, Fork, Thread, Madvise, Exec, Exit, File, Mark, ExpectFaults,
  // bare mode
  Mode, Poke, Peek, Set, Invlpg, Invpcid,
};

// The event's keyword in the text format ("mmap", "expect", ...).
constexpr std::string_view op_name(Op op) {
  constexpr std::string_view names[] = {"r",     "w",      "x",     "print",   "cpu",    "switch",  "spawn",
                                        "mmap",  "mprotect", "munmap", "fork",  "thread", "madvise", "exec",
                                        "exit",  "file",   "mark",  "expect",  "mode",   "poke",    "peek",
                                        "set",   "invlpg", "invpcid"};
  static_assert(std::size(names) == static_cast<std::size_t>(Op::Invpcid) + 1, "one name per Op");
  return names[static_cast<std::size_t>(op)];
}

// Protection of an mmap/mprotect: POSIX letters or a Windows PAGE_* constant.
struct Prot {
  bool read = false, write = false, exec = false;
  bool writecopy = false;      // PAGE_WRITECOPY / PAGE_EXECUTE_WRITECOPY: private, shared until written
  std::uint16_t windows = 0;   // the PAGE_* value if given as a Windows constant, else 0

  friend bool operator==(const Prot&, const Prot&) = default;
};

// What an access expects (`=VALUE` is kept apart, in Event::value).
enum class Expect : unsigned char {
  None,
  PhysAddr,      // expect=PADDR (bare mode): physical address of the first byte
  PageFault,     // expect=#PF:0xERR (bare mode): error code in `expect_code`, CR2 checked too
  GeneralProtection,  // expect=#GP
  StackFault,         // expect=#SS
  Sigsegv,       // expect=SIGSEGV[:MAPERR|:ACCERR][:0xERR] (OS mode)
  Sigbus,        // expect=SIGBUS
};
enum class SegvCode : unsigned char { Any, MapErr, AccErr };

enum class Advice : unsigned char { DontNeed, HugePage, NoHugePage };

struct Event {
  Op op = Op::Read;
  std::uint64_t line = 0;          // 1-based line in the trace file

  // Accesses: addr, size, value (=VALUE / poke VALUE); label for print.
  // mmap & co: addr, len, prot; fork/thread: pid, pid2.
  std::uint64_t addr = 0;
  std::uint64_t size = 0;          // access size / mmap length / poke size
  std::uint64_t value = 0;
  bool has_value = false;

  // Access options.
  bool supervisor = false;         // user=0
  bool implicit = false;
  bool stack = false;
  bool rmw = false;
  Expect expect = Expect::None;
  std::uint64_t expect_value = 0;  // PADDR, or #PF / SIGSEGV error code
  bool expect_has_code = false;    // SIGSEGV:...:0xERR given
  SegvCode expect_segv = SegvCode::Any;

  // OS events.
  std::uint32_t pid = 0;           // spawn/mmap/.../exit PID; fork PARENT; thread PID; switch PID; cpu N
  std::uint32_t pid2 = 0;          // fork CHILD; thread TID
  Prot prot;
  bool shared = false, populate = false, huge = false, fixed = false, automap = false;
  std::string file;                // mmap file="NAME" / file "NAME"
  std::uint64_t offset = 0;        // mmap offset=N
  bool fs_tmpfs = false;           // file ... fs=tmpfs
  std::string name;                // spawn/exec/mark/mmap name=, print LABEL, mode NAME
  Advice advice = Advice::DontNeed;
  std::uint64_t minflt = 0, majflt = 0;
  bool has_majflt = false;

  // Bare mode: set NAME=VALUE... (left to right), invpcid TYPE [PCID] [ADDR].
  std::vector<std::pair<std::string, std::uint64_t>> sets;
  std::uint64_t invpcid_type = 0, invpcid_pcid = 0;

  // Field by field, the line number included: what a lossless conversion keeps.
  friend bool operator==(const Event&, const Event&) = default;

  void reset_options() {
    has_value = false; supervisor = implicit = stack = rmw = false;
    expect = Expect::None; expect_value = 0; expect_has_code = false; expect_segv = SegvCode::Any;
    shared = populate = huge = fixed = automap = false; file.clear(); offset = 0; fs_tmpfs = false;
    name.clear(); sets.clear(); has_majflt = false; prot = Prot{}; value = 0; size = 0;
  }
};

}  // namespace mmusim::traces
