// The `calibrated-here` profile against the fault latencies measured on this machine
// (linux-fault-path.md §4.1, column (C): per-chunk p50 medians): the simulated median
// of each kind of anonymous fault must lie within 15% of the measured one. Each case
// is the experiment of §4.1 as a trace: 512 pages of one 2 MiB-aligned region, so the
// page-table allocations of the first fault do not move the median.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"

namespace {

using nlohmann::json;

constexpr int kPages = 512;
constexpr const char* kBase = "0x7f0000000000";

class Calibration : public cli_test::TempDirTest {
 protected:
  // The median latency in ns of the faults of `resolution` in `trace`'s phase after
  // its last `mark`, run with the calibrated profile.
  double median_ns(const std::string& body, const std::string& resolution) {
    const std::string trace = write("t.trace", body);
    const std::string log = (dir_ / "faults.jsonl").string();
    const cli_test::Result r = mmusim("run --quiet --check -c " + std::string(MMUSIM_SOURCE_DIR) +
                                      "/configs/calibrated-here.conf --fault-log " + log + " " + trace);
    EXPECT_EQ(r.status, 0) << r.output;
    std::ifstream in(log);
    std::vector<double> ns;
    for (std::string line; std::getline(in, line);) {
      const json f = json::parse(line);
      if (f["line"].get<int>() > mark_line_ && f["resolution"] == resolution) ns.push_back(f["ns"].get<double>());
    }
    EXPECT_EQ(ns.size(), static_cast<std::size_t>(kPages)) << resolution;
    if (ns.empty()) return 0;
    std::sort(ns.begin(), ns.end());
    return ns[ns.size() / 2];
  }

  // Text of a trace: a process with a 2 MiB heap, `setup`, then `mark`, then `measured`.
  std::string trace(const std::string& setup, const std::string& measured) {
    std::string t = "spawn 1 \"bench\"\nmmap 1 " + std::string(kBase) + " 0x200000 rw-\n" + setup;
    mark_line_ = static_cast<int>(std::count(t.begin(), t.end(), '\n')) + 1;
    return t + "mark \"measured\"\n" + measured;
  }

  // One access per page of the heap: "w" or "r".
  static std::string touch(const char* op) {
    std::ostringstream s;
    for (int i = 0; i < kPages; ++i) s << op << " 0x" << std::hex << (0x7f0000000000ull + i * 4096ull) << "\n";
    return s.str();
  }

  int mark_line_ = 0;
};

// §4.1 (a): first write to anonymous memory, do_anonymous_page: 1,157 ns.
TEST_F(Calibration, ZeroFillWriteWithin15PercentOf1157ns) {
  EXPECT_NEAR(median_ns(trace("", touch("w")), "anonymous_page"), 1157, 0.15 * 1157);
}

// §4.1 (b): first read, the shared zero page: 585 ns.
TEST_F(Calibration, ZeroPageReadWithin15PercentOf585ns) {
  EXPECT_NEAR(median_ns(trace("", touch("r")), "zero_page"), 585, 0.15 * 585);
}

// §4.1 (c): the child's first write after fork, wp_page_copy: 1,726 ns.
TEST_F(Calibration, CowCopyInTheChildWithin15PercentOf1726ns) {
  EXPECT_NEAR(median_ns(trace(touch("w") + "fork 1 2\nswitch 2\n", touch("w")), "cow_copy"), 1726, 0.15 * 1726);
}

// §4.1: the parent's write after the child exited, wp_page_reuse: 673 ns.
TEST_F(Calibration, CowReuseWithin15PercentOf673ns) {
  EXPECT_NEAR(median_ns(trace(touch("w") + "fork 1 2\nexit 2\nswitch 1\n", touch("w")), "cow_reuse"), 673,
              0.15 * 673);
}

// §4.1 (b'): a write after a read, the zero page replaced by a page of its own: 1,429 ns.
TEST_F(Calibration, ZeroPageToPrivateWithin15PercentOf1429ns) {
  EXPECT_NEAR(median_ns(trace(touch("r"), touch("w")), "cow_copy"), 1429, 0.15 * 1429);
}

}  // namespace
