// Tests of the text trace reader against ../shared/TRACE_FORMAT.md: every keyword and
// option, the lexical rules, and the exact location of every kind of error. Test data,
// compressed files included, is generated into a temporary directory at run time.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "trace_file_support.hpp"
#include "traces/input.hpp"
#include "traces/text_reader.hpp"
#include "traces/trace_error.hpp"

namespace mmusim::traces {

// Found by ADL, so that gtest names the format in parameterized test output.
void PrintTo(Compression c, std::ostream* os) { *os << compression_name(c); }

namespace {


class TraceReaderTest : public trace_test::TraceFileTest {
 protected:
  static std::string slurp(const std::string& path) {
    std::ostringstream s;
    s << std::ifstream(path, std::ios::binary).rdbuf();
    return s.str();
  }

  std::vector<Event> read_path(const std::string& path) {
    TextReader r(path);
    std::vector<Event> out;
    Event ev;
    while (r.next(ev)) {
      EXPECT_EQ(r.line(), ev.line);
      out.push_back(ev);
    }
    return out;
  }
  std::vector<Event> read_all(const std::string& text) { return read_path(write("t.trace", text)); }
  Event one(const std::string& line) {
    std::vector<Event> evs = read_all(line + "\n");
    EXPECT_EQ(evs.size(), 1u) << line;
    return evs.empty() ? Event{} : evs[0];
  }
  // The first error the text raises.
  TraceError error_of(const std::string& text) {
    try {
      read_all(text);
    } catch (const TraceError& e) {
      return e;
    }
    ADD_FAILURE() << "no error for: " << text;
    return TraceError("", 0, 0, "");
  }
};

// A trace of accesses whose addresses depend on the line, so that a wrong, lost or
// half line shows. Not very compressible, so that cutting the file cuts the data.
struct Numbered {
  std::string text;
  std::vector<std::uint64_t> addr;  // addr[i]: of line i + 1
};
Numbered numbered_trace(int n) {
  Numbered t;
  std::uint64_t x = 88172645463325252ull;
  for (int i = 1; i <= n; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    std::string hex = std::to_string(i) + "0" + std::to_string(x % 1000000);
    t.text += "r 0x" + hex + " 8\n";
    t.addr.push_back(std::stoull(hex, nullptr, 16));
  }
  return t;
}

// ---------------------------------------------------------------- accesses

TEST_F(TraceReaderTest, AccessDefaultsAndNumberForms) {
  auto evs = read_all("r 0x7f0000001000\nw 4096\nx 0XABCdef\nr 0x10 2\nw 0x20 0x4\n");
  ASSERT_EQ(evs.size(), 5u);
  EXPECT_EQ(evs[0].op, Op::Read);
  EXPECT_EQ(evs[0].addr, 0x7f0000001000u);
  EXPECT_EQ(evs[0].size, 8u);
  EXPECT_EQ(evs[1].op, Op::Write);
  EXPECT_EQ(evs[1].addr, 4096u);
  EXPECT_EQ(evs[1].size, 8u);
  EXPECT_EQ(evs[2].op, Op::Fetch);
  EXPECT_EQ(evs[2].addr, 0xabcdefu);
  EXPECT_EQ(evs[2].size, 1u);
  EXPECT_EQ(evs[3].size, 2u);
  EXPECT_EQ(evs[4].size, 4u);
  for (const Event& e : evs) EXPECT_FALSE(e.has_value || e.supervisor || e.implicit || e.stack || e.rmw);
  EXPECT_EQ(one("r 0xffffffffffffffff").addr, ~0ull);
  EXPECT_EQ(one("r 18446744073709551615").addr, ~0ull);
}

TEST_F(TraceReaderTest, AccessValues) {
  Event e = one("r 0x1000 4 =0xdeadBEEF");
  EXPECT_EQ(e.size, 4u);
  EXPECT_TRUE(e.has_value);
  EXPECT_EQ(e.value, 0xdeadbeefu);
  e = one("w 0x1000 =5");  // legal with the default size
  EXPECT_EQ(e.size, 8u);
  EXPECT_TRUE(e.has_value);
  EXPECT_EQ(e.value, 5u);
  e = one("w 0x1000 1 =255 user=0");
  EXPECT_EQ(e.value, 255u);
  EXPECT_TRUE(e.supervisor);
  EXPECT_EQ(one("r 0x1000 2K").size, 2048u);
}

TEST_F(TraceReaderTest, AccessOptionsInAnyOrder) {
  Event e = one("w 0x1000 8 rmw stack implicit user=0");
  EXPECT_TRUE(e.rmw && e.stack && e.implicit && e.supervisor);
  e = one("r 0x1000 user=1 implicit");
  EXPECT_FALSE(e.supervisor || e.stack || e.rmw);
  EXPECT_TRUE(e.implicit);
  e = one("x 0x1000 user=0 stack");
  EXPECT_EQ(e.op, Op::Fetch);
  EXPECT_TRUE(e.supervisor && e.stack);
}

TEST_F(TraceReaderTest, Expectations) {
  Event e = one("r 0x1000 expect=0x5000");
  EXPECT_EQ(e.expect, Expect::PhysAddr);
  EXPECT_EQ(e.expect_value, 0x5000u);
  e = one("w 0x1000 expect=#PF:0x7");  // '#' inside a token is no comment
  EXPECT_EQ(e.expect, Expect::PageFault);
  EXPECT_EQ(e.expect_value, 7u);
  EXPECT_TRUE(e.expect_has_code);
  EXPECT_EQ(one("r 0x8000000000000000 expect=#GP").expect, Expect::GeneralProtection);
  EXPECT_EQ(one("r 0x8000000000000000 stack expect=#SS").expect, Expect::StackFault);
  e = one("r 0 expect=SIGSEGV");
  EXPECT_EQ(e.expect, Expect::Sigsegv);
  EXPECT_EQ(e.expect_segv, SegvCode::Any);
  EXPECT_FALSE(e.expect_has_code);
  EXPECT_EQ(one("r 0 expect=SIGSEGV:MAPERR").expect_segv, SegvCode::MapErr);
  e = one("w 0x1000 expect=SIGSEGV:ACCERR");
  EXPECT_EQ(e.expect_segv, SegvCode::AccErr);
  EXPECT_FALSE(e.expect_has_code);
  e = one("w 0x1000 expect=SIGSEGV:ACCERR:0x7");
  EXPECT_EQ(e.expect_segv, SegvCode::AccErr);
  EXPECT_TRUE(e.expect_has_code);
  EXPECT_EQ(e.expect_value, 7u);
  EXPECT_EQ(one("r 0x2000 expect=SIGBUS").expect, Expect::Sigbus);
}

TEST_F(TraceReaderTest, Print) {
  Event e = one("print 0x1000 4 \"counter value\" user=0");
  EXPECT_EQ(e.op, Op::Print);
  EXPECT_EQ(e.addr, 0x1000u);
  EXPECT_EQ(e.size, 4u);
  EXPECT_EQ(e.name, "counter value");
  EXPECT_TRUE(e.supervisor);
}

// ---------------------------------------------------------------- OS events

TEST_F(TraceReaderTest, ContextAndProcessEvents) {
  auto evs = read_all(
      "cpu 3\nswitch 42\nspawn 1\nspawn 2 \"my app\" automap\nspawn 3 automap\n"
      "fork 1 5\nthread 1 7\nexec 5 \"/bin/sh\"\nexec 6\nexit 5\n");
  ASSERT_EQ(evs.size(), 10u);
  EXPECT_EQ(evs[0].op, Op::Cpu);
  EXPECT_EQ(evs[0].pid, 3u);
  EXPECT_EQ(evs[1].op, Op::Switch);
  EXPECT_EQ(evs[1].pid, 42u);
  EXPECT_EQ(evs[2].op, Op::Spawn);
  EXPECT_EQ(evs[2].name, "");
  EXPECT_FALSE(evs[2].automap);
  EXPECT_EQ(evs[3].name, "my app");
  EXPECT_TRUE(evs[3].automap);
  EXPECT_EQ(evs[4].name, "");
  EXPECT_TRUE(evs[4].automap);
  EXPECT_EQ(evs[5].op, Op::Fork);
  EXPECT_EQ(evs[5].pid, 1u);
  EXPECT_EQ(evs[5].pid2, 5u);
  EXPECT_EQ(evs[6].op, Op::Thread);
  EXPECT_EQ(evs[6].pid2, 7u);
  EXPECT_EQ(evs[7].op, Op::Exec);
  EXPECT_EQ(evs[7].name, "/bin/sh");
  EXPECT_EQ(evs[8].name, "");
  EXPECT_EQ(evs[9].op, Op::Exit);
  EXPECT_EQ(evs[9].pid, 5u);
}

TEST_F(TraceReaderTest, MmapAndOptions) {
  Event e = one("mmap 1 0x400000 2M r-x");
  EXPECT_EQ(e.op, Op::Mmap);
  EXPECT_EQ(e.pid, 1u);
  EXPECT_EQ(e.addr, 0x400000u);
  EXPECT_EQ(e.size, 2u << 20);
  EXPECT_TRUE(e.prot.read && e.prot.exec && !e.prot.write);
  EXPECT_FALSE(e.shared || e.populate || e.huge || e.fixed);
  EXPECT_TRUE(e.file.empty());
  e = one("mmap 2 0x10000 0x3000 rw- name=\"heap 1\" fixed huge populate offset=8K shared file=\"C:\\my lib.dll\"");
  EXPECT_TRUE(e.shared && e.populate && e.huge && e.fixed);
  EXPECT_EQ(e.file, "C:\\my lib.dll");
  EXPECT_EQ(e.offset, 8192u);
  EXPECT_EQ(e.name, "heap 1");
  EXPECT_EQ(e.size, 0x3000u);
  EXPECT_EQ(one("mmap 1 0 4K rw- file=libc.so").file, "libc.so");
}

TEST_F(TraceReaderTest, MprotectMunmapMadvise) {
  auto evs = read_all(
      "mprotect 1 0x1000 4K r--\nmunmap 1 0x1000 1G\nmadvise 1 0 2M DONTNEED\n"
      "madvise 1 0 2M HUGEPAGE\nmadvise 1 0 2M NOHUGEPAGE\n");
  ASSERT_EQ(evs.size(), 5u);
  EXPECT_EQ(evs[0].op, Op::Mprotect);
  EXPECT_TRUE(evs[0].prot.read && !evs[0].prot.write);
  EXPECT_EQ(evs[1].op, Op::Munmap);
  EXPECT_EQ(evs[1].size, 1ull << 30);
  EXPECT_EQ(evs[2].op, Op::Madvise);
  EXPECT_EQ(evs[2].advice, Advice::DontNeed);
  EXPECT_EQ(evs[3].advice, Advice::HugePage);
  EXPECT_EQ(evs[4].advice, Advice::NoHugePage);
}

TEST_F(TraceReaderTest, FileMarkExpect) {
  auto evs = read_all(
      "file \"data.bin\" 0x3000\nfile shm 1M fs=tmpfs\nfile x 4K fs=ext4\nmark \"phase two\"\n"
      "expect 1 minflt=12\nexpect 2 majflt=3 minflt=0x10\n");
  ASSERT_EQ(evs.size(), 6u);
  EXPECT_EQ(evs[0].op, Op::File);
  EXPECT_EQ(evs[0].file, "data.bin");
  EXPECT_EQ(evs[0].size, 0x3000u);
  EXPECT_FALSE(evs[0].fs_tmpfs);
  EXPECT_TRUE(evs[1].fs_tmpfs);
  EXPECT_FALSE(evs[2].fs_tmpfs);
  EXPECT_EQ(evs[3].op, Op::Mark);
  EXPECT_EQ(evs[3].name, "phase two");
  EXPECT_EQ(evs[4].op, Op::ExpectFaults);
  EXPECT_EQ(evs[4].minflt, 12u);
  EXPECT_FALSE(evs[4].has_majflt);
  EXPECT_EQ(evs[5].minflt, 16u);
  EXPECT_EQ(evs[5].majflt, 3u);
  EXPECT_TRUE(evs[5].has_majflt);
}

TEST_F(TraceReaderTest, PosixProtections) {
  struct Case { const char* text; bool r, w, x; };
  for (Case c : {Case{"---", 0, 0, 0}, {"r--", 1, 0, 0}, {"rw-", 1, 1, 0}, {"r-x", 1, 0, 1}, {"rwx", 1, 1, 1},
                 {"-w-", 0, 1, 0}, {"-wx", 0, 1, 1}, {"--x", 0, 0, 1}}) {
    Prot p = one(std::string("mprotect 1 0 4K ") + c.text).prot;
    EXPECT_EQ(p.read, c.r) << c.text;
    EXPECT_EQ(p.write, c.w) << c.text;
    EXPECT_EQ(p.exec, c.x) << c.text;
    EXPECT_EQ(p.windows, 0) << c.text;
    EXPECT_FALSE(p.writecopy) << c.text;
  }
}

TEST_F(TraceReaderTest, WindowsProtections) {
  struct Case { const char* text; unsigned value; bool r, w, x, wc; };
  for (Case c : {Case{"PAGE_NOACCESS", 0x01, 0, 0, 0, 0}, {"PAGE_READONLY", 0x02, 1, 0, 0, 0},
                 {"PAGE_READWRITE", 0x04, 1, 1, 0, 0}, {"PAGE_WRITECOPY", 0x08, 1, 1, 0, 1},
                 {"PAGE_EXECUTE", 0x10, 1, 0, 1, 0}, {"PAGE_EXECUTE_READ", 0x20, 1, 0, 1, 0},
                 {"PAGE_EXECUTE_READWRITE", 0x40, 1, 1, 1, 0}, {"PAGE_EXECUTE_WRITECOPY", 0x80, 1, 1, 1, 1}}) {
    Prot p = one(std::string("mmap 1 0x10000 64K ") + c.text).prot;
    EXPECT_EQ(p.windows, c.value) << c.text;
    EXPECT_EQ(p.read, c.r) << c.text;
    EXPECT_EQ(p.write, c.w) << c.text;
    EXPECT_EQ(p.exec, c.x) << c.text;
    EXPECT_EQ(p.writecopy, c.wc) << c.text;
  }
}

// ---------------------------------------------------------------- bare mode

TEST_F(TraceReaderTest, BareModeEvents) {
  auto evs = read_all(
      "# page tables by hand\nmode bare\npoke 0x1000 0x2003\npoke 0x2000 0xff 1\npeek 0x1000\n"
      "peek 0x1000 4 =0x2003\npeek 0x2000 =0xff\nset cr3=0x1000 cr0.wp=0 cpl=3 pkru=0xfffffffc cr4.pcide=1\n"
      "set cr4.pge=1 cr4.smep=1 cr4.smap=1 cr4.pke=1 cr4.la57=0 efer.nxe=1 rflags.ac=1\n"
      "set cr0.pg=1 cr4.pae=1 efer.lme=1 maxphyaddr=52\ninvlpg 0x7000\ninvpcid 2\ninvpcid 1 5\ninvpcid 0 5 0x7000\n");
  ASSERT_EQ(evs.size(), 13u);
  EXPECT_EQ(evs[0].op, Op::Mode);
  EXPECT_EQ(evs[0].name, "bare");
  EXPECT_EQ(evs[0].line, 2u);
  EXPECT_EQ(evs[1].op, Op::Poke);
  EXPECT_EQ(evs[1].addr, 0x1000u);
  EXPECT_EQ(evs[1].value, 0x2003u);
  EXPECT_EQ(evs[1].size, 8u);
  EXPECT_EQ(evs[2].size, 1u);
  EXPECT_EQ(evs[3].op, Op::Peek);
  EXPECT_FALSE(evs[3].has_value);
  EXPECT_EQ(evs[3].size, 8u);
  EXPECT_EQ(evs[4].size, 4u);
  EXPECT_TRUE(evs[4].has_value);
  EXPECT_EQ(evs[4].value, 0x2003u);
  EXPECT_EQ(evs[5].size, 8u);
  EXPECT_EQ(evs[5].value, 0xffu);
  EXPECT_EQ(evs[6].op, Op::Set);
  using S = std::vector<std::pair<std::string, std::uint64_t>>;
  EXPECT_EQ(evs[6].sets, (S{{"cr3", 0x1000}, {"cr0.wp", 0}, {"cpl", 3}, {"pkru", 0xfffffffc}, {"cr4.pcide", 1}}));
  EXPECT_EQ(evs[7].sets.size(), 7u);
  EXPECT_EQ(evs[8].sets, (S{{"cr0.pg", 1}, {"cr4.pae", 1}, {"efer.lme", 1}, {"maxphyaddr", 52}}));
  EXPECT_EQ(evs[9].op, Op::Invlpg);
  EXPECT_EQ(evs[9].addr, 0x7000u);
  EXPECT_EQ(evs[10].op, Op::Invpcid);
  EXPECT_EQ(evs[10].invpcid_type, 2u);
  EXPECT_EQ(evs[11].invpcid_pcid, 5u);
  EXPECT_EQ(evs[12].invpcid_type, 0u);
  EXPECT_EQ(evs[12].invpcid_pcid, 5u);
  EXPECT_EQ(evs[12].addr, 0x7000u);
}

// ---------------------------------------------------------------- lexical rules

TEST_F(TraceReaderTest, CommentsBlankLinesAndLineNumbers) {
  auto evs = read_all(
      "# a comment\n\n   \t \nr 0x1000 # trailing comment\n\tw\t0x2000\t2\t\n"
      "mark \"#not a comment\" # but this is\nr 0x3000 expect=#PF:0x5 #PF\n");
  ASSERT_EQ(evs.size(), 4u);
  EXPECT_EQ(evs[0].line, 4u);
  EXPECT_EQ(evs[0].size, 8u);
  EXPECT_EQ(evs[1].line, 5u);
  EXPECT_EQ(evs[1].size, 2u);
  EXPECT_EQ(evs[2].name, "#not a comment");
  EXPECT_EQ(evs[3].expect, Expect::PageFault);
  EXPECT_EQ(evs[3].expect_value, 5u);
}

TEST_F(TraceReaderTest, CrLfBomAndMissingFinalNewline) {
  auto evs = read_all("\xEF\xBB\xBFr 0x1000 4\r\nmark \"a\"\r\nw 0x2000");
  ASSERT_EQ(evs.size(), 3u);
  EXPECT_EQ(evs[0].size, 4u);
  EXPECT_EQ(evs[1].name, "a");
  EXPECT_EQ(evs[2].op, Op::Write);
  EXPECT_EQ(evs[2].line, 3u);
}

TEST_F(TraceReaderTest, Suffixes) {
  EXPECT_EQ(one("munmap 1 0 4K").size, 4096u);
  EXPECT_EQ(one("munmap 1 0 2M").size, 2u << 20);
  EXPECT_EQ(one("munmap 1 0 1G").size, 1u << 30);
  EXPECT_EQ(one("munmap 1 0 0x10K").size, 16u << 10);
  EXPECT_EQ(one("file f 3G").size, 3ull << 30);
  EXPECT_EQ(error_of("munmap 1 0 4k\n").column, 12u);  // suffixes are upper case
  EXPECT_EQ(error_of("r 4K\n").message, "bad number '4K' (expected decimal or 0x hexadecimal)");  // not on addresses
}

TEST_F(TraceReaderTest, StorageIsReusedAndFieldsReset) {
  auto evs = read_all("mmap 1 0 4K rw- file=a shared name=n\nmunmap 1 0 4K\nset cr3=1\nr 0x10\n");
  ASSERT_EQ(evs.size(), 4u);
  EXPECT_TRUE(evs[1].file.empty());
  EXPECT_TRUE(evs[1].name.empty());
  EXPECT_FALSE(evs[1].shared);
  EXPECT_TRUE(evs[3].sets.empty());
}

TEST_F(TraceReaderTest, VersionLine) {
  auto evs = read_all("# header comment\n\nmmutrace 1\nr 0x1000\n");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].line, 4u);
  EXPECT_EQ(read_all("mmutrace 0x1\n").size(), 0u);
  EXPECT_EQ(read_all("mmutrace 1\nmode bare\n").size(), 1u);  // `mode bare` is still the first event
}

