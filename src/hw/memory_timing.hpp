// The time of one physical-memory access: a page-table load or A/D update by the
// hardware walker, or (with cache.data) a data access of the trace.
//
// mem.model = fixed: every access costs mem.latency and no state is kept.
// mem.model = caches: the access looks up L1D, then L2, then the LLC; the first level
// that holds the line serves it at that level's load-to-use latency, and an access no
// level holds costs cache.dram_latency. The line is then filled into every level above
// the one that served it.
//
// The hierarchy is non-inclusive, non-exclusive [assume]: each level evicts on its own
// and no eviction reaches into the levels above (no back-invalidation), the same choice
// as the TLB hierarchy (config.hpp). Real parts differ here: some LLCs are inclusive of
// the cores' caches and some exclusive, and the configuration does not say which a
// machine has. The two differ only when a lower level drops a line an upper level still
// holds; while the LLC is much larger than L1D and L2 that is rare for the handful of
// lines a walk touches, and NINE is the one policy that needs no extra mechanism.
//
// A write (an A/D update, a store in the trace) marks the line dirty in L1D; a dirty
// line evicted from a level is written into the level below (allocating it there) and
// from the LLC to DRAM, counted but charged no time (cache.hpp).
//
// With several cores, L1D and L2 are each core's and the LLC is one Cache that every
// core's MemoryTiming shares (owned by the System).
//
// Not modelled, each because the in-order core issues one access at a time and waits
// for it: more than one outstanding miss (no MSHRs), bandwidth and queueing, and
// contention between walkers or between cores for the LLC. Nor prefetchers; nor
// coherence: a line written on one core stays valid in the others' L1D and L2. The
// caches hold presence, not data, so this can make an access faster than it should
// be, never wrong. The kernel's own writes (zeroing and copying frames, writing PTEs) do not
// pass through the caches: their cost is the kernel's named step costs (config.hpp,
// KernelCostConfig). So the first walk through a page-table page the kernel has just
// allocated and written misses on it, where hardware would likely find it in L1D.
// The caches hold presence, not contents, so this costs time, never correctness.
//
// cache.data = false: data accesses are modelled as always hitting L1D and do not touch
// the caches, so page-table lines compete only with each other.
//
// Plain C++: the Core and its walker call it on the core's thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "config/config.hpp"
#include "hw/cache.hpp"

namespace mmusim::hw {

// Where an access was served; Fixed is mem.model = fixed.
enum class ServedBy : unsigned char { L1d, L2, Llc, Dram, Fixed };
inline constexpr std::size_t kServedByCount = 5;
const char* name(ServedBy level);  // "l1d", "l2", "llc", "dram", "fixed"

enum class Requester : unsigned char { PageWalk, Data };
inline constexpr std::size_t kRequesterCount = 2;
const char* name(Requester who);  // "page_walk", "data"

struct Served {
  std::uint64_t cycles;
  ServedBy level;
};

class MemoryTiming {
 public:
  // Copies what it needs from `cfg`; assumes config::validate accepted it (a cache
  // geometry it would reject throws std::invalid_argument here).
  // A core's hierarchy whose last level is `llc`, shared with the other cores.
  MemoryTiming(const config::Config& cfg, Cache& llc);
  // A hierarchy with an LLC of its own (one core: tests, benchmarks).
  explicit MemoryTiming(const config::Config& cfg);

  // The time of one access to physical address `pa`, and the level that served it.
  // Inline: the L1D hit, or either mode that keeps no state, is the common case.
  Served access(std::uint64_t pa, bool write, Requester who) {
    if (fixed_) return count(who, ServedBy::Fixed);
    if ((who == Requester::Data && !data_through_caches_) || l1d_.hit_mru(pa, write))
      return count(who, ServedBy::L1d);
    return miss(pa, write, who);
  }

  // Empties every level without write-backs (cache.hpp). Counters are kept.
  void invalidate_all();

  // How many accesses of `who` were served at `level`.
  std::uint64_t served(Requester who, ServedBy level) const {
    return served_[static_cast<std::size_t>(who)][static_cast<std::size_t>(level)];
  }
  std::uint64_t accesses(Requester who) const;  // the sum over every level

  // The cache of L1d, L2 or Llc (for its stats and geometry); throws
  // std::invalid_argument for Dram and Fixed.
  const Cache& level(ServedBy level) const;
  std::uint64_t latency_cycles(ServedBy level) const { return latency_cycles_[static_cast<std::size_t>(level)]; }
  config::MemoryModel model() const { return fixed_ ? config::MemoryModel::Fixed : config::MemoryModel::Caches; }
  bool data_through_caches() const { return data_through_caches_; }

 private:
  MemoryTiming(const config::Config& cfg, std::unique_ptr<Cache> own_llc, Cache* shared_llc);
  Served count(Requester who, ServedBy level) {
    ++served_[static_cast<std::size_t>(who)][static_cast<std::size_t>(level)];
    return {latency_cycles(level), level};
  }
  Served miss(std::uint64_t pa, bool write, Requester who);
  // Writes the dirty line a fill of `from` evicted (if any) into the level below.
  void write_back(ServedBy from, std::optional<std::uint64_t> victim_pa);

  bool fixed_;
  bool data_through_caches_;
  std::array<std::uint64_t, kServedByCount> latency_cycles_;  // indexed by ServedBy
  std::unique_ptr<Cache> own_llc_;  // null when the LLC is shared
  Cache l1d_;
  Cache l2_;
  Cache& llc_;
  std::array<std::array<std::uint64_t, kServedByCount>, kRequesterCount> served_{};
};

}  // namespace mmusim::hw
