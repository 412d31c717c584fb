// Paging-structure caches (Intel SDM Vol. 3A §4.10.3; x86-paging-semantics.md §2.1,
// §4.3, §4.4): per non-leaf level (PML5E with CR4.LA57, PML4E, PDPTE, PDE) a small
// set-associative LRU array that lets the walker skip the levels above a cached entry.
//
// An entry is keyed by PCID and the linear-address bits that select the cached entry
// (SDM §4.10.3.1: the PDE cache by LA[47:21], LA[56:21] with LA57; the PDPTE cache by
// LA[47:30]; ...). It holds what a walk needs to continue below that entry: the next
// table's physical address and the R/W, U/S and XD COMBINED over the path so far
// (§2.1: a cache keyed by a table's physical address holding that table's own bits
// would give two paths to one table each other's rights). That is exactly a WalkStart.
//
// Plain C++, like tlb::Tlb: the Mmu owns it and calls it on the core's thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "mmu/walk.hpp"

namespace mmusim::mmu {

struct PscArrayStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;         // lookups that reached this level and missed
  std::uint64_t fills = 0;
  std::uint64_t evictions = 0;      // valid entries replaced by a fill
  std::uint64_t invalidations = 0;  // entries removed by INVLPG, CR3/CR4 writes, INVPCID, #PF
};

struct PscGeometry {
  unsigned entries = 0;  // 0 disables the cache of that level
  unsigned ways = 0;
};

class PagingStructureCache {
 public:
  // The levels with a cache, lowest first: the order a lookup tries them.
  static constexpr std::array<Level, 4> kLevels = {Level::PDE, Level::PDPTE, Level::PML4E, Level::PML5E};

  // Throws std::invalid_argument unless each geometry is disabled (entries 0) or has
  // ways dividing entries into a power-of-two number of sets.
  PagingStructureCache(PscGeometry pml5e, PscGeometry pml4e, PscGeometry pdpte, PscGeometry pde);

  // Where a walk for `la` in `pcid` may start: below the LOWEST level that hits (the
  // longest cached prefix skips the most loads), or nothing (walk from CR3). A hit
  // makes its entry most recently used. `cr` supplies LA57 (which levels exist).
  std::optional<WalkStart> lookup(u64 la, u32 pcid, const ControlRegs& cr);

  // Caches every non-leaf entry `r` descended through, `start` being where that walk
  // began. Only entries the walk went below are cached: they were present, had no
  // reserved bits and have A=1 now (the walk set it; SDM §4.10.3.1). The entry a walk
  // faulted at and every leaf (a PTE, a PDE or PDPTE with PS=1) are never cached.
  // A faulting walk may still fill the levels above its fault (§4.3).
  void fill(const WalkResult& r, u64 la, u32 pcid, const ControlRegs& cr, const WalkStart& start);

  // SDM §4.10.4.1: INVLPG, MOV to CR3 and INVPCID types 0/1 drop every entry of the
  // PCID, whatever its address (PSC entries are never global).
  void invalidate_pcid(u32 pcid);
  // A #PF: the entries of `pcid` that a walk for `la` would use, at every level (SDM
  // §4.10.4.1; x86-paging-semantics.md §4.3), so that the retried access sees the
  // memory the kernel fixed. Entries for other addresses stay useful.
  void invalidate_address(u64 la, u32 pcid, const ControlRegs& cr);
  // CR4.PGE change, PCIDE 1->0, INVPCID types 2 and 3: every entry of every PCID.
  void invalidate_all();

  // The entry of level `l` that lookup() would find for `la` in `pcid` (what a walk
  // would continue from below that level), without making it most recently used or
  // counting a hit or miss; nothing if the level has no cache, does not exist under
  // `cr` (PML5E without LA57) or holds no such entry. For reports (`mmusim explain`).
  std::optional<WalkStart> probe(Level l, u64 la, u32 pcid, const ControlRegs& cr) const {
    if (static_cast<unsigned>(l) > static_cast<unsigned>(top_level(cr.cr4_la57))) return std::nullopt;
    const Array& a = arrays_[slot(l)];
    if (a.entries.empty()) return std::nullopt;
    const u64 tag = tag_of(la, l, cr);
    const Entry* set = &a.entries[(tag & a.set_mask) * a.geometry.ways];
    for (unsigned w = 0; w < a.geometry.ways; ++w)
      if (set[w].valid && set[w].tag == tag && set[w].pcid == pcid) return set[w].next;
    return std::nullopt;
  }

  bool enabled(Level l) const { return !arrays_[slot(l)].entries.empty(); }
  const PscGeometry& geometry(Level l) const { return arrays_[slot(l)].geometry; }
  const PscArrayStats& stats(Level l) const { return arrays_[slot(l)].stats; }
  unsigned valid_entries(Level l) const;

 private:
  struct Entry {
    u64 tag = 0;          // LA bits above the cached entry's index_shift
    u64 stamp = 0;        // LRU: last use
    WalkStart next;       // the table below and the path's combined rights
    u32 pcid = 0;
    bool valid = false;
  };
  struct Array {
    PscGeometry geometry;
    u64 set_mask = 0;
    std::vector<Entry> entries;
    PscArrayStats stats;
  };
  static unsigned slot(Level l) { return static_cast<unsigned>(l) - 2; }  // PDE 0 .. PML5E 3
  static u64 tag_of(u64 la, Level l, const ControlRegs& cr);
  void insert(Level l, u64 tag, u32 pcid, const WalkStart& next);

  std::array<Array, 4> arrays_;  // indexed by slot()
  u64 clock_ = 0;
};

}  // namespace mmusim::mmu