// ---------------------------------------------------------------- errors

TEST_F(TraceReaderTest, ErrorUnknownKeyword) {
  std::string path = write("t.trace", "r 0x1000\n\n  wrte 0x1000\n");
  try {
    read_path(path);
    FAIL() << "no error";
  } catch (const TraceError& e) {
    EXPECT_EQ(e.file, path);
    EXPECT_EQ(e.line, 3u);
    EXPECT_EQ(e.column, 3u);
    EXPECT_TRUE(e.recoverable);
    EXPECT_EQ(std::string(e.what()),
              path + ":3:3: error: unknown keyword 'wrte' (expected r, w, x, print, cpu, switch, spawn, mmap, "
                     "mprotect, munmap, fork, thread, madvise, exec, exit, file, mark, expect, mode, poke, peek, "
                     "set, invlpg, invpcid)");
  }
}

TEST_F(TraceReaderTest, ErrorBadNumber) {
  TraceError e = error_of("r 0x1000\nprint 0x1g 8 x\n");
  EXPECT_EQ(e.line, 2u);
  EXPECT_EQ(e.column, 7u);
  EXPECT_EQ(e.message, "bad number '0x1g' (expected decimal or 0x hexadecimal)");
  EXPECT_EQ(error_of("r 0x\n").column, 3u);
  EXPECT_EQ(error_of("r -1\n").column, 3u);
  EXPECT_EQ(error_of("w 0x1000 =0xz\n").column, 11u);  // the value after '='
  EXPECT_EQ(error_of("r 0x1000 expect=#PF:0xq\n").column, 21u);
  e = error_of("r 0x10000000000000000\n");
  EXPECT_EQ(e.column, 3u);
  EXPECT_EQ(e.message, "number '0x10000000000000000' out of range (expected at most 64 bits)");
  e = error_of("mmap 1 0 4K rw- offset=4x file=a\n");
  EXPECT_EQ(e.column, 24u);
  EXPECT_NE(e.message.find("'4x'"), std::string::npos);
  EXPECT_EQ(error_of("spawn 4294967296\n").column, 7u);
}

