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
#include <utility>
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

  // Whether the line holding `pa` is the most recently used of its set: then it is a
  // hit (counted; dirty on a write) that leaves the LRU order as it is. Inline: an
  // L1D hit on the line used last is the common case of every access.
  bool hit_mru(std::uint64_t pa, bool write) {
    const std::uint64_t line = pa >> line_shift_;
    const std::uint64_t set = line & set_mask_;
    const std::size_t mru = set * ways_ + mru_way_[set];
    if (tags_[mru] != line) return false;
    dirty_[mru] |= static_cast<unsigned char>(write);
    ++stats_.hits;
    return true;
  }

  // Whether the line holding `pa` is present. A hit makes it most recently used and,
  // for a write, dirty.
  bool lookup(std::uint64_t pa, bool write) {
    return hit_mru(pa, write) || lookup_other_ways(pa >> line_shift_, (pa >> line_shift_) & set_mask_, write);
  }

  // A lookup that installs the line on a miss, in the same pass over the set: what
  // a level does on the way of an access that will fill it anyway. `written_back` is
  // the evicted line's address if it was dirty.
  struct Outcome {
    bool hit;
    std::optional<std::uint64_t> written_back;
  };
  Outcome access(std::uint64_t pa, bool write);

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
  // The way of `set` holding `line`, or (if none) the least recently used way, in one
  // pass; empty ways have stamp 0, so they go first.
  std::pair<bool, unsigned> find_or_victim(std::uint64_t line, std::uint64_t set) const {
    const std::size_t base = set * ways_;
    unsigned victim = 0;
    for (unsigned way = 0; way < ways_; ++way) {
      if (tags_[base + way] == line) return {true, way};
      if (stamps_[base + way] < stamps_[base + victim]) victim = way;
    }
    return {false, victim};
  }
  // Puts `line` in `way` of `set`, counting the eviction; returns a dirty victim's address.
  std::optional<std::uint64_t> install(std::uint64_t line, std::uint64_t set, unsigned way, bool dirty);
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
