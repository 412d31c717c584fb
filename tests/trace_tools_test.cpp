// The trace tools as a user runs them (issue 5): `mmusim convert` between text and
// binary with the same simulation either way, `mmusim gen`, `mmusim-record` of a real
// program under valgrind, and memory that does not grow with a trace's length.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"

namespace {

using cli_test::Result;
using cli_test::TempDirTest;
namespace fs = std::filesystem;

class TraceTools : public TempDirTest {
 protected:
  nlohmann::json stats(const std::string& trace_args) {
    const std::string out = (dir_ / "stats.json").string();
    const Result r = mmusim("run --quiet --stats " + out + " " + trace_args);
    EXPECT_EQ(r.status, 0) << r.all();
    std::ifstream in(out);
    return nlohmann::json::parse(in);
  }
};

// A trace converted to binary (and compressed) simulates exactly as its text: the
// same program output and every counter of the run.
TEST_F(TraceTools, BinaryAndTextOfTheFlagshipSimulateIdentically) {
  const std::string text = std::string(MMUSIM_EXAMPLES) + "/fork-cow.trace";
  const std::string bin = (dir_ / "fork-cow.mmut.zst").string();
  ASSERT_EQ(mmusim("convert " + text + " " + bin).status, 0);
  const Result a = mmusim("run " + text), b = mmusim("run " + bin);
  ASSERT_EQ(a.status, 0) << a.all();
  ASSERT_EQ(b.status, 0) << b.all();
  EXPECT_NE(b.out.find("a child: 8"), std::string::npos);
  nlohmann::json ja = stats(text), jb = stats(bin);
  ja.erase("trace");
  jb.erase("trace");
  EXPECT_EQ(ja, jb);
}

TEST_F(TraceTools, ConvertRefusesToOverwriteItsInput) {
  const std::string t = write("t.trace", "r 0x400000\n");
  const Result r = mmusim("convert " + t + " " + t);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("the output is the input"), std::string::npos) << r.all();
}

TEST_F(TraceTools, CorruptBinaryIsAOneLineErrorWithTheOffset) {
  const std::string bin = (dir_ / "t.mmut").string();
  ASSERT_EQ(mmusim("convert " + std::string(MMUSIM_EXAMPLES) + "/fork-cow.trace " + bin).status, 0);
  fs::resize_file(bin, fs::file_size(bin) - 3);
  const Result r = mmusim("run " + bin);
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err_lines("error").size(), 1u) << r.all();
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.all();
}

TEST_F(TraceTools, GeneratedForkServerRunsWithTheKernelChecks) {
  const std::string t = (dir_ / "fs.mmut").string();
  ASSERT_EQ(mmusim("gen fork-server --footprint 1M --workers 3 --write-fraction 0.5 --seed 3 -o " + t).status, 0);
  const nlohmann::json j = stats("--check " + t);
  EXPECT_EQ(j["faults"]["anonymous_page"]["count"], 256) << "the parent touches its 256 heap pages";
  EXPECT_EQ(j["faults"]["cow_copy"]["count"], 3 * 128) << "each worker writes half of them";
}

TEST_F(TraceTools, GenErrorsNameTheArgument) {
  const Result r = mmusim("gen uniform --footprint 12Q -o " + (dir_ / "x.mmut").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--footprint"), std::string::npos) << r.all();
}

// Issue 5: record a real program with valgrind's lackey and run what was recorded.
TEST_F(TraceTools, RecordsARealProgramAndRunsIt) {
  const std::string input = write("in.txt", "pear\napple\nfig\n");
  const std::string out = (dir_ / "sort.mmut.zst").string();
  const Result rec = run(MMUSIM_RECORD, "-o " + out + " -- sort " + input);
  ASSERT_EQ(rec.status, 0) << rec.all();
  EXPECT_NE(rec.out.find("apple\nfig\npear"), std::string::npos) << "the program ran, its output intact";
  const nlohmann::json j = stats(out);
  EXPECT_GT(j["accesses"]["fetches"].get<long>(), 10000) << "instruction fetches were recorded";
  EXPECT_GT(j["accesses"]["writes"].get<long>(), 1000);
  EXPECT_EQ(j["processes"]["1"]["faults"]["sigsegv"], 0);
}

TEST_F(TraceTools, RecordWithoutAProgramIsAnError) {
  const Result r = run(MMUSIM_RECORD, "-o " + (dir_ / "x.mmut").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("missing the program"), std::string::npos) << r.all();
}

// Issue 5: reading streams. The peak memory of a run does not depend on how long the
// trace is: ten times the accesses over the same footprint, the same peak within a
// small margin (a few MiB of noise from allocators and SystemC).
TEST_F(TraceTools, PeakMemoryDoesNotGrowWithTheTraceLength) {
  auto peak_kib = [&](const std::string& accesses) {
    const std::string t = (dir_ / ("u" + accesses + ".mmut")).string();
    EXPECT_EQ(mmusim("gen uniform --footprint 16M --seed 1 --accesses " + accesses + " -o " + t).status, 0);
    const Result r = run("/usr/bin/time", "-f %M " + std::string(MMUSIM_BINARY) + " run --quiet " + t);
    EXPECT_EQ(r.status, 0) << r.all();
    return std::stol(r.err.substr(r.err.find_last_of('\n', r.err.size() - 2) + 1));
  };
  const long small = peak_kib("200000"), large = peak_kib("2000000");
  EXPECT_LT(large, small + 4096) << small << " KiB for 200k accesses, " << large << " KiB for 2M";
}

}  // namespace