TEST_F(TraceReaderTest, ErrorUnknownOption) {
  TraceError e = error_of("r 0x1000 8 user=0 sizes=4\n");
  EXPECT_EQ(e.line, 1u);
  EXPECT_EQ(e.column, 19u);
  EXPECT_EQ(e.message, "unknown option 'sizes=4' for r (expected user=, implicit, stack, rmw, expect=)");
  e = error_of("mmap 1 0 4K rw- sharde\n");
  EXPECT_EQ(e.column, 17u);
  EXPECT_EQ(e.message,
            "unknown flag 'sharde' for mmap (expected shared, file=, offset=, populate, huge, fixed, name=)");
  EXPECT_EQ(error_of("x 0x1000 rmw\n").column, 10u);                    // no locked fetch
  EXPECT_EQ(error_of("r 0x1000 user=2\n").column, 15u);                 // user is 0 or 1
  EXPECT_EQ(error_of("r 0x1000 stack stack\n").column, 16u);            // duplicate
  EXPECT_EQ(error_of("r 0x1000 expect=#XX\n").column, 17u);
  EXPECT_EQ(error_of("spawn 1 bash\n").column, 9u);                     // names are quoted
  EXPECT_EQ(error_of("file f 4K fs=ntfs\n").column, 14u);
  EXPECT_EQ(error_of("mmap 1 0 4K rw- offset=4K\n").column, 17u);       // offset without file
  EXPECT_EQ(error_of("set cr3=1 cr9=0\n").message.substr(0, 30), "unknown register 'cr9' in set ");
  EXPECT_EQ(error_of("set cr3=1 cr9=0\n").column, 11u);
  EXPECT_EQ(error_of("set cr0.wp=2\n").column, 12u);
  EXPECT_EQ(error_of("madvise 1 0 4K FREE\n").column, 16u);
}

