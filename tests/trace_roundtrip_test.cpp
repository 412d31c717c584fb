// Lossless conversion between the text trace format and its binary encoding
// (docs/binary-format.md): every example trace, a trace with every event and option
// of the grammar, and a million generated accesses go text -> binary -> events
// unchanged (line numbers included) and events -> text -> events unchanged but for
// line numbers. Then damaged binary traces: every truncation point and flipped bytes
// must give a TraceError, never a crash, a hang or another exception.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "traces/binary_format.hpp"
#include "traces/binary_reader.hpp"
#include "traces/binary_writer.hpp"
#include "traces/reader.hpp"
#include "traces/text_reader.hpp"
#include "traces/text_writer.hpp"
#include "traces/trace_error.hpp"

namespace mmusim::traces {

// gtest prints an Event that differs by its fields, not as a dump of bytes.
void PrintTo(const Event& e, std::ostream* os) {
  *os << "{op " << static_cast<int>(e.op) << " line " << e.line << " addr 0x" << std::hex << e.addr << " size 0x"
      << e.size << " value 0x" << e.value << (e.has_value ? "" : " (none)") << std::dec << " sup " << e.supervisor
      << " impl " << e.implicit << " stack " << e.stack << " rmw " << e.rmw << " expect "
      << static_cast<int>(e.expect) << ":" << e.expect_value << ":" << e.expect_has_code << ":"
      << static_cast<int>(e.expect_segv) << " pid " << e.pid << "/" << e.pid2 << " prot " << e.prot.read
      << e.prot.write << e.prot.exec << e.prot.writecopy << "/" << e.prot.windows << " flags " << e.shared
      << e.populate << e.huge << e.fixed << e.automap << e.fs_tmpfs << " file '" << e.file << "' offset "
      << e.offset << " name '" << e.name << "' advice " << static_cast<int>(e.advice) << " flt " << e.minflt << "/"
      << e.majflt << ":" << e.has_majflt << " sets " << e.sets.size() << " invpcid " << e.invpcid_type << "/"
      << e.invpcid_pcid << "}";
}

namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------- helpers

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "mmusim_roundtrip_XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
  }
  ~TempDir() { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (fs::path(dir_) / name).string(); }
  std::string write(const std::string& name, const std::string& bytes) const {
    std::string p = path(name);
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }

 private:
  std::string dir_;
};

std::string slurp(const std::string& path) {
  std::ostringstream s;
  s << std::ifstream(path, std::ios::binary).rdbuf();
  return s.str();
}

// Reads every event. `reuse`: into one Event, as the simulator does (fields an event
// does not use keep what the previous ones left); else into a fresh Event each time.
template <typename R>
std::vector<Event> read_events(R& r, bool reuse) {
  std::vector<Event> out;
  Event ev;
  for (;;) {
    if (!reuse) ev = Event{};
    if (!r.next(ev)) break;
    EXPECT_EQ(r.line(), ev.line);
    out.push_back(ev);
  }
  return out;
}
std::vector<Event> read_text(const std::string& path, bool reuse = true) {
  TextReader r(path);
  return read_events(r, reuse);
}
std::vector<Event> read_binary(const std::string& path, bool reuse = true) {
  BinaryReader r(path);
  return read_events(r, reuse);
}

std::string write_binary(const std::string& path, const std::vector<Event>& evs) {
  std::ofstream out(path, std::ios::binary);
  BinaryWriter w(out);
  for (const Event& e : evs) w.write(e);
  w.finish();
  return path;
}
std::string to_binary_bytes(const std::vector<Event>& evs) {
  std::ostringstream out;
  BinaryWriter w(out);
  for (const Event& e : evs) w.write(e);
  w.finish();
  return out.str();
}
std::string write_text(const std::string& path, const std::vector<Event>& evs) {
  std::ofstream out(path, std::ios::binary);
  TextWriter w(out);
  for (const Event& e : evs) w.write(e);
  w.finish();
  return path;
}

Event without_line(Event e) {
  e.line = 0;
  return e;
}

void expect_same_but_lines(const std::vector<Event>& a, const std::vector<Event>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(without_line(a[i]), without_line(b[i])) << "event " << i << " (line " << a[i].line << ")";
  }
}

void expect_same(const std::vector<Event>& a, const std::vector<Event>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << "event " << i;
}

