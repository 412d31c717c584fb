// A distribution of latencies in cycles (page walks, faults): counts per bin in a
// Boost.Histogram, with the exact count, sum, min and max kept beside it, and
// nearest-rank percentiles read back from the bins.
//
// Bins (one Boost variable axis, every edge an integer):
//   [k, k+1) for k = 0 .. 1023   exact: a percentile below 1024 cycles is the value itself;
//   [e, e + floor(e/50))         from 1024 up: each edge is floor(1.02 × the previous one),
//                                so a bin is at most 2% of its lower edge wide, and a
//                                percentile above 1024 is within 2% below the truth;
//   [top, ∞)                     overflow, from the first edge at or above 2^40 cycles (six
//                                minutes at 3 GHz: no walk or fault takes that long); a
//                                percentile that falls there reads as that edge or max.
// That is 1024 + 1052 bins and the overflow bin: 2,077 counters, 16 KiB.
//
// Why a variable axis rather than an integer axis plus a log-transformed regular axis:
// Boost.Histogram cannot join two axes into one dimension, so that would be two
// histograms to fill, merge and walk; and the log axis computes its index with std::log
// and its edges with std::exp, so its edges are not integers and a value on an edge may
// land in either bin. The variable axis's index is a std::upper_bound over 2,077 edges
// (16 KiB, L1-resident): 11 comparisons, no allocation (dense uint64 storage never
// grows). Values are integers below 2^53, so the conversion to double and every
// comparison are exact. record() skips the search below 1024, where the bin index is
// the value. Measured on the development machine (-O3, per record): 1-2 ns below 1024;
// above it 12 ns for a repeated value, 19 ns for values within ±5%, 38 ns for values
// spread uniformly over 1024..100000 (the search's branches mispredict). Latencies of
// one kind cluster, so the cheap cases dominate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <tuple>
#include <vector>

#include <boost/histogram/axis/variable.hpp>
#include <boost/histogram/histogram.hpp>
#include <boost/histogram/storage_adaptor.hpp>
#include <nlohmann/json_fwd.hpp>

namespace mmusim::stats {

class LatencyHistogram {
 public:
  static constexpr std::uint64_t kExactBelow = 1024;      // bins of width 1 below this
  static constexpr std::uint64_t kRelativeWidthDivisor = 50;  // log bins: width = floor(edge / 50)
  static constexpr std::uint64_t kLogBinsReach = 1ull << 40;  // the log bins reach at least this

  LatencyHistogram();

  // One latency. Cheap enough for every TLB-miss walk: no allocation, and a binary
  // search only from 1024 cycles up.
  void record(std::uint64_t cycles) {
    // Below 1024 the bin index is the value (the axis's first 1024 bins are [k, k+1);
    // LatencyHistogram.BinsBelow1024AreTheValuesThemselves
    // checks it), so the binary search is skipped there.
    if (cycles < kExactBelow)
      ++hist_.at(static_cast<int>(cycles));
    else
      hist_(static_cast<double>(cycles));
    ++count_;
    sum_ += cycles;
    if (cycles < min_) min_ = cycles;
    if (cycles > max_) max_ = cycles;
  }

  std::uint64_t count() const { return count_; }
  std::uint64_t sum() const { return sum_; }  // exact (wraps only after 2^64 cycles in all)
  double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }
  std::uint64_t min() const { return count_ ? min_ : 0; }
  std::uint64_t max() const { return max_; }

  // Nearest rank: the smallest recorded v such that at least q·count values are ≤ v
  // (q = 0 gives the minimum), read as the lower edge of the bin holding it and
  // clamped to [min, max], so exact below 1024 and at most 2% low above (the top
  // rank is max, exact). 0 when empty. Throws std::domain_error unless 0 ≤ q ≤ 1.
  std::uint64_t percentile(double q) const;

  // Adds another histogram's values, as if they had been recorded here (per-core
  // histograms into a run's).
  LatencyHistogram& operator+=(const LatencyHistogram& other);

  // {"count", "mean", "min", "p50", "p90", "p99", "p999", "max"}.
  nlohmann::json to_json() const;

  // The bins, for reports and plots: number of bins including overflow, a bin's
  // lower edge, and its count.
  std::size_t bins() const { return static_cast<std::size_t>(hist_.axis().size()) + 1; }
  std::uint64_t lower_edge(std::size_t bin) const;
  std::uint64_t bin_count(std::size_t bin) const { return hist_.at(static_cast<int>(bin)); }

 private:
  // No underflow bin (latencies are unsigned, the first edge is 0); no metadata string.
  using Axis = boost::histogram::axis::variable<double, boost::histogram::axis::null_type,
                                                boost::histogram::axis::option::overflow_t>;
  using Histogram = boost::histogram::histogram<std::tuple<Axis>, boost::histogram::dense_storage<std::uint64_t>>;

  Histogram hist_;
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t max_ = 0;
};

}  // namespace mmusim::stats