TEST_F(TraceReaderTest, ErrorMissingAndExtraArguments) {
  TraceError e = error_of("mmap 1 0x1000 4K\n");
  EXPECT_EQ(e.column, 17u);  // just past the last token
  EXPECT_EQ(e.message, "missing PROT (usage: mmap PID ADDR LEN PROT [options])");
  EXPECT_EQ(error_of("r\n").message, "missing ADDR (usage: r ADDR [SIZE] [=VALUE] [options])");
  EXPECT_EQ(error_of("print 0x1000 8\n").column, 15u);
  EXPECT_EQ(error_of("expect 1 majflt=0\n").message, "missing minflt=N (usage: expect PID minflt=N [majflt=N])");
  EXPECT_EQ(error_of("set\n").column, 4u);
  e = error_of("fork 1 2 3\n");
  EXPECT_EQ(e.column, 10u);
  EXPECT_EQ(e.message, "extra argument '3' (usage: fork PARENT CHILD)");
  EXPECT_EQ(error_of("x 0x1000 1 =5\n").column, 12u);        // a fetch carries no value
  EXPECT_EQ(error_of("r 0x1000 user=0 8\n").column, 17u);    // positional after an option
  EXPECT_EQ(error_of("r 0x1000 0\n").column, 10u);           // size 0
  EXPECT_EQ(error_of("r 0x1000 4097\n").column, 10u);
  EXPECT_EQ(error_of("r 0x1000 1 =256\n").column, 12u);      // value wider than the access
  EXPECT_EQ(error_of("mark \"open\n").column, 6u);
  EXPECT_EQ(error_of("mark \"open\n").message, "unterminated quoted string");
  EXPECT_EQ(error_of("mark a\"b\"\n").column, 6u);
}

