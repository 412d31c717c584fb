// Bad OS events on the command line: each is either a clear error (exit status 2,
// one stderr line `mmusim: FILE:LINE: error: ...` naming the event's line, the run
// stopped there) or, where Linux accepts the call, the documented Linux behaviour
// (exit status 0, checked by the trace's own expectations). With --keep-going a
// refused event is skipped with a warning naming its line, the rest of the trace
// runs, and the exit status is still 2. The kernel-level side is in
// kernel_bad_events_test.cpp.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli_support.hpp"

namespace {

using cli_test::Result;
namespace fs = std::filesystem;

class CliErrors : public cli_test::TempDirTest {
 protected:
  // Writes the trace as t.trace and runs `mmusim run --quiet --check [extra] t.trace`.
  Result run(const std::string& trace, const std::string& extra = "") {
    return mmusim("run --quiet --check " + extra + " " + write("t.trace", trace));
  }

  // A refused event: exit 2, and stderr is exactly one line, the error at `line`.
  void expect_refused(const Result& r, int line, const std::string& message) {
    EXPECT_EQ(r.status, 2) << r.all();
    const std::string want = "mmusim: " + (dir_ / "t.trace").string() + ":" + std::to_string(line) + ": error: " +
                             message + "\n";
    EXPECT_EQ(r.err, want) << r.all();
  }

};

// Not MAP_FIXED over an existing mapping: refused, the run stops at that line.
TEST_F(CliErrors, OverlappingMmapWithoutFixedIsAnError) {
  const std::string trace =
      "spawn 1\n"
      "mmap 1 0x10000 8K rw-\n"
      "w 0x10000 8 =7\n"
      "print 0x10000 8 \"before\"\n"
      "mmap 1 0x11000 8K r--\n"
      "print 0x10000 8 \"after\"\n";
  const Result r = run(trace);
  expect_refused(r, 5,
                 "mmap: [0x11000, 0x13000) overlaps the mapping [0x10000, 0x12000); add `fixed` to replace it "
                 "(MAP_FIXED)");
  EXPECT_EQ(r.out, "before: 7\n") << "the lines before ran, none after";

  // --keep-going: skipped with a warning naming the line; the old mapping is
  // untouched, so the next line still reads 7.
  const Result go = run(trace, "--keep-going");
  EXPECT_EQ(go.status, 2) << go.all();
  EXPECT_EQ(go.out, "before: 7\nafter: 7\n") << go.all();
  ASSERT_EQ(go.err_lines("warning").size(), 1u) << go.all();
  EXPECT_NE(go.err_lines("warning")[0].find("t.trace:5: error: mmap: [0x11000, 0x13000) overlaps"), std::string::npos)
      << go.all();
  EXPECT_EQ(go.err_lines("1 lines were skipped").size(), 1u) << go.all();
}

// MAP_FIXED replaces whatever the range covers (Linux: MAP_FIXED unmaps first).
TEST_F(CliErrors, FixedMmapReplacesTheOldMapping) {
  const Result r = run(
      "spawn 1\n"
      "mmap 1 0x10000 8K rw-\n"
      "w 0x10000 8 =7\n"
      "w 0x11000 8 =8\n"
      "mmap 1 0x11000 8K r-- fixed\n"
      "r 0x10000 8 =7                          # below the new mapping: kept\n"
      "r 0x11000 8 =0                          # replaced: fresh memory, the zero page\n"
      "r 0x12000 8 =0\n"
      "w 0x11000 8 =1 expect=SIGSEGV:ACCERR:0x7 # and read-only\n");
  EXPECT_EQ(r.status, 0) << r.all();
  EXPECT_EQ(r.err, "") << r.all();
}

// munmap of a range where nothing is mapped: Linux returns 0 and changes nothing.
TEST_F(CliErrors, MunmapOfNothingSucceedsAndChangesNothing) {
  const Result r = run(
      "spawn 1\n"
      "mmap 1 0x10000 4K rw-\n"
      "w 0x10000 8 =7\n"
      "mark \"munmap of nothing\"\n"
      "munmap 1 0x20000 64K\n"
      "munmap 1 0x11000 4K                     # right above the mapping\n"
      "munmap 1 0x7f0000000000 1G\n"
      "spawn 2\n"
      "munmap 2 0x10000 4K                     # a process with no mapping at all\n"
      "r 0x10000 8 =7\n"
      "expect 1 minflt=0                       # the page is still mapped: no fault\n");
  EXPECT_EQ(r.status, 0) << r.all();
  EXPECT_EQ(r.err, "") << r.all();
}

TEST_F(CliErrors, ForkOfAnUnknownPidIsAnError) {
  expect_refused(run("spawn 1\nfork 9 10\n"), 2, "fork: unknown PID 9");
}

TEST_F(CliErrors, ForkOfAnExitedPidIsAnError) {
  expect_refused(run("spawn 1\nspawn 2\nexit 2\nfork 2 3\n"), 4, "fork: PID 2 has exited");
}

// An access after the running task exited: the CPU runs nothing until a
// `switch`. An error naming the line; with --keep-going it is skipped with a
// warning and the rest runs.
TEST_F(CliErrors, AccessAfterExitIsAnError) {
  const std::string trace =
      "spawn 1\n"
      "mmap 1 0x10000 4K rw-\n"
      "w 0x10000 8 =7\n"
      "exit 1\n"
      "r 0x10000 8 =7\n"
      "spawn 2\n"
      "switch 2\n"
      "mmap 2 0x10000 4K rw-\n"
      "print 0x10000 8 \"fresh\"\n";
  const Result r = run(trace);
  expect_refused(r, 5, "no process runs on CPU 0 (its task exited); a `switch PID` must come first");
  EXPECT_EQ(r.out, "");

  const Result go = run(trace, "--keep-going");
  EXPECT_EQ(go.status, 2) << go.all();
  EXPECT_EQ(go.out, "fresh: 0\n") << "the rest of the trace ran, in process 2's own memory\n" << go.all();
  ASSERT_EQ(go.err_lines("warning").size(), 1u) << go.all();
  EXPECT_NE(go.err_lines("warning")[0].find("t.trace:5: error: no process runs on CPU 0"), std::string::npos)
      << go.all();
  EXPECT_NE(go.err_lines("warning")[0].find("(skipped: --keep-going)"), std::string::npos) << go.all();
  EXPECT_EQ(go.err_lines("1 lines were skipped").size(), 1u) << go.all();
}

// The other ways to name an exited task: switching back to it, or an event for it.
TEST_F(CliErrors, EventsNamingAnExitedTaskAreErrors) {
  expect_refused(run("spawn 1\nspawn 2\nexit 1\nswitch 1\n"), 4, "switch: no live process or thread 1");
  expect_refused(run("spawn 1\nspawn 2\nexit 1\nmmap 1 0x10000 4K rw-\n"), 4, "mmap: PID 1 has exited");
  expect_refused(run("spawn 1\nspawn 2\nswitch 2\nexit 1\nmunmap 1 0x10000 4K\n"), 5, "munmap: PID 1 has exited");
  expect_refused(run("spawn 1\nexit 1\nthread 1 2\n"), 3, "thread: PID 1 has exited");
  expect_refused(run("spawn 1\nexit 1\nexit 1\n"), 3, "exit: PID 1 has exited");
  // `expect` may still name it: its counts outlive it.
  const Result r = run("spawn 1\nmmap 1 0x10000 4K rw-\nw 0x10000\nexit 1\nexpect 1 minflt=1\n");
  EXPECT_EQ(r.status, 0) << r.all();
}

// mprotect over a range with a hole: ENOMEM (do_mprotect_pkey), an error.
TEST_F(CliErrors, MprotectOfARangeWithAHoleIsAnError) {
  const std::string trace =
      "spawn 1\n"
      "mmap 1 0x10000 4K rw-\n"
      "mmap 1 0x12000 4K rw-\n"
      "mprotect 1 0x10000 12K r--\n";
  expect_refused(run(trace), 4, "mprotect: [0x10000, 0x13000) is not entirely mapped (ENOMEM)");
  expect_refused(run("spawn 1\nmmap 1 0x12000 4K rw-\nmprotect 1 0x11000 8K r--\n"), 3,
                 "mprotect: [0x11000, 0x13000) is not entirely mapped (ENOMEM)");
  expect_refused(run("spawn 1\nmprotect 1 0x11000 4K r--\n"), 2,
                 "mprotect: [0x11000, 0x12000) is not entirely mapped (ENOMEM)");
}

// exec gives the process a fresh address space: the old mapping is gone, and an
// access to it is SIGSEGV with SEGV_MAPERR, a user read of a page not present.
TEST_F(CliErrors, ExecThenAccessOfTheOldMappingIsSegvMaperr) {
  const std::string trace =
      "spawn 1\n"
      "mmap 1 0x10000 4K rw-\n"
      "w 0x10000 8 =7\n"
      "exec 1 \"new\"\n"
      "r 0x10000 8";
  const Result ok = run(trace + " expect=SIGSEGV:MAPERR:0x4\n");
  EXPECT_EQ(ok.status, 0) << ok.all();
  EXPECT_EQ(ok.out, "[line 5] pid 1: SIGSEGV (SEGV_MAPERR) at 0x10000, error code 0x4\n") << ok.all();
  EXPECT_EQ(ok.err, "") << ok.all();
  // Without the expectation, the kill is a failed expectation (status 1), not bad input.
  const Result killed = run(trace + "\n");
  EXPECT_EQ(killed.status, 1) << killed.all();
  EXPECT_EQ(killed.err_lines("t.trace:5: expectation failed").size(), 1u) << killed.all();
}

// munmap of two VMAs in two PTE tables: Linux unmaps both and frees the tables.
// (Regression: this used to stop the run with a model error naming no line; see
// kernel_bad_events_test.cpp, MunmapAcrossPageTablesFreesTablesInOrder.)
TEST_F(CliErrors, MunmapAcrossTwoPageTablesRuns) {
  const Result r = run(
      "spawn 1\n"
      "mmap 1 0x7f00001ff000 4K rw-\n"
      "mmap 1 0x7f0000200000 4K r--\n"
      "w 0x7f00001ff000 8 =1\n"
      "r 0x7f0000200000 8 =0\n"
      "munmap 1 0x7f00001ff000 8K\n"
      "r 0x7f0000200000 8 expect=SIGSEGV:MAPERR:0x4\n");
  EXPECT_EQ(r.status, 0) << r.all();
  EXPECT_EQ(r.err, "") << r.all();
}

}  // namespace