std::vector<std::string> trace_files() {
  std::vector<std::string> files;
  for (const char* dir : {MMUSIM_EXAMPLES, MMUSIM_TEST_TRACES}) {
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().extension() == ".trace") files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Every event kind and option of the grammar, in OS mode and bare mode (the reader
// checks syntax only, so both mix here), with comments and blank lines between them.
const char* const kEverything = R"(mmutrace 1
# every keyword and option of TRACE_FORMAT.md

cpu 0
cpu 4294967295
spawn 1
spawn 2 "a name with  spaces" automap
spawn 3 automap
spawn 4 ""
switch 2
mmap 1 0x10000 64K rw-
mmap 1 0x20000 0x3000 r-- shared populate huge fixed name="[heap] 2"
mmap 1 0x30000 4K r-x file="lib name.so" offset=8K
mmap 1 0x40000 2M rwx file="x" offset=0x1001 name="n"
mmap 1 0x1000000 1G ---
mmap 1 0x50000 4K -w-
mmap 1 0x60000 4K -wx
mmap 1 0x70000 0 --x
mmap 1 0x80000 4K PAGE_NOACCESS
mmap 1 0x80000 4K PAGE_READONLY fixed
mmap 1 0x80000 4K PAGE_READWRITE fixed shared
mmap 1 0x80000 4K PAGE_WRITECOPY fixed
mmap 1 0x80000 4K PAGE_EXECUTE fixed
mmap 1 0x80000 4K PAGE_EXECUTE_READ fixed
mmap 1 0x80000 4K PAGE_EXECUTE_READWRITE fixed
mmap 1 0x80000 4K PAGE_EXECUTE_WRITECOPY fixed file="dll" name="	tab"
mprotect 1 0x10000 4K PAGE_EXECUTE_WRITECOPY
mprotect 1 0x10000 4K r--
munmap 1 0x10000 4K
fork 1 4
thread 1 5
madvise 1 0x10000 4K DONTNEED
madvise 1 0x10000 2M HUGEPAGE
madvise 1 0x10000 2M NOHUGEPAGE
exec 4 "new image"
exec 5
exit 5
file "data file" 10K
file "t" 0x1234 fs=tmpfs
file "e" 4K fs=ext4
file "" 1
mark "phase one"
mark bare_word
mark ""
expect 1 minflt=3
expect 1 minflt=0 majflt=0
expect 1 majflt=2 minflt=7
r 0x1000
r 0x1000 1
r 0x1000 2 =0xffff
w 0x1000 4 =0xdeadbeef
w 0x1000 =0xffffffffffffffff
r 0xffffffffffffffff 3 =0xffffff
r 0x1000 16
w 0x1000 4K
x 0x400000
x 0x400000 15
x 0
r 0x1000 8 =5 user=0 implicit stack rmw expect=0x9123
w 0x1000 rmw user=1
r 0x10 expect=#PF:0x5
r 0x10 expect=#PF:5
r 0x10 expect=#PF:0
r 0x10 expect=#GP
r 0x10 stack expect=#SS
r 0x10 expect=SIGSEGV
r 0x10 expect=SIGSEGV:MAPERR
r 0x10 expect=SIGSEGV:ACCERR
r 0x10 expect=SIGSEGV:ACCERR:0x7
r 0x10 expect=SIGSEGV:MAPERR:0
r 0x10 expect=SIGBUS
r 0x10 expect=0
w 0x10 2 =3 expect=0xfffffffffffff000
x 0x10 user=0 implicit stack expect=SIGSEGV:ACCERR:0x15
print 0x7fffffffe9f8 4 "a child"
print 0x1000 8 label user=0 expect=SIGBUS
print 0x1000 1 ""
poke 0x1008 0x2007
poke 0x1008 0xff 1
poke 0x1008 0 2
peek 0x4000
peek 0x4000 =0x5025
peek 0x4000 2 =0x25
set cr3=0x1000
set cr0.wp=0 cr4.pge=1 cr4.pcide=1 cr4.smep=1 cr4.smap=1 cr4.pke=1 cr4.la57=0 efer.nxe=1 rflags.ac=1 cpl=3 pkru=0xffffffff cr0.pg=1 cr4.pae=1 efer.lme=1 maxphyaddr=46 cr3=0x8000000000002000
invlpg 0x8080605000
invpcid 2
invpcid 1 5
invpcid 0 5 0x1000
invpcid 0 0 0x1000
invpcid 7 0xfff 0
# a gap of comments

	w	0x2000	2	# tabs and a trailing comment
r 0x3000 # comment
r 0x3008
)";

// ---------------------------------------------------------------- generated accesses

using Rng = std::mt19937_64;

// A valid access (one the text grammar could produce), with options if asked.
Event random_access(Rng& rng, std::uint64_t line, bool options) {
  Event e;
  e.line = line;
  const unsigned kind = rng() % 100;
  e.op = kind < 45 ? Op::Read : kind < 80 ? Op::Write : kind < 97 || !options ? Op::Fetch : Op::Print;
  static constexpr std::uint64_t kOddSizes[] = {3, 5, 16, 64, 100, 4096};
  const unsigned s = rng() % 16;
  e.size = s < 14 ? std::uint64_t{1} << (s % 4) : kOddSizes[rng() % 6];
  if (e.op == Op::Print) e.size = 1 + rng() % 8;
  // Addresses in a 1 GiB region, aligned to the size where it is a power of two.
  e.addr = 0x7f0000000000 + (rng() & ((1u << 30) - 1));
  if (s < 14) e.addr &= ~(e.size - 1);
  if ((e.op == Op::Read || e.op == Op::Write) && e.size <= 8 && rng() % 2) {
    e.has_value = true;
    e.value = rng();
    if (e.size < 8) e.value &= (std::uint64_t{1} << (8 * e.size)) - 1;
    if (rng() % 4 == 0) e.value &= 0xff;
  }
  if (e.op == Op::Print) {
    static const char* const kLabels[] = {"a", "a child", "", "x=1 #y", "ünïcode"};
    e.name = kLabels[rng() % 5];
  }
  if (options && rng() % 10 == 0) {
    e.supervisor = rng() % 2;
    e.implicit = rng() % 4 == 0;
    e.stack = rng() % 4 == 0;
    e.rmw = (e.op == Op::Read || e.op == Op::Write) && rng() % 4 == 0;
    switch (rng() % 9) {
      case 0: e.expect = Expect::PhysAddr; e.expect_value = rng() & 0xfffffffff; break;
      case 1: e.expect = Expect::PageFault; e.expect_value = rng() % 32; e.expect_has_code = true; break;
      case 2: e.expect = Expect::GeneralProtection; break;
      case 3: e.expect = Expect::StackFault; break;
      case 4: e.expect = Expect::Sigsegv; break;
      case 5: e.expect = Expect::Sigsegv; e.expect_segv = SegvCode::MapErr; break;
      case 6:
        e.expect = Expect::Sigsegv;
        e.expect_segv = SegvCode::AccErr;
        e.expect_has_code = true;
        e.expect_value = rng() % 32;
        break;
      case 7: e.expect = Expect::Sigbus; break;
      default: break;
    }
  }
  return e;
}

// A stream of such accesses, lines mostly consecutive.
class AccessGen {
 public:
  AccessGen(std::uint64_t seed, bool options) : rng_(seed), options_(options) {}
  Event next() {
    line_ += rng_() % 20 == 0 ? 2 + rng_() % 5 : 1;
    return random_access(rng_, line_, options_);
  }

 private:
  Rng rng_;
  bool options_;
  std::uint64_t line_ = 0;
};

// Plain accesses for measuring the encoding: `pattern` "seq" (r, w and x streams
// walking arrays in 8-byte steps) or "random" (1 GiB, random sizes 1-8, half the
// writes with a value).
void plain_accesses(const std::string& pattern, std::size_t n, const std::function<void(const Event&)>& f) {
  Rng rng(42);
  Event e;
  std::uint64_t a = 0x7f0000000000, b = 0x7f0010000000, code = 0x400000;
  for (std::size_t i = 0; i < n; ++i) {
    e = Event{};
    e.line = i + 1;
    if (pattern == "seq") {
      switch (i % 4) {
        case 0: e.op = Op::Fetch; e.addr = code; e.size = 4; code += 4; break;
        case 1: e.op = Op::Read; e.addr = a; e.size = 8; a += 8; break;
        case 2: e.op = Op::Read; e.addr = b; e.size = 8; b += 8; break;
        default: e.op = Op::Write; e.addr = b - 8; e.size = 8; break;
      }
    } else {
      const unsigned k = rng() % 3;
      e.op = k == 0 ? Op::Read : k == 1 ? Op::Write : Op::Fetch;
      e.size = std::uint64_t{1} << (rng() % 4);
      e.addr = (0x7f0000000000 + (rng() & ((1u << 30) - 1))) & ~(e.size - 1);
      if (e.op == Op::Write && rng() % 2) {
        e.has_value = true;
        e.value = rng() & ((e.size == 8 ? 0 : std::uint64_t{1} << (8 * e.size)) - 1);
      }
    }
    f(e);
  }
}

// Drains a reader the way --keep-going would: past recoverable errors, up to the
// first fatal one. Returns the events read; `fatal` tells whether it ended in one.
// Any other exception fails the test; so would a reader that never ends.
std::vector<Event> drain(const std::string& path, bool& fatal, std::string* message = nullptr) {
  std::vector<Event> evs;
  fatal = false;
  try {
    BinaryReader r(path);
    Event ev;
    for (std::size_t steps = 0;; ++steps) {
      if (steps > 10'000'000) {
        ADD_FAILURE() << "reader does not end: " << path;
        break;
      }
      try {
        if (!r.next(ev)) break;
        evs.push_back(ev);
      } catch (const TraceError& e) {
        EXPECT_EQ(e.file, path);
        EXPECT_NE(e.message.find("byte offset"), std::string::npos) << e.what();
        if (!e.recoverable) throw;
        // A recoverable error leaves the reader able to go on.
      }
    }
  } catch (const TraceError& e) {
    fatal = true;
    EXPECT_EQ(e.file, path);
    if (message) *message = e.what();
  }
  return evs;
}

// The error a binary trace gives, or an empty string.
std::string binary_error(const std::string& path) {
  try {
    BinaryReader r(path);
    Event ev;
    while (r.next(ev)) {
    }
  } catch (const TraceError& e) {
    return e.what();
  }
  return "";
}

std::string header() {
  std::string h(reinterpret_cast<const char*>(binary::kMagic), sizeof binary::kMagic);
  h += '\x01';  // version
  h += '\x00';  // flags
  return h;
}

// ---------------------------------------------------------------- the example traces

class TraceRoundtripFiles : public ::testing::TestWithParam<std::string> {};

TEST_P(TraceRoundtripFiles, TextToBinaryIsExact) {
  TempDir tmp;
  for (bool reuse : {true, false}) {
    const std::vector<Event> text = read_text(GetParam(), reuse);
    ASSERT_FALSE(text.empty());
    const std::string bin = write_binary(tmp.path("t.bin"), text);
    expect_same(text, read_binary(bin, reuse));
    // And again from binary: binary -> binary is byte for byte the same.
    const std::string bin2 = write_binary(tmp.path("t2.bin"), read_binary(bin, reuse));
    EXPECT_EQ(slurp(bin), slurp(bin2));
  }
}

TEST_P(TraceRoundtripFiles, TextToTextKeepsEvents) {
  TempDir tmp;
  const std::vector<Event> text = read_text(GetParam());
  const std::string out = write_text(tmp.path("t.trace"), text);
  const std::vector<Event> again = read_text(out);
  expect_same_but_lines(text, again);
  // The canonical form is a fixed point: text -> text -> text changes no byte.
  EXPECT_EQ(slurp(write_text(tmp.path("t2.trace"), again)), slurp(out));
  // Binary to text too.
  const std::string bin = write_binary(tmp.path("t.bin"), text);
  expect_same_but_lines(text, read_text(write_text(tmp.path("t3.trace"), read_binary(bin))));
}

std::string file_test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = fs::path(info.param).parent_path().filename().string() + "_" + fs::path(info.param).stem().string();
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Traces, TraceRoundtripFiles, ::testing::ValuesIn(trace_files()), file_test_name);