TEST_F(TraceReaderTest, ErrorBadProt) {
  TraceError e = error_of("spawn 1\nmmap 1 0x1000 4K rw\n");
  EXPECT_EQ(e.line, 2u);
  EXPECT_EQ(e.column, 18u);
  EXPECT_EQ(e.message.substr(0, 26), "bad protection 'rw' (expec");
  EXPECT_EQ(error_of("mprotect 1 0 4K PAGE_GUARD\n").column, 17u);
  EXPECT_EQ(error_of("mprotect 1 0 4K wr-\n").column, 17u);
}

TEST_F(TraceReaderTest, ErrorVersion) {
  TraceError e = error_of("# v2 trace\nmmutrace 2\nr 0x1000\n");
  EXPECT_EQ(e.line, 2u);
  EXPECT_EQ(e.column, 10u);
  EXPECT_EQ(e.message, "unknown format version '2' (expected 1)");
  EXPECT_FALSE(e.recoverable);
  e = error_of("r 0x1000\nmmutrace 1\n");
  EXPECT_EQ(e.line, 2u);
  EXPECT_EQ(e.column, 1u);
}

TEST_F(TraceReaderTest, ErrorModeBareNotFirst) {
  TraceError e = error_of("mmutrace 1\n# bare\nspawn 1\n mode bare\n");
  EXPECT_EQ(e.line, 4u);
  EXPECT_EQ(e.column, 2u);
  EXPECT_EQ(e.message, "'mode bare' must be the first event of the trace");
  EXPECT_EQ(error_of("mode os\n").column, 6u);
}

