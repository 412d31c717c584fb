// LatencyHistogram: nearest-rank percentiles (exact below 1024 cycles, at most 2% low
// above), exact count/mean/min/max, merging, and the JSON summary. Percentiles are
// checked against values worked out by hand or against a sorted copy of the input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include <nlohmann/json.hpp>

#include "stats/latency_histogram.hpp"

namespace {

using mmusim::stats::LatencyHistogram;
using u64 = std::uint64_t;

// The nearest-rank percentile of `v` computed directly: the value at rank ceil(q·n).
u64 nearest_rank(std::vector<u64> v, u64 rank) {
  std::sort(v.begin(), v.end());
  return v[rank - 1];
}

TEST(LatencyHistogram, NearestRankPercentilesOfOneToAHundredAreExact) {
  LatencyHistogram h;
  for (u64 v = 1; v <= 100; ++v) h.record(v);
  EXPECT_EQ(h.percentile(0.5), 50u);   // rank 50
  EXPECT_EQ(h.percentile(0.9), 90u);
  EXPECT_EQ(h.percentile(0.99), 99u);
  EXPECT_EQ(h.percentile(0.999), 100u);  // rank ceil(99.9) = 100
  EXPECT_EQ(h.percentile(1.0), 100u);
  EXPECT_EQ(h.percentile(0.0), 1u);      // rank at least 1: the minimum
  EXPECT_EQ(h.percentile(0.505), 51u);   // rank ceil(50.5) = 51
  // 0.07 × 100 is 7.000000000000001 in doubles: still rank 7, not 8.
  EXPECT_EQ(h.percentile(0.07), 7u);
  EXPECT_EQ(h.percentile(0.29), 29u);    // 28.999999999999996: rank 29
}

TEST(LatencyHistogram, NearestRankOfASmallUnsortedSetWithRepeats) {
  LatencyHistogram h;
  for (u64 v : {3, 1, 4, 1, 5, 9, 2, 6}) h.record(v);  // sorted: 1 1 2 3 4 5 6 9
  EXPECT_EQ(h.percentile(0.25), 1u);   // rank 2
  EXPECT_EQ(h.percentile(0.26), 2u);   // rank ceil(2.08) = 3
  EXPECT_EQ(h.percentile(0.5), 3u);    // rank 4
  EXPECT_EQ(h.percentile(0.51), 4u);   // rank ceil(4.08) = 5
  EXPECT_EQ(h.percentile(0.9), 9u);    // rank ceil(7.2) = 8
}

TEST(LatencyHistogram, EmptyHistogramReportsZeros) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.percentile(0.0), 0u);
  EXPECT_EQ(h.percentile(0.5), 0u);
  EXPECT_EQ(h.percentile(1.0), 0u);
  const auto j = h.to_json();
  for (const char* key : {"count", "min", "p50", "p90", "p99", "p999", "max"}) EXPECT_EQ(j[key], 0) << key;
  EXPECT_EQ(j["mean"], 0.0);
}

TEST(LatencyHistogram, ASingleValueIsEveryPercentileExactlyEvenInAWideBin) {
  // 123457 lies inside a ~2% log bin whose lower edge is below it: the clamp to
  // [min, max] makes every percentile the value itself.
  LatencyHistogram h;
  h.record(123457);
  for (double q : {0.0, 0.5, 0.9, 0.999, 1.0}) EXPECT_EQ(h.percentile(q), 123457u) << q;
  EXPECT_EQ(h.count(), 1u);
  EXPECT_EQ(h.mean(), 123457.0);
}

TEST(LatencyHistogram, BinsBelow1024AreTheValuesThemselves) {
  // record() indexes these bins by the value without asking the axis; the axis must agree.
  LatencyHistogram h;
  for (u64 v = 0; v < 1024; ++v) h.record(v);
  h.record(1023);
  for (u64 v = 0; v <= 1024; ++v) EXPECT_EQ(h.lower_edge(v), v);
  for (u64 v = 0; v < 1023; ++v) EXPECT_EQ(h.bin_count(v), 1u) << v;
  EXPECT_EQ(h.bin_count(1023), 2u);
  EXPECT_EQ(h.bin_count(1024), 0u);
}

TEST(LatencyHistogram, LogBinsAreAtMostTwoPercentWideUpTo2To40ThenOverflow) {
  LatencyHistogram h;
  const size_t overflow = h.bins() - 1;
  for (size_t b = 1024; b < overflow; ++b) {
    const u64 lo = h.lower_edge(b), hi = h.lower_edge(b + 1);
    ASSERT_GT(hi, lo) << b;
    ASSERT_LE(static_cast<double>(hi - lo), 0.02 * static_cast<double>(lo)) << b;
  }
  EXPECT_GE(h.lower_edge(overflow), 1ull << 40);
  h.record(std::numeric_limits<u64>::max());
  h.record(1ull << 50);
  EXPECT_EQ(h.bin_count(overflow), 2u);
  EXPECT_EQ(h.max(), std::numeric_limits<u64>::max());
  EXPECT_EQ(h.percentile(1.0), std::numeric_limits<u64>::max());  // the top rank is max, exact
  EXPECT_EQ(h.percentile(0.5), 1ull << 50);  // the overflow bin's edge, clamped up to min
}

