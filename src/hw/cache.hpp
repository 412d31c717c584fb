// One level of the data-cache hierarchy: set-associative, physically indexed and
// tagged, write-allocate, write-back. It decides hit or miss and which line a fill
// evicts; it knows nothing of time (MemoryTiming gives each level its latency).
//
// LRU is the only replacement policy modelled for data caches. The question the
// caches answer for the walker is whether a page-table line is still resident when
// a walk comes back to it. A line reused within a short distance survives under
// any reasonable policy, and one not reused for longer than the cache's capacity
// is gone under any; pseudo-LRU and re-reference-prediction policies differ from
// LRU only in the band between, mainly on thrashing and scanning patterns. Until a
// trace shows that band mattering, a second policy would be untested surface.
//
// A write marks the line dirty; evicting a dirty line counts a write-back and
// returns its address so that the owner can write it into the level below. No time
// is charged for write-backs [assume]: one is off the critical path of the access
// that caused it, and the model has no bandwidth to contend for (memory_timing.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace mmusim::hw {

class Cache {
 public:
  struct Stats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t fills = 0;       // lines installed: by a miss, or by a write-back from above
    std::uint64_t evictions = 0;   // valid lines displaced by a fill
    std::uint64_t writebacks = 0;  // evictions of dirty lines
  };

  // Throws std::invalid_argument unless sets and line_bytes are powers of two
  // (line_bytes at least 8) and ways is nonzero.
  Cache(unsigned sets, unsigned ways, unsigned line_bytes);

  // Whether the line holding `pa` is present. A hit makes it most recently used and,
  // for a write, dirty. Inline because an L1D hit is the common case of every access.
  bool lookup(std::uint64_t pa, bool write) {
    const std::uint64_t line = pa >> line_shift_;
    const std::uint64_t set = line & set_mask_;
    const std::size_t mru = set * ways_ + mru_way_[set];
    // The MRU way already holds the set's newest stamp, so a hit on it leaves the
    // LRU order as it is: no stamp to write.
    if (tags_[mru] == line) {
      dirty_[mru] |= static_cast<unsigned char>(write);
      ++stats_.hits;
      return true;
    }
    return lookup_other_ways(line, set, write);
  }

  // Installs the line holding `pa` (dirty if asked) as most recently used, evicting
  // the set's least recently used line if no way is free. Returns the address of the
  // evicted line if it was dirty: the write-back the caller passes down. A line
  // already present is not installed twice: it is made MRU (and dirty if asked).
  std::optional<std::uint64_t> fill(std::uint64_t pa, bool dirty);

  // Empties every line without write-backs: a reset, not WBINVD. Stats are kept.
  void invalidate_all();

  // Whether the line is present, without touching LRU or stats (tests, reports).
  bool contains(std::uint64_t pa) const;
  bool dirty(std::uint64_t pa) const;  // false if absent

  unsigned sets() const { return sets_; }
  unsigned ways() const { return ways_; }
  unsigned line_bytes() const { return 1u << line_shift_; }
  std::uint64_t size_bytes() const { return std::uint64_t{sets_} * ways_ << line_shift_; }
  const Stats& stats() const { return stats_; }

 private:
  // Tags are whole line numbers (pa >> line_shift): the set bits stay in them, which
  // costs a few bits and saves a mask on every compare. pa >> 3 or more can never be
  // all ones, so that value marks an empty way.
  static constexpr std::uint64_t kEmpty = ~std::uint64_t{0};

  bool lookup_other_ways(std::uint64_t line, std::uint64_t set, bool write);
  std::optional<std::size_t> find(std::uint64_t pa) const;  // index of the way holding pa
  void touch(std::uint64_t set, unsigned way) {
    stamps_[set * ways_ + way] = ++clock_;
    mru_way_[set] = way;
  }

  unsigned sets_;
  unsigned ways_;
  unsigned line_shift_;
  std::uint64_t set_mask_;
  // Structure of arrays, each [set * ways + way]: a set's tags are contiguous, so a
  // lookup scans one or two cache lines of the host.
  std::vector<std::uint64_t> tags_;
  std::vector<std::uint64_t> stamps_;  // LRU: the clock at last use; 0 = never (empty ways go first)
  std::vector<unsigned char> dirty_;
  std::vector<unsigned> mru_way_;      // per set: the way used last
  std::uint64_t clock_ = 0;
  Stats stats_;
};

}  // namespace mmusim::hw