TEST_F(TraceReaderTest, ColumnsCountCharactersNotBytes) {
  EXPECT_EQ(error_of("mark \"\xC3\xA9t\xC3\xA9\" 5\n").column, 12u);  // "été" is 5 columns
}

TEST_F(TraceReaderTest, MalformedLineCanBeSkipped) {
  std::string path = write("t.trace", "r 0x1\nbogus\nr 0x3 0\nw 0x4\n");
  TextReader r(path);
  Event ev;
  std::vector<std::uint64_t> good, bad;
  for (;;) {
    try {
      if (!r.next(ev)) break;
      good.push_back(ev.addr);
    } catch (const TraceError& e) {
      ASSERT_TRUE(e.recoverable);
      bad.push_back(e.line);
    }
  }
  EXPECT_EQ(good, (std::vector<std::uint64_t>{1, 4}));
  EXPECT_EQ(bad, (std::vector<std::uint64_t>{2, 3}));
}

TEST_F(TraceReaderTest, ErrorMissingFile) {
  std::string path = dir_ + "/absent.trace";
  try {
    TextReader r(path);
    FAIL() << "opened a missing file";
  } catch (const TraceError& e) {
    EXPECT_EQ(e.line, 0u);
    EXPECT_EQ(std::string(e.what()), path + ": error: cannot open: No such file or directory");
  }
}