TEST(LatencyHistogram, PercentilesAbove1024AreWithinTwoPercentBelowTheTruth) {
  // Log-uniform values from 1024 to 2^40 with repeats, against the exact nearest rank.
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> log2v(10.0, 40.0);
  std::vector<u64> values;
  LatencyHistogram h;
  for (int i = 0; i < 5000; ++i) {
    const u64 v = static_cast<u64>(std::exp2(log2v(rng)));
    const int times = 1 + i % 3;
    for (int t = 0; t < times; ++t) {
      values.push_back(v);
      h.record(v);
    }
  }
  ASSERT_EQ(h.count(), values.size());
  for (u64 rank = 1; rank <= values.size(); rank += 97) {
    const double q = static_cast<double>(rank) / static_cast<double>(values.size());
    const u64 truth = nearest_rank(values, rank);
    const u64 got = h.percentile(q);
    EXPECT_LE(got, truth) << "q=" << q;
    EXPECT_GE(static_cast<double>(got), 0.98 * static_cast<double>(truth)) << "q=" << q;
  }
}

TEST(LatencyHistogram, MeanMinAndMaxAreExactNotBinned) {
  LatencyHistogram h;
  const u64 a = 7, b = 1'000'003, c = (1ull << 41) + 5;  // c overflows the bins
  h.record(b);
  h.record(a);
  h.record(c);
  EXPECT_EQ(h.count(), 3u);
  EXPECT_EQ(h.min(), a);
  EXPECT_EQ(h.max(), c);
  EXPECT_EQ(h.sum(), a + b + c);
  EXPECT_DOUBLE_EQ(h.mean(), static_cast<double>(a + b + c) / 3.0);
  EXPECT_EQ(h.percentile(0.0), a);
  EXPECT_EQ(h.percentile(1.0), c);  // the top rank is max, though c is in the overflow bin
  // The median is b read from its bin [983274, 1002939): the lower edge, within 2%.
  EXPECT_EQ(h.percentile(0.5), 983274u);
}

TEST(LatencyHistogram, MergeEqualsRecordingBothSets) {
  LatencyHistogram x, y, both;
  for (u64 v : {5, 17, 900, 1500, 70000}) {
    x.record(v);
    both.record(v);
  }
  for (u64 v : {3ull, 17ull, 2000ull, 1ull << 45}) {
    y.record(v);
    both.record(v);
  }
  x += y;
  EXPECT_EQ(x.count(), both.count());
  EXPECT_EQ(x.sum(), both.sum());
  EXPECT_EQ(x.min(), 3u);
  EXPECT_EQ(x.max(), 1ull << 45);
  for (size_t b = 0; b < both.bins(); ++b) ASSERT_EQ(x.bin_count(b), both.bin_count(b)) << b;
  EXPECT_EQ(x.to_json(), both.to_json());

  // An empty side changes nothing: its min (none) must not become the merged min.
  LatencyHistogram empty, copy = both;
  copy += empty;
  EXPECT_EQ(copy.to_json(), both.to_json());
  empty += both;
  EXPECT_EQ(empty.to_json(), both.to_json());
}

TEST(LatencyHistogram, ToJsonHasTheSummaryKeys) {
  LatencyHistogram h;
  for (u64 v = 1; v <= 1000; ++v) h.record(v);
  const auto j = h.to_json();
  std::vector<std::string> keys;
  for (const auto& [k, _] : j.items()) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"count", "max", "mean", "min", "p50", "p90", "p99", "p999"}));
  EXPECT_EQ(j["count"], 1000);
  EXPECT_DOUBLE_EQ(j["mean"].get<double>(), 500.5);
  EXPECT_EQ(j["min"], 1);
  EXPECT_EQ(j["p50"], 500);
  EXPECT_EQ(j["p90"], 900);
  EXPECT_EQ(j["p99"], 990);
  EXPECT_EQ(j["p999"], 999);
  EXPECT_EQ(j["max"], 1000);
}

TEST(LatencyHistogram, PercentileRejectsQOutsideZeroToOne) {
  LatencyHistogram h;
  h.record(1);
  EXPECT_THROW(h.percentile(-0.01), std::domain_error);
  EXPECT_THROW(h.percentile(1.01), std::domain_error);
  EXPECT_THROW(h.percentile(std::nan("")), std::domain_error);
}

}  // namespace
