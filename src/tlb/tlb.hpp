// One level of the TLB hierarchy as a SystemC module: the L1 DTLB, the L1 ITLB, the
// L2 STLB (and an optional separate L2 ITLB, as Zen has). A level has up to three
// arrays (tlb_array.hpp): one per page size (Intel L1), one for 4K and 2M pages plus
// one for 1G (Intel STLB), or one for every size (Zen L1, fully associative). A page
// size without an array of its own is smashed into the next smaller size that has one
// (SDM §4.10.2.3; Zen's L2 DTLB caches 1G pages as 2M entries, linux-fault-path.md §3.1).
//
// The module is thin on purpose: the Mmu calls it directly on the core's thread (no
// transactions, no processes) because a lookup happens on every access; the module
// gives it a place in the SystemC hierarchy and a latency. Misses are counted by the
// size of the page that resolved them, which is known only when the Mmu fills the
// level after the miss.
#pragma once

#include <array>
#include <memory>

#include <systemc>

#include "config/config.hpp"
#include "tlb/tlb_array.hpp"

namespace mmusim::tlb {

struct LevelStats {
  u64 lookups = 0;
  u64 hits = 0;
  u64 misses = 0;
  u64 misses_by_size[3] = {};  // misses whose page turned out to be 4K, 2M, 1G
};

class Tlb : public sc_core::sc_module {
 public:
  // `cfg` must have a 4k array (a level whose 4k.entries is 0 is not built).
  Tlb(sc_core::sc_module_name name, const config::TlbLevelConfig& cfg, u64 seed);

  // The entry translating `la` in `pcid`, or nullptr. The arrays are searched as
  // hardware does in parallel; the order only matters to speed (4K first).
  const TlbEntry* lookup(u64 la, u32 pcid) {
    ++stats_.lookups;
    for (unsigned i = 0; i < array_count_; ++i)
      if (const TlbEntry* e = arrays_[i]->lookup(la, pcid)) {
        ++stats_.hits;
        pending_miss_ = false;
        return e;
      }
    ++stats_.misses;
    pending_miss_ = true;
    return nullptr;
  }

  // The entry lookup() would return, without counting a lookup or touching any
  // array's replacement state (TlbArray::probe): for reports such as `mmusim explain`.
  const TlbEntry* probe(u64 la, u32 pcid) const {
    for (unsigned i = 0; i < array_count_; ++i)
      if (const TlbEntry* e = arrays_[i]->probe(la, pcid)) return e;
    return nullptr;
  }

  // Caches the page translation `t` for `la` in the array that holds its size,
  // smashed if this level has no array for it.
  void fill(u64 la, u32 pcid, const mmu::Translation& t, bool global);

  // The invalidation operations of SDM §4.10.4.1 over every array (tlb_array.hpp).
  void invalidate_page(u64 la, u32 pcid, Flush cause);
  void invalidate_page_non_global(u64 la, u32 pcid, Flush cause);
  void invalidate_pcid(u32 pcid, Flush cause);
  void invalidate_all(Flush cause);
  void invalidate_all_non_global(Flush cause);

  u64 latency_cycles() const { return latency_; }
  config::TlbArrays organisation() const { return organisation_; }
  const LevelStats& stats() const { return stats_; }
  // The arrays, 4k first; an array holds the page sizes `holds(i)` (bit s: mmu::PageSize s).
  unsigned array_count() const { return array_count_; }
  const TlbArray& array(unsigned i) const { return *arrays_[i]; }
  unsigned holds(unsigned i) const { return holds_[i]; }
  // Counters of one page size summed over the arrays.
  SizeStats size_stats(mmu::PageSize s) const;
  unsigned valid_entries() const;

 private:
  std::array<std::unique_ptr<TlbArray>, 3> arrays_;
  unsigned array_count_ = 0;
  unsigned holds_[3] = {};
  // Page size s is cached in arrays_[route_[s].array] as entries of size route_[s].size.
  struct Route {
    unsigned char array = 0;
    mmu::PageSize size = mmu::PageSize::Size4K;
  };
  Route route_[3];
  config::TlbArrays organisation_;
  u64 latency_;
  bool pending_miss_ = false;  // the last lookup missed and no fill has resolved it yet
  LevelStats stats_;
};

}  // namespace mmusim::tlb