// ---------------------------------------------------------------- buffering

TEST_F(TraceReaderTest, LinesAcrossBlocksAndLongLines) {
  Numbered t = numbered_trace(150000);  // several 1 MiB blocks
  std::string big(3 << 20, 'x');         // longer than a block
  auto evs = read_all(t.text + "mark \"" + big + "\"\nr 0x42\n");
  ASSERT_EQ(evs.size(), 150002u);
  for (std::size_t i = 0; i < 150000; ++i) ASSERT_EQ(evs[i].addr, t.addr[i]) << "line " << i + 1;
  EXPECT_EQ(evs[150000].name, big);
  EXPECT_EQ(evs[150001].addr, 0x42u);
  EXPECT_EQ(evs[150001].line, 150002u);
}

// ---------------------------------------------------------------- compression

class CompressionTest : public TraceReaderTest, public ::testing::WithParamInterface<Compression> {};

TEST_P(CompressionTest, DetectedByMagicBytes) {
  Numbered t = numbered_trace(200000);
  std::string path = compress("valid.trace", "mmutrace 1\nspawn 1 \"p\"\nmmap 1 0x1000 4K rw-\n" + t.text, GetParam());
  EXPECT_EQ(Input(path).compression(), GetParam());
  auto evs = read_path(path);
  ASSERT_EQ(evs.size(), 200002u);
  EXPECT_EQ(evs[0].name, "p");
  EXPECT_EQ(evs[1].prot.write, true);
  for (std::size_t i = 0; i < 200000; ++i) ASSERT_EQ(evs[i + 2].addr, t.addr[i]) << "line " << i + 4;
  EXPECT_EQ(evs.back().line, 200003u);
}

