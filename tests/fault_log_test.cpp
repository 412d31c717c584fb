// The per-fault records (`--fault-log`) against the run's own accounting (DESIGN.md
// principle 4): in every example trace, each fault's cost steps add up to its total
// exactly, and the totals add up to the run's fault cycles: the cycles the cores spent
// in the kernel's fault path, and the restarted accesses' walks (`retry_walk`).
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The options a trace asks to be run with (its `# run:` line), or none.
std::string run_options(const std::string& trace) {
  std::ifstream in(trace);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("# run: ", 0) == 0) return line.substr(7) + " ";
  return "";
}

class FaultLog : public cli_test::TempDirTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(FaultLog, StepsAddUpToEachFaultAndFaultsToTheRunsFaultCycles) {
  const std::string trace = GetParam();
  const std::string log = (dir_ / "f.jsonl").string(), stats = (dir_ / "s.json").string();
  const cli_test::Result r =
      mmusim("run --quiet " + run_options(trace) + "--fault-log " + log + " --stats " + stats + " " + trace);
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream in(log);
  std::uint64_t total = 0, faults = 0, retry_walks = 0;
  const std::string keys[] = {"line", "cpu", "pid", "address", "access", "error_code", "resolution", "cycles", "ns",
                              "steps", "path"};
  for (std::string line; std::getline(in, line);) {
    const json f = json::parse(line);
    for (const std::string& k : keys) ASSERT_TRUE(f.contains(k)) << k << " missing in " << line;
    std::uint64_t sum = 0;
    for (const json& s : f["steps"]) {
      sum += s["cycles"].get<std::uint64_t>();
      if (s["step"] == "retry_walk") retry_walks += s["cycles"].get<std::uint64_t>();
    }
    EXPECT_EQ(sum, f["cycles"].get<std::uint64_t>()) << line;
    EXPECT_EQ(f["path"].back()["function"], "exc_page_fault") << line;
    total += f["cycles"].get<std::uint64_t>();
    ++faults;
  }
  std::ifstream s(stats);
  const json j = json::parse(s);
  std::uint64_t by_kind = 0, counted = 0;
  for (const auto& [kind, k] : j["faults"].items()) {
    if (!k.is_object()) continue;  // pmd_level is a count
    by_kind += k["cycles"].get<std::uint64_t>();
    counted += k["count"].get<std::uint64_t>();
    EXPECT_EQ(k["latency"]["count"], k["count"]) << kind;
  }
  EXPECT_EQ(faults, counted);
  EXPECT_EQ(total, by_kind);
  EXPECT_EQ(total, j["cycles"]["kernel"].get<std::uint64_t>() + retry_walks);
}

std::vector<std::string> example_traces() {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(MMUSIM_EXAMPLES))
    if (e.path().extension() == ".trace") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

INSTANTIATE_TEST_SUITE_P(Examples, FaultLog, ::testing::ValuesIn(example_traces()), [](const auto& info) {
  std::string n = fs::path(info.param).stem().string();
  for (char& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
});

class FaultLatency : public cli_test::TempDirTest {};

// The distributions in the stats: per fault kind, in cycles and in ns at the clock.
// The flagship's one COW copy costs the sum of its steps (README.md): 3,650 cycles in
// the kernel and the restarted write's walk.
TEST_F(FaultLatency, StatsGiveEachKindsDistributionInCyclesAndNanoseconds) {
  const std::string stats = (dir_ / "s.json").string();
  ASSERT_EQ(mmusim("run --quiet --stats " + stats + " " + MMUSIM_EXAMPLES + "/fork-cow.trace").status, 0);
  std::ifstream in(stats);
  const json j = json::parse(in);
  const json& cow = j["faults"]["cow_copy"];
  ASSERT_EQ(cow["count"], 1);
  const double total = cow["cycles"].get<double>();
  EXPECT_GT(total, 3650.0) << "the kernel's 3,650 cycles and the walk";
  EXPECT_LT(total, 3650.0 + 1000.0);
  for (const char* k : {"mean", "min", "p50", "p90", "p99", "p999", "max"}) {
    EXPECT_EQ(cow["latency"][k].get<double>(), total) << k;
    EXPECT_NEAR(cow["latency_ns"][k].get<double>(), total / 3.0, 1e-6) << k;
  }
}

}  // namespace
