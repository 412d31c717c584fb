// The command line as a user meets it: the flagship example's output, and one
// test per kind of bad input: a one-line error naming its location, a non-zero
// exit, never a crash.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"

namespace {

namespace fs = std::filesystem;

using cli_test::Result;

class Cli : public cli_test::TempDirTest {};

std::string example(const char* name) { return std::string(MMUSIM_EXAMPLES) + "/" + name; }

// The flagship scenario (shared/seeds/003): exact program output, and the child's
// fault shown with the kernel path of the seed's bpftrace stack, innermost first.
TEST_F(Cli, ForkCowExamplePrintsChildAndParentValuesAndTheKernelPath) {
  const Result r = mmusim("run " + example("fork-cow.trace"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.rfind("a child: 8\na parent: 10\n", 0), 0u) << r.output;
  const auto cow = r.output.find("first cow_copy fault");
  ASSERT_NE(cow, std::string::npos) << r.output;
  size_t at = cow;
  for (const char* fn : {"wp_page_copy", "do_wp_page", "handle_pte_fault", "__handle_mm_fault", "handle_mm_fault",
                         "do_user_addr_fault", "exc_page_fault"}) {
    const auto next = r.output.find(std::string("    ") + fn + " ", at);
    ASSERT_NE(next, std::string::npos) << fn << " missing or out of order in\n" << r.output;
    at = next;
  }
}

TEST_F(Cli, QuietPrintsOnlyTheProgramOutput) {
  const Result r = mmusim("run --quiet " + example("fork-cow.trace"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output, "a child: 8\na parent: 10\n");
}

TEST_F(Cli, VersionAndHelp) {
  EXPECT_EQ(mmusim("--version").status, 0);
  const Result h = mmusim("--help");
  EXPECT_EQ(h.status, 0);
  EXPECT_NE(h.output.find("mmusim run TRACE"), std::string::npos);
}

TEST_F(Cli, NonExistentFileIsAnErrorNamingIt) {
  const Result r = mmusim("run " + (dir_ / "missing.trace").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("missing.trace"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("cannot open"), std::string::npos) << r.output;
}

TEST_F(Cli, UnknownKeywordNamesLineAndColumn) {
  const auto t = write("t.trace", "spawn 1\n  wrte 0x1000\n");
  const Result r = mmusim("run " + t);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("t.trace:2:3:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("wrte"), std::string::npos) << r.output;
}

TEST_F(Cli, BadNumberNamesLineAndColumn) {
  const auto t = write("t.trace", "spawn 1\nr 0x10zz\n");
  const Result r = mmusim("run " + t);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("t.trace:2:3:"), std::string::npos) << r.output;
}

TEST_F(Cli, UnalignedMmapIsRefusedWithItsLine) {
  const auto t = write("t.trace", "spawn 1\nmmap 1 0x1000 4K rw-\nmmap 1 0x10800 4K rw-\n");
  const Result r = mmusim("run " + t);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("t.trace:3: error:"), std::string::npos) << r.output;
}

TEST_F(Cli, UnknownPidIsRefusedWithItsLine) {
  const auto t = write("t.trace", "spawn 1\nmmap 7 0x10000 4K rw-\n");
  const Result r = mmusim("run " + t);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("t.trace:2: error:"), std::string::npos) << r.output;
}

TEST_F(Cli, TruncatedCompressedFileIsAnError) {
  const auto plain = write("t.trace", std::string("spawn 1 automap\n") + std::string(20000, '#') + "\nr 0x10000\n");
  ASSERT_EQ(std::system(("gzip -k -f " + plain).c_str()), 0);
  const fs::path gz = plain + ".gz";
  fs::resize_file(gz, fs::file_size(gz) / 2);
  const Result r = mmusim("run " + gz.string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("t.trace.gz"), std::string::npos) << r.output;
}

TEST_F(Cli, FailedExpectationExitsOneAfterFinishing) {
  const auto t = write("t.trace", "spawn 1 automap\nw 0x10000 8 =5\nr 0x10000 8 =6\nprint 0x10000 8 \"v\"\n");
  const Result r = mmusim("run --quiet " + t);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("t.trace:3: expectation failed"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("v: 5"), std::string::npos) << "the run goes on after a failed expectation";
}

TEST_F(Cli, UnexpectedSegfaultFailsTheRun) {
  const auto t = write("t.trace", "spawn 1\nmmap 1 0x10000 4K r--\nw 0x10000\n");
  const Result r = mmusim("run --quiet " + t);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("SIGSEGV"), std::string::npos) << r.output;
}

TEST_F(Cli, ExpectedSegfaultPasses) {
  const auto t = write("t.trace",
                       "spawn 1\nmmap 1 0x10000 4K r--\nw 0x10000 expect=SIGSEGV:ACCERR:0x6\n"
                       "spawn 2\nswitch 2\nr 0x5000 expect=SIGSEGV:MAPERR:0x4\n");
  const Result r = mmusim("run --quiet " + t);
  EXPECT_EQ(r.status, 0) << r.output;
}

// TRACE_FORMAT.md: --keep-going skips a malformed line with a warning and goes on;
// the input was still bad, so the exit status says so.
TEST_F(Cli, KeepGoingSkipsBadLinesButStillFails) {
  const auto t = write("t.trace", "mode bare\npoke 0x1000 5\nbogus 1\npeek 0x1000 =5\n");
  const Result stop = mmusim("run --quiet " + t);
  EXPECT_EQ(stop.status, 2);
  const Result go = mmusim("run --keep-going " + t);
  EXPECT_EQ(go.status, 2) << go.output;
  EXPECT_NE(go.output.find("t.trace:3:1: error: unknown keyword 'bogus'"), std::string::npos) << go.output;
  EXPECT_NE(go.output.find("1 checked, 0 failed"), std::string::npos) << "the peek after the bad line ran\n" << go.output;
}

TEST_F(Cli, ExpectationOfTheWrongModeIsAnError) {
  const auto t = write("t.trace", "mode bare\nr 0x1000 expect=SIGSEGV\n");
  const Result r = mmusim("run --quiet " + t);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("t.trace:2: error:"), std::string::npos) << r.output;
}