// ---------------------------------------------------------------- every event and option

class TraceRoundtripTest : public ::testing::Test {
 protected:
  TempDir tmp_;
};

TEST_F(TraceRoundtripTest, EveryEventAndOption) {
  const std::string src = tmp_.write("all.trace", kEverything);
  for (bool reuse : {true, false}) {
    const std::vector<Event> evs = read_text(src, reuse);
    ASSERT_GT(evs.size(), 90u);
    expect_same(evs, read_binary(write_binary(tmp_.path("all.bin"), evs), reuse));
    expect_same_but_lines(evs, read_text(write_text(tmp_.path("out.trace"), evs), reuse));
  }
  // Bare mode: `mode bare` must come first.
  const std::string bare = tmp_.write("bare.trace", "# comment\nmode bare\nset cr3=0x1000\nr 0x8080604123 expect=0x9123\n");
  const std::vector<Event> evs = read_text(bare);
  ASSERT_EQ(evs.size(), 3u);
  expect_same(evs, read_binary(write_binary(tmp_.path("bare.bin"), evs)));
  expect_same_but_lines(evs, read_text(write_text(tmp_.path("bare.out"), evs)));
}

TEST_F(TraceRoundtripTest, LongNames) {
  // Names longer than the writers' buffers and the binary reader's block.
  std::string text = "mmutrace 1\n";
  for (std::size_t n : {100'000u, 3'000'000u}) {
    std::string name(n, 'a');
    for (std::size_t i = 0; i < n; i += 97) name[i] = ' ';
    text += "mark \"" + name + "\"\n";
    text += "mmap 1 0x10000 4K rw- file=\"" + name + "\" name=\"" + name + "\"\n";
    text += "print 0x10 8 \"" + name + "\"\n";
    text += "r 0x20\n";
  }
  const std::vector<Event> evs = read_text(tmp_.write("long.trace", text));
  ASSERT_EQ(evs.size(), 8u);
  EXPECT_EQ(evs[4].name.size(), 3'000'000u);
  expect_same(evs, read_binary(write_binary(tmp_.path("long.bin"), evs)));
  expect_same_but_lines(evs, read_text(write_text(tmp_.path("long.out"), evs)));
}

TEST_F(TraceRoundtripTest, CanonicalTextLines) {
  const std::string src = tmp_.write(
      "c.trace",
      "mmap 1 0x20000 12288 r-- name=\"[heap] 2\" fixed huge populate shared\n"
      "mmap 1 0x30000 0x1800 PAGE_EXECUTE_READ file=\"lib.so\" offset=2M\n"
      "r 0x1000 8 =0x5 expect=SIGSEGV:ACCERR:7 user=0\n"
      "x 4096 1\n"
      "print 0x10 4 label\n"
      "set cpl=3 cr3=4096 pkru=0\n"
      "invpcid 0 0 0x10\n"
      "peek 0x10 8 =0xFF\n"
      "poke 0x10 255 8\n"
      "spawn 7 \"\"\n");
  std::ostringstream out;
  {
    TextWriter w(out);
    for (const Event& e : read_text(src)) w.write(e);
  }
  EXPECT_EQ(out.str(),
            "mmutrace 1\n"
            "mmap 1 0x20000 12K r-- shared populate huge fixed name=\"[heap] 2\"\n"
            "mmap 1 0x30000 6K PAGE_EXECUTE_READ file=\"lib.so\" offset=2M\n"
            "r 0x1000 =0x5 user=0 expect=SIGSEGV:ACCERR:0x7\n"
            "x 0x1000\n"
            "print 0x10 4 \"label\"\n"
            "set cpl=3 cr3=0x1000 pkru=0x0\n"
            "invpcid 0 0 0x10\n"
            "peek 0x10 =0xff\n"
            "poke 0x10 0xff\n"
            "spawn 7\n");
}

TEST_F(TraceRoundtripTest, WritersRefuseWhatTextCannotSay) {
  auto refused = [](const Event& e) {
    std::ostringstream t, b;
    TextWriter tw(t);
    BinaryWriter bw(b);
    bool text = false, bin = false;
    try {
      tw.write(e);
    } catch (const std::invalid_argument&) {
      text = true;
    }
    try {
      bw.write(e);
    } catch (const std::invalid_argument&) {
      bin = true;
    }
    EXPECT_EQ(text, bin);
    return text && bin;
  };
  Event e;
  e.op = Op::Mark;
  e.name = "say \"hi\"";
  EXPECT_TRUE(refused(e));
  e.name = "two\nlines";
  EXPECT_TRUE(refused(e));
  e.name = "fine";
  EXPECT_FALSE(refused(e));
  e = Event{};
  e.op = Op::Read;
  e.size = 0;
  EXPECT_TRUE(refused(e));
  e.size = 4097;
  EXPECT_TRUE(refused(e));
  e.size = 2;
  e.has_value = true;
  e.value = 0x10000;
  EXPECT_TRUE(refused(e));
  e = Event{};
  e.op = Op::Fetch;
  e.size = 1;
  e.has_value = true;
  EXPECT_TRUE(refused(e));
  e = Event{};
  e.op = Op::Write;
  e.size = 8;
  e.expect = Expect::Sigsegv;
  e.expect_has_code = true;  // SIGSEGV:0x7 is not in the grammar
  EXPECT_TRUE(refused(e));
  e = Event{};
  e.op = Op::Mmap;
  e.prot.windows = 0x04;  // PAGE_READWRITE but not rw-
  EXPECT_TRUE(refused(e));
  e.prot.read = e.prot.write = true;
  EXPECT_FALSE(refused(e));
  e = Event{};
  e.op = Op::Set;
  EXPECT_TRUE(refused(e));
  e.sets = {{"cpl", 4}};
  EXPECT_TRUE(refused(e));
  e.sets = {{"cr2", 0}};
  EXPECT_TRUE(refused(e));
  e.sets = {{"cpl", 3}};
  EXPECT_FALSE(refused(e));
  // `mode bare` after another event.
  std::ostringstream t, b;
  TextWriter tw(t);
  BinaryWriter bw(b);
  Event mode;
  mode.op = Op::Mode;
  mode.name = "bare";
  tw.write(mode);
  bw.write(mode);
  EXPECT_THROW(tw.write(mode), std::invalid_argument);
  EXPECT_THROW(bw.write(mode), std::invalid_argument);
}

// ---------------------------------------------------------------- a million accesses

TEST_F(TraceRoundtripTest, MillionRandomAccessesExact) {
  constexpr std::size_t kN = 1'000'000;
  const std::string bin = tmp_.path("random.bin");
  {
    std::ofstream out(bin, std::ios::binary);
    BinaryWriter w(out);
    AccessGen gen(7, true);
    for (std::size_t i = 0; i < kN; ++i) w.write(gen.next());
    w.finish();
  }
  AccessGen gen(7, true);
  BinaryReader r(bin);
  Event ev;
  for (std::size_t i = 0; i < kN; ++i) {
    ASSERT_TRUE(r.next(ev)) << i;
    const Event want = gen.next();
    ASSERT_EQ(ev, want) << "event " << i;
  }
  EXPECT_FALSE(r.next(ev));
  EXPECT_FALSE(r.next(ev));  // and stays at the end

  // The same through text, lines aside.
  const std::string txt = tmp_.path("random.trace");
  {
    std::ofstream out(txt, std::ios::binary);
    TextWriter w(out);
    AccessGen g(7, true);
    for (std::size_t i = 0; i < kN; ++i) w.write(g.next());
  }
  AccessGen g2(7, true);
  TextReader tr(txt);
  for (std::size_t i = 0; i < kN; ++i) {
    ASSERT_TRUE(tr.next(ev)) << i;
    ASSERT_EQ(without_line(ev), without_line(g2.next())) << "event " << i;
  }
  EXPECT_FALSE(tr.next(ev));
}

// Bytes per access of the encoding (docs/binary-format.md quotes these figures).
std::uint64_t encoded_size(const std::string& pattern, std::size_t n) {
  std::ostringstream out;
  BinaryWriter w(out);
  plain_accesses(pattern, n, [&](const Event& e) { w.write(e); });
  w.finish();
  return out.str().size();
}

TEST_F(TraceRoundtripTest, BytesPerAccess) {
  constexpr std::size_t kN = 1'000'000;
  const double random = static_cast<double>(encoded_size("random", kN)) / kN;
  const double seq = static_cast<double>(encoded_size("seq", kN)) / kN;
  std::ostringstream opts;
  {
    BinaryWriter w(opts);
    AccessGen gen(7, true);
    for (std::size_t i = 0; i < kN; ++i) w.write(gen.next());
    w.finish();
  }
  const double mixed = static_cast<double>(opts.str().size()) / kN;
  std::cout << "bytes/access: random " << random << ", sequential " << seq << ", random with options " << mixed
            << "\n";
  RecordProperty("bytes_per_access_random", std::to_string(random));
  RecordProperty("bytes_per_access_sequential", std::to_string(seq));
  // Random 1 GiB addresses: a tag and a 4-5 byte delta, a value on half the writes
  // (measured: 6.54).
  EXPECT_LT(random, 7.0);
  // Strides of 4 and 8 bytes: a tag and a 1-byte delta.
  EXPECT_LT(seq, 2.01);
  EXPECT_LT(mixed, 8.5);
}

TEST_F(TraceRoundtripTest, EverySlotPolicyReadsBack) {
  // The reader follows whatever slots the writer names.
  std::vector<Event> evs = read_text(tmp_.write("all.trace", kEverything), false);
  const std::uint64_t last = evs.back().line;
  plain_accesses("seq", 5000, [&](const Event& e) {
    evs.push_back(e);
    evs.back().line += last;
  });
  AccessGen gen(11, true);
  for (int i = 0; i < 5000; ++i) {
    evs.push_back(gen.next());
    evs.back().line += last + 5000;
  }
  for (SlotPolicy policy : {SlotPolicy::Nearest, SlotPolicy::PerKind, SlotPolicy::Single}) {
    const std::string p = tmp_.path("p.bin");
    {
      std::ofstream out(p, std::ios::binary);
      BinaryWriter w(out, policy);
      for (const Event& e : evs) w.write(e);
      w.finish();
    }
    expect_same(evs, read_binary(p, false));
  }
}

// ---------------------------------------------------------------- header and records

TEST_F(TraceRoundtripTest, HeaderLayout) {
  Event e;
  e.op = Op::Read;
  e.line = 1;
  e.size = 8;
  e.addr = 0x1000;
  const std::string bytes = to_binary_bytes({e});
  // magic, version 1, flags 0, then r/8 in slot 0 (0x18), zigzag(0x1000) = 0x2000 = 80 40, end.
  EXPECT_EQ(bytes, header() + std::string("\x18\x80\x40\x7f", 4));
}

TEST_F(TraceRoundtripTest, BadMagic) {
  const std::string p = tmp_.write("bad.bin", "r 0x1000\n");
  const std::string err = binary_error(p);
  EXPECT_NE(err.find(p + ": error: not a binary mmusim trace (bad magic) at byte offset 0"), std::string::npos) << err;
  EXPECT_NE(binary_error(tmp_.write("empty.bin", "")).find("truncated header"), std::string::npos);
  EXPECT_NE(binary_error(tmp_.write("short.bin", header().substr(0, 5))).find("truncated header"), std::string::npos);
}

TEST_F(TraceRoundtripTest, UnknownVersionAndFlags) {
  std::string h = header();
  h[8] = '\x02';
  std::string err = binary_error(tmp_.write("v2.bin", h + "\x7f"));
  EXPECT_NE(err.find("v2.bin: error: unsupported binary trace version 2 (expected 1) at byte offset 8"),
            std::string::npos)
      << err;
  h = header();
  h[9] = '\x04';
  err = binary_error(tmp_.write("flags.bin", h + "\x7f"));
  EXPECT_NE(err.find("unknown header flags 0x4 at byte offset 9"), std::string::npos) << err;
  err = binary_error(tmp_.write("noflags.bin", header().substr(0, 9)));
  EXPECT_NE(err.find("truncated record at byte offset 9"), std::string::npos) << err;
}

TEST_F(TraceRoundtripTest, StructuralErrorsNameTheOffset) {
  struct Case {
    std::string records;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"\x5f", ":1: error: unknown record type 0x5f at byte offset 10"},
      {std::string("\x18\x02", 2) + "\x7e", ":2: error: unknown record type 0x7e at byte offset 12"},
      {"\x6e", "unknown record type 0x6e at byte offset 10"},
      {"\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "varint too long at byte offset 10"},
      {"\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", "varint too long at byte offset 10"},
      {"\x6c\x80\x80\x80\x80\x04", "string too long (1073741824 bytes, at most 64 MiB) at byte offset 10"},
      {"\x6c\x05" "ab", "truncated record at byte offset 10"},
      {"\x18\x02", "truncated: the trace ends without its end record at byte offset 12"},
      {"", "truncated: the trace ends without its end record at byte offset 10"},
      {"\x18", "truncated record at byte offset 10"},
      {"\x98", "truncated record at byte offset 10"},
      {std::string("\x7f\x00", 2), "data after the end record at byte offset 11"},
      {"\x62\x01\x02", "unknown flags 0x2 in a spawn record at byte offset 10"},
      {"\x50\x80\x80\x01", "unknown flags 0x4000 in a access record at byte offset 10"},
      {std::string("\x73\x80\x80\x80\x10", 5), "set record with 33554432 registers (at most 16M) at byte offset 10"},
  };
  for (const Case& c : cases) {
    const std::string p = tmp_.write("c.bin", header() + c.records);
    std::string err = binary_error(p);
    EXPECT_NE(err.find(c.message), std::string::npos) << "got: " << err << "\nwant: " << c.message;
    EXPECT_EQ(err.rfind(p, 0), 0u) << err;
    // Fatal: the reader repeats the error.
    BinaryReader r(p);
    Event ev;
    std::string first, second;
    try {
      while (r.next(ev)) {
      }
    } catch (const TraceError& e) {
      EXPECT_FALSE(e.recoverable) << e.what();
      first = e.what();
    }
    try {
      r.next(ev);
    } catch (const TraceError& e) {
      second = e.what();
    }
    EXPECT_EQ(first, second);
  }
}

TEST_F(TraceRoundtripTest, InvalidEventsAreRecoverable) {
  // r with size 0 (a full record), then r/8 at +1, then an access whose value does
  // not fit, then `mode` after an event, then a valid event and the end record.
  const std::string recs = std::string("\x50\x00\x00\x00", 4) + "\x18\x02" + std::string("\x01\x00\x80\x02", 4) +
                           std::string("\x70\x00", 2) + "\x18\x02" + "\x7f";
  const std::string p = tmp_.write("inv.bin", header() + recs);
  BinaryReader r(p);
  Event ev;
  auto recoverable = [&](const std::string& what) {
    try {
      r.next(ev);
      ADD_FAILURE() << "no error for " << what;
    } catch (const TraceError& e) {
      EXPECT_TRUE(e.recoverable) << e.what();
      EXPECT_NE(e.message.find(what), std::string::npos) << e.what();
    }
  };
  recoverable("bad record: access SIZE out of range (expected 1..4096) at byte offset 10");
  ASSERT_TRUE(r.next(ev));
  EXPECT_EQ(ev.line, 2u);
  EXPECT_EQ(ev.addr, 1u);
  recoverable("value does not fit in SIZE bytes at byte offset 16");
  recoverable("'mode bare' must be the first event");
  ASSERT_TRUE(r.next(ev));
  EXPECT_EQ(ev.line, 5u);
  EXPECT_EQ(ev.addr, 2u);
  EXPECT_FALSE(r.next(ev));
}

// ---------------------------------------------------------------- damaged traces

TEST_F(TraceRoundtripTest, EveryTruncationPointIsAnError) {
  const std::vector<Event> evs = read_text(tmp_.write("all.trace", kEverything));
  const std::string bytes = to_binary_bytes(evs);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    const std::string p = tmp_.write("cut.bin", bytes.substr(0, n));
    bool fatal = false;
    std::string msg;
    const std::vector<Event> got = drain(p, fatal, &msg);
    ASSERT_TRUE(fatal) << "no error when cut at " << n;
    EXPECT_TRUE(msg.find("truncated") != std::string::npos) << msg;
    // What was read is a prefix of the trace.
    ASSERT_LE(got.size(), evs.size());
    for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], evs[i]) << "cut at " << n;
  }
}

