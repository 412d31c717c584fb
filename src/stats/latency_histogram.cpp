#include "stats/latency_histogram.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace mmusim::stats {
namespace {

// The axis edges (the header describes them). Built once: every histogram's axis is a
// copy, so two histograms always have equal axes and merge.
const std::vector<double>& edges() {
  static const std::vector<double> e = [] {
    std::vector<double> out;
    for (std::uint64_t k = 0; k <= LatencyHistogram::kExactBelow; ++k) out.push_back(static_cast<double>(k));
    // floor(edge × 1.02) in integers: the width edge/50 is at least 20 from 1024 on, so
    // the edges strictly increase, and width/lower edge ≤ 1/50 = 2%.
    for (std::uint64_t edge = LatencyHistogram::kExactBelow; edge < LatencyHistogram::kLogBinsReach;) {
      edge += edge / LatencyHistogram::kRelativeWidthDivisor;
      out.push_back(static_cast<double>(edge));
    }
    return out;
  }();
  return e;
}

}  // namespace

LatencyHistogram::LatencyHistogram()
    : hist_(std::make_tuple(Axis(edges().begin(), edges().end())), boost::histogram::dense_storage<std::uint64_t>()) {}

std::uint64_t LatencyHistogram::lower_edge(std::size_t bin) const {
  return static_cast<std::uint64_t>(hist_.axis().value(static_cast<double>(bin)));
}

std::uint64_t LatencyHistogram::percentile(double q) const {
  if (!(q >= 0.0 && q <= 1.0)) throw std::domain_error("LatencyHistogram::percentile: q must be in [0, 1]");
  if (count_ == 0) return 0;
  // The rank: ceil(q·count), at least 1. A q written in decimal is rarely exact in
  // binary (0.07 × 100 = 7.000000000000001), so a product within a few ulps above an
  // integer counts as that integer, or p7 of 1..100 would be 8.
  const double x = q * static_cast<double>(count_);
  const double below = std::floor(x);
  std::uint64_t rank = static_cast<std::uint64_t>(below);
  if (x - below > x * 4 * std::numeric_limits<double>::epsilon()) ++rank;
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  // The top rank is the maximum, known exactly even when it lies in a wide bin or in
  // the overflow bin. (The bottom rank needs no such case: the clamp below gives min.)
  if (rank == count_) return max_;

  std::uint64_t seen = 0;
  const std::size_t n = bins();
  for (std::size_t b = 0; b < n; ++b) {
    seen += bin_count(b);
    if (seen >= rank) return std::clamp(lower_edge(b), min_, max_);
  }
  return max_;  // unreachable: the bins hold count_ values
}

LatencyHistogram& LatencyHistogram::operator+=(const LatencyHistogram& other) {
  // Cell by cell rather than histogram::operator+=: both have the same axis, and GCC 12
  // reports a false -Wmaybe-uninitialized inside Boost's operator+= in the sanitizer build.
  auto mine = hist_.begin();
  for (auto theirs = other.hist_.begin(); theirs != other.hist_.end(); ++theirs, ++mine) *mine += *theirs;
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  return *this;
}

nlohmann::json LatencyHistogram::to_json() const {
  return {{"count", count()},          {"mean", mean()},            {"min", min()},
          {"p50", percentile(0.5)},    {"p90", percentile(0.9)},    {"p99", percentile(0.99)},
          {"p999", percentile(0.999)}, {"max", max()}};
}

}  // namespace mmusim::stats