TEST_P(CompressionTest, ConcatenatedStreams) {
  std::string a = numbered_trace(1000).text, b = "w 0x77\n";
  std::string bytes = slurp(compress("a", a, GetParam())) + slurp(compress("b", b, GetParam()));
  auto evs = read_path(write("ab.trace", bytes));
  ASSERT_EQ(evs.size(), 1001u);
  EXPECT_EQ(evs.back().addr, 0x77u);
}

TEST_P(CompressionTest, TruncatedIsAnErrorAtTheLastGoodLine) {
  const char* name = compression_name(GetParam());
  Numbered t = numbered_trace(60000);
  std::string bytes = slurp(compress("full", t.text, GetParam()));
  for (std::size_t keep : {bytes.size() / 2, bytes.size() - 1}) {
    std::string path = write("cut.trace", bytes.substr(0, keep));
    TextReader r(path);
    Event ev;
    std::uint64_t n = 0;
    try {
      while (r.next(ev)) {
        ++n;
        ASSERT_EQ(ev.addr, t.addr[n - 1]) << "line " << n << " of a file cut at " << keep;
      }
      FAIL() << "silent end after " << n << " lines of a file cut at " << keep;
    } catch (const TraceError& e) {
      EXPECT_FALSE(e.recoverable);
      EXPECT_EQ(e.line, n);
      EXPECT_LT(n, 60000u);
      EXPECT_EQ(e.column, 0u);
      EXPECT_EQ(std::string(e.what()),
                path + ":" + std::to_string(n) + ": error: truncated or corrupt " + name + " data");
    }
    EXPECT_THROW(r.next(ev), TraceError);  // and stays failed
  }
}

TEST_P(CompressionTest, CorruptIsAnError) {
  std::string bytes = slurp(compress("full", numbered_trace(20000).text, GetParam()));
  for (std::size_t i = bytes.size() / 3; i < bytes.size() / 3 + 64; ++i) bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);
  TextReader r(write("bad.trace", bytes));
  Event ev;
  for (;;) {
    try {
      ASSERT_TRUE(r.next(ev)) << "corruption not detected";
    } catch (const TraceError& e) {
      if (e.recoverable) continue;  // damaged text that still decoded
      EXPECT_NE(e.message.find("truncated or corrupt"), std::string::npos) << e.what();
      break;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, CompressionTest,
                         ::testing::Values(Compression::Gzip, Compression::Xz, Compression::Zstd),
                         [](const auto& info) { return std::string(compression_name(info.param)); });

TEST_F(TraceReaderTest, PlainFileIsNotDecompressed) {
  std::string path = write("p.trace", "r 0x1f8b\n");
  EXPECT_EQ(Input(path).compression(), Compression::None);
  EXPECT_EQ(read_path(path).size(), 1u);
  EXPECT_EQ(read_all("").size(), 0u);
  EXPECT_EQ(error_of("r").line, 1u);  // one byte: shorter than any magic
}

}  // namespace
}  // namespace mmusim::traces
