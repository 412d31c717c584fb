// `mmusim run --timeline FILE` on real runs, checked against the Chrome trace-event
// format that ui.perfetto.dev reads: a JSON array; complete events with name, ph, ts,
// dur, pid, tid; per thread, slices that nest (each lies inside the one that encloses
// it or after it); each fault's steps laid end to end inside it; a thread per CPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"

namespace {

using nlohmann::json;

struct Slice {
  double ts, dur;
  std::string name;
};

class TimelineRun : public cli_test::TempDirTest {
 protected:
  json timeline(const std::string& options, const std::string& trace) {
    const std::string file = (dir_ / "t.json").string();
    const cli_test::Result r = mmusim("run --quiet " + options + " --timeline " + file + " " + trace);
    EXPECT_EQ(r.status, 0) << r.output;
    std::ifstream in(file);
    return json::parse(in);  // throws, failing the test, if it is not JSON
  }

  // Checks every event's fields, and the nesting of each thread's slices.
  void check_format(const json& events) {
    ASSERT_TRUE(events.is_array());
    std::map<std::uint64_t, std::vector<Slice>> by_tid;
    for (const json& e : events) {
      for (const char* k : {"name", "ph", "pid", "tid"}) ASSERT_TRUE(e.contains(k)) << k << " in " << e.dump();
      const std::string ph = e["ph"];
      if (ph == "M") {
        ASSERT_TRUE(e["args"].contains("name") || e["args"].contains("sort_index")) << e.dump();
        continue;
      }
      ASSERT_TRUE(e["ts"].is_number()) << e.dump();
      ASSERT_GE(e["ts"].get<double>(), 0.0);
      if (ph == "X") {
        ASSERT_TRUE(e["dur"].is_number()) << e.dump();
        ASSERT_GE(e["dur"].get<double>(), 0.0);
        by_tid[e["tid"]].push_back({e["ts"].get<double>(), e["dur"].get<double>(), e["name"]});
      } else {
        ASSERT_EQ(ph, "i") << e.dump();
      }
    }
    constexpr double kEps = 1e-9;
    for (auto& [tid, slices] : by_tid) {
      // As a viewer builds its stacks: by start, the longer (enclosing) one first.
      std::sort(slices.begin(), slices.end(),
                [](const Slice& a, const Slice& b) { return a.ts != b.ts ? a.ts < b.ts : a.dur > b.dur; });
      std::vector<const Slice*> stack;
      for (const Slice& s : slices) {
        while (!stack.empty() && stack.back()->ts + stack.back()->dur <= s.ts + kEps) stack.pop_back();
        if (!stack.empty()) {
          EXPECT_LE(s.ts + s.dur, stack.back()->ts + stack.back()->dur + kEps)
              << s.name << " at " << s.ts << " sticks out of " << stack.back()->name << " on tid " << tid;
        }
        stack.push_back(&s);
      }
    }
  }
};

TEST_F(TimelineRun, FlagshipIsWellFormedAndEachFaultHoldsItsSteps) {
  const json t = timeline("", std::string(MMUSIM_EXAMPLES) + "/fork-cow.trace");
  check_format(t);
  int faults = 0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const json& e = t[i];
    if (e["ph"] != "X" || e.value("cat", "") != "fault") continue;
    ++faults;
    // The fault's steps follow it, end to end from its start, and fill it exactly.
    double at = e["ts"].get<double>(), cycles = 0;
    std::size_t j = i + 1;
    for (; j < t.size() && t[j].value("cat", "") == "kernel"; ++j) {
      EXPECT_NEAR(t[j]["ts"].get<double>(), at, 1e-9) << t[j].dump();
      at += t[j]["dur"].get<double>();
      cycles += t[j]["args"]["cycles"].get<double>();
    }
    EXPECT_GT(j, i + 1) << "a fault without steps: " << e.dump();
    EXPECT_NEAR(at, e["ts"].get<double>() + e["dur"].get<double>(), 1e-9) << e.dump();
    EXPECT_EQ(cycles, e["args"]["cycles"].get<double>()) << e.dump();
  }
  EXPECT_EQ(faults, 3) << "the flagship's faults: the stack page, the child's copy, the parent's reuse";
  bool threads = false;
  for (const json& e : t) threads |= e["ph"] == "M" && e["name"] == "thread_name" && e["args"]["name"] == "CPU 0";
  EXPECT_TRUE(threads);
}

TEST_F(TimelineRun, TwoCpusHaveATrackEachWithTheShootdownOnTheTarget) {
  const json t = timeline("--set cores=2", std::string(MMUSIM_EXAMPLES) + "/multicore-cow.trace");
  check_format(t);
  std::map<std::uint64_t, int> interrupts, steps_ipi;
  for (const json& e : t) {
    if (e["name"] == "tlb_shootdown") ++interrupts[e["tid"]];
    if (e["name"] == "ipi_wait") ++steps_ipi[e["tid"]];
  }
  EXPECT_EQ(interrupts.size(), 1u) << "only CPU 1 is interrupted";
  EXPECT_EQ(interrupts.begin()->second, 2) << "by fork's flush and the COW fault";
  EXPECT_EQ(steps_ipi.size(), 1u) << "CPU 0's COW fault waits for the acknowledgement";
}

TEST_F(TimelineRun, HugePageFaultsAndLongRunsNestToo) {
  check_format(timeline("", std::string(MMUSIM_EXAMPLES) + "/thp-faults.trace"));
  check_format(timeline("-c " + std::string(MMUSIM_SOURCE_DIR) + "/configs/zen4.conf",
                        std::string(MMUSIM_EXAMPLES) + "/linux-anon-faults.trace"));
}

}  // namespace