TEST_F(Cli, UnknownConfigurationKeyIsNamed) {
  const Result r = mmusim("run --set tlb.l1d.entriez=8 " + example("fork-cow.trace"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("tlb.l1d.entriez"), std::string::npos) << r.output;
}

TEST_F(Cli, ImpossibleGeometryIsNamed) {
  const Result r = mmusim("run --set tlb.l1d.4k.ways=3 " + example("fork-cow.trace"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("tlb.l1d.4k.ways"), std::string::npos) << r.output;
}

TEST_F(Cli, StatsAndLogsAreWritten) {
  const fs::path stats = dir_ / "s.json", alog = dir_ / "a.jsonl", flog = dir_ / "f.jsonl";
  const Result r = mmusim("run --quiet --stats " + stats.string() + " --access-log " + alog.string() +
                          " --fault-log " + flog.string() + " " + example("fork-cow.trace"));
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream s(stats);
  const std::string text((std::istreambuf_iterator<char>(s)), {});
  EXPECT_NE(text.find("\"cow_copy\""), std::string::npos);
  EXPECT_NE(text.find("\"tlb.l1d.4k.entries\""), std::string::npos) << "the effective configuration is in the stats";
  std::ifstream f(flog);
  std::string line;
  int faults = 0;
  while (std::getline(f, line)) ++faults;
  EXPECT_EQ(faults, 3);  // first touch, the child's COW copy, the parent's reuse
}

// Every example and conformance trace carries its own expectations (physical
// addresses, error codes, values, fault counts): each must run clean.
class TraceFile : public cli_test::TempDirTest, public ::testing::WithParamInterface<std::string> {};

// The options a trace asks to be run with: its `# run: OPTIONS` comment line (a
// multi-core trace needs `--set cores=N`), or none.
std::string run_options(const std::string& trace) {
  std::ifstream in(trace);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("# run: ", 0) == 0) return line.substr(7) + " ";
  return "";
}

TEST_P(TraceFile, RunsWithEveryExpectationMet) {
  const Result r = mmusim("run --quiet --check " + run_options(GetParam()) + GetParam());
  EXPECT_EQ(r.status, 0) << r.output;
}

std::vector<std::string> trace_files() {
  std::vector<std::string> files;
  for (const char* dir : {MMUSIM_EXAMPLES, MMUSIM_TEST_TRACES})
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".trace") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

INSTANTIATE_TEST_SUITE_P(Traces, TraceFile, ::testing::ValuesIn(trace_files()),
                         [](const auto& info) {
                           std::string n = fs::path(info.param).stem().string();
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

std::string total_cycles(const fs::path& stats) {
  std::ifstream s(stats);
  const std::string text((std::istreambuf_iterator<char>(s)), {});
  const auto at = text.find("\"total\": ", text.find("\"cycles\": {"));
  return at == std::string::npos ? "" : text.substr(at, text.find_first_of(",\n}", at) - at);
}

// Phases (`mark`) report every counter per process: the shmem read phase of the
// fault-count trace took 2 faults in pid 2 (fault-around, 16 pages a fault) and
// none in pid 1.
TEST_F(Cli, StatsReportEveryCounterPerPhaseAndProcess) {
  const fs::path stats = dir_ / "s.json";
  ASSERT_EQ(mmusim("run --quiet --stats " + stats.string() + " " + MMUSIM_TEST_TRACES + "/linux-fault-counts.trace")
                .status, 0);
  std::ifstream in(stats);
  const nlohmann::json j = nlohmann::json::parse(in);
  const nlohmann::json* phase = nullptr;
  for (const auto& p : j["phases"])
    if (p["name"].get<std::string>().rfind("the child reads shared memory", 0) == 0) phase = &p;
  ASSERT_NE(phase, nullptr);
  EXPECT_EQ((*phase)["accesses"], 32);
  EXPECT_EQ((*phase)["processes"]["2"]["minflt"], 2);
  EXPECT_EQ((*phase)["processes"]["2"]["faults"]["page_cache"], 2);
  EXPECT_EQ((*phase)["processes"]["1"]["minflt"], 0);
  EXPECT_GT((*phase)["cycles"]["kernel"].get<std::uint64_t>(), 0u);
}

// DESIGN.md principle 2: on a single-core trace the quantum keeper and strict
// per-access synchronisation give the same cycle totals.
TEST_F(Cli, StrictAndQuantumTimingAgreeOnASingleCoreTrace) {
  const fs::path a = dir_ / "quantum.json", b = dir_ / "strict.json";
  ASSERT_EQ(mmusim("run --quiet --stats " + a.string() + " " + example("fork-cow.trace")).status, 0);
  ASSERT_EQ(mmusim("run --quiet --set core.strict_timing=1 --set core.quantum_cycles=7 --stats " + b.string() + " " +
                   example("fork-cow.trace")).status, 0);
  EXPECT_FALSE(total_cycles(a).empty());
  EXPECT_EQ(total_cycles(a), total_cycles(b));
}

// kernel.cow=eager (Windows 98, seeds/004) against lazy copy-on-write on the DLL
// example: eager takes no fault in the image views (their pages are copied at
// mmap, charged to the mmap) but holds a private copy of all 6 pages in each of
// the 3 instances, 18 frames where lazy copies 3 (.data page 0 of instance 2 and
// the two fixed-up .text pages of instance 3). The `expect` lines carry the lazy
// counts, so the eager run replays the trace without them; every `=VALUE` check
// still holds.
TEST_F(Cli, EagerCopyOnWriteTradesFaultsForFrames) {
  std::ifstream in(example("dll-sharing.trace"));
  std::string text, line;
  while (std::getline(in, line))
    if (line.rfind("expect ", 0) != 0) text += line + "\n";
  const std::string trace = write("dll.trace", text);
  auto run = [&](const std::string& name, const std::string& set) {
    const fs::path stats = dir_ / (name + ".json");
    const Result r = mmusim("run --quiet --check " + set + " --stats " + stats.string() + " " + trace);
    EXPECT_EQ(r.status, 0) << r.output;
    std::ifstream s(stats);
    return nlohmann::json::parse(s);
  };
  const nlohmann::json lazy = run("lazy", ""), eager = run("eager", "--set kernel.cow=eager");
  for (const char* pid : {"2", "3", "4"}) EXPECT_EQ(eager["processes"][pid]["minflt"], 0) << "pid " << pid;
  EXPECT_EQ(lazy["processes"]["2"]["minflt"], 2);
  EXPECT_EQ(lazy["processes"]["3"]["minflt"], 3);
  EXPECT_EQ(lazy["processes"]["4"]["minflt"], 4);
  EXPECT_EQ(lazy["faults"]["cow_copy"]["count"], 3);
  EXPECT_EQ(eager["faults"]["cow_copy"]["count"], 0);
  const auto peak = [](const nlohmann::json& j) { return j["kernel"]["peak_frames_in_use"].get<long>(); };
  EXPECT_EQ(peak(eager) - peak(lazy), 18 - 3);
  // At the end every process has exited: the zero page and the DLL's 6 page-cache frames.
  for (const nlohmann::json* j : {&lazy, &eager}) {
    EXPECT_EQ((*j)["kernel"]["frames_in_use"], 7);
    EXPECT_EQ((*j)["kernel"]["page_cache_frames"], 6);
  }
  EXPECT_GT(eager["cycles"]["os_events"].get<long>(), lazy["cycles"]["os_events"].get<long>())
      << "the copies are charged to the mmaps";
  EXPECT_LT(eager["cycles"]["kernel"].get<long>(), lazy["cycles"]["kernel"].get<long>()) << "fewer faults";
}

}  // namespace

// Issue 4: on the teaching machine a short trace shows every structure at work, and
// the stats carry the hierarchy's counters: per level and page size, invalidations
// by cause, the walk latency distribution and where each entry load was served.
TEST_F(Cli, TeachingMachineShowsEvictionsL2HitsAndPscHitsInTheStats) {
  const fs::path stats = dir_ / "teaching.json";
  ASSERT_EQ(mmusim("run --quiet --check --config " + std::string(MMUSIM_SOURCE_DIR) + "/configs/teaching.conf --stats " +
                   stats.string() + " " + example("tlb-teaching.trace"))
                .status,
            0);
  std::ifstream in(stats);
  const nlohmann::json j = nlohmann::json::parse(in);
  const nlohmann::json& l1d = j["tlb"]["l1d"];
  EXPECT_GE(l1d["by_page_size"]["4k"]["evictions"].get<int>(), 1);
  EXPECT_EQ(l1d["arrays"].size(), 2u) << "teaching L1 DTLB: a 4k and a 2m array (1G smashed)";
  EXPECT_GE(j["tlb"]["l2"]["hits"].get<int>(), 2) << "page 0 twice from the L2 TLB";
  EXPECT_GE(j["psc"]["pde"]["hits"].get<int>(), 1);
  EXPECT_GE(j["psc"]["pde"]["evictions"].get<int>(), 1);
  // Every #PF leaves its address in no TLB: counted under its cause.
  EXPECT_GE(l1d["by_page_size"]["4k"]["invalidations"].count("page_fault"), 1u);
  const nlohmann::json& w = j["walks"];
  EXPECT_EQ(w["latency"]["count"], w["count"]);
  EXPECT_EQ(w["latency"]["max"], 40) << "a full 4-level walk at mem.latency 10";
  EXPECT_EQ(w["served"]["fixed"].get<int>(), w["entry_loads"].get<int>() + w["ad_writes"].get<int>());
  EXPECT_EQ(j["memory"]["model"], "fixed");
  EXPECT_EQ(j["config"]["tlb.l1d.4k.entries"], 4);
}