TEST_F(TraceRoundtripTest, FlippedBytesNeverCrash) {
  std::vector<Event> evs = read_text(tmp_.write("all.trace", kEverything));
  AccessGen gen(3, true);
  const std::uint64_t last = evs.back().line;
  for (int i = 0; i < 200; ++i) {
    Event e = gen.next();
    e.line += last;
    evs.push_back(e);
  }
  const std::string bytes = to_binary_bytes(evs);
  Rng rng(99);
  std::size_t errors = 0, clean = 0;
  for (std::size_t pos = 0; pos < bytes.size(); ++pos) {
    for (int k = 0; k < 3; ++k) {
      std::string bad = bytes;
      bad[pos] = static_cast<char>(bad[pos] ^ (k == 0 ? 0x80 : k == 1 ? 0x01 : static_cast<int>(1 + rng() % 255)));
      const std::string p = tmp_.write("flip.bin", bad);
      bool fatal = false;
      drain(p, fatal);
      (fatal ? errors : clean) += 1;
    }
  }
  std::cout << "flipped bytes: " << errors << " fatal errors, " << clean << " read to the end\n";
  EXPECT_GT(errors, 0u);
}

// ---------------------------------------------------------------- compressed

TEST_F(TraceRoundtripTest, CompressedBinaryTraces) {
  // Read into fresh Events, as the generated ones are.
  std::vector<Event> evs = read_text(tmp_.write("all.trace", kEverything), false);
  AccessGen gen(5, true);
  const std::uint64_t last = evs.back().line;
  for (int i = 0; i < 100000; ++i) {
    Event e = gen.next();
    e.line += last;
    evs.push_back(e);
  }
  const std::string bin = write_binary(tmp_.path("t.bin"), evs);
  for (const char* tool : {"gzip", "xz", "zstd -q"}) {
    const std::string out = tmp_.path("t.z");
    const std::string cmd = std::string(tool) + " -c " + bin + " > " + out + " 2>/dev/null";
    if (std::system(cmd.c_str()) != 0) {
      std::cout << "skipped: " << tool << " is not available\n";
      continue;
    }
    EXPECT_EQ(detect_format(out), Format::Binary) << tool;
    expect_same(evs, read_binary(out, false));
    // Cut in the middle: an error, never a silent end.
    const std::string z = slurp(out);
    bool fatal = false;
    std::string msg;
    const std::string cut = tmp_.write("cut.z", z.substr(0, z.size() / 2));
    const std::vector<Event> got = drain(cut, fatal, &msg);
    EXPECT_TRUE(fatal) << tool;
    EXPECT_LT(got.size(), evs.size());
    std::cout << tool << ": " << msg << "\n";
  }
}

}  // namespace
}  // namespace mmusim::traces
