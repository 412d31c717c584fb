// The memory-management unit of one core: the TLB hierarchy (L1 DTLB, L1 ITLB, the
// L2 STLB and, where the configuration has one, a separate L2 ITLB), the paging-
// structure caches and the page walker, in the order of SDM Vol. 3A §4.10
// (x86-paging-semantics.md §5.1): canonical check, L1 lookup with the rights evaluated
// at use time, L2 lookup on an L1 miss, a walk on an L2 miss (starting below the
// lowest paging-structure-cache hit), fills on success, and on a #PF the invalidation
// of every entry for the faulting address (§4.10.4.1).
//
// Inclusion: a walk fills the L2 and the L1 TLB; an L2 hit fills the L1 TLB; an
// eviction from either level leaves the other alone (non-inclusive, non-exclusive).
// Intel does not document its STLB's policy; filling both on a walk is what the
// published simulators do, and back-invalidation would need a documented reason.
// Invalidations reach every level.
#pragma once

#include <memory>

#include <systemc>

#include "config/config.hpp"
#include "mmu/page_walker.hpp"
#include "mmu/paging_structure_cache.hpp"
#include "stats/latency_histogram.hpp"
#include "tlb/tlb.hpp"

namespace mmusim::mmu {

// Which structure supplied a translation.
enum class ServedFrom : unsigned char { L1, L2, Walk };

struct Translated {
  Fault fault;                 // Vector::None on success
  u64 pa = 0;
  std::uint64_t tlb_cycles = 0;   // TLB lookups
  std::uint64_t walk_cycles = 0;  // the walk's memory accesses and any PSC hit
  ServedFrom from = ServedFrom::Walk;
  bool tlb_hit() const { return from != ServedFrom::Walk; }
};

struct MmuStats {
  std::uint64_t translations = 0;
  std::uint64_t rewalks_rights = 0;  // TLB hit that did not permit the access (POLICY-RW)
  std::uint64_t rewalks_dirty = 0;   // write hit on an entry with D=0 (SDM §4.8)
  std::uint64_t noncanonical = 0;
  std::uint64_t tlb_cycles = 0;      // lookup latencies of every level
};

class Mmu : public sc_core::sc_module {
 public:
  PageWalker walker;

  Mmu(sc_core::sc_module_name name, const config::Config& cfg, sc_core::sc_time clock_period,
      hw::MemoryTiming& timing);

  Translated translate(const Access& a, const ControlRegs& cr);

  // Invalidation operations (SDM §4.10.4.1) on every TLB and the paging-structure
  // caches. INVLPG drops every PSC entry of `pcid`, whatever the address (PSC entries
  // are not tied to one page); none of them is global.
  void invlpg(u64 la, u32 pcid, tlb::Flush cause = tlb::Flush::Invlpg);
  // INVPCID type 0: the non-global entries for {pcid, la}; global entries stay.
  void invpcid_address(u64 la, u32 pcid);
  // MOV to CR3, INVPCID type 1: the non-global entries of `pcid`.
  void invalidate_pcid(u32 pcid, tlb::Flush cause);
  // Everything, globals included.
  void invalidate_all(tlb::Flush cause);
  // INVPCID type 3.
  void invalidate_all_non_global();

  const tlb::Tlb& l1d() const { return l1d_; }
  const tlb::Tlb& l1i() const { return l1i_; }
  const tlb::Tlb* l2() const { return l2_.get(); }    // nullptr when absent
  const tlb::Tlb* l2i() const { return l2i_.get(); }  // nullptr when absent
  const PagingStructureCache& psc() const { return psc_; }
  const MmuStats& stats() const { return stats_; }
  // Latency of every walk, PSC hit included (issue 4: the distribution, not just a mean).
  const stats::LatencyHistogram& walk_latency() const { return walk_latency_; }

 private:
  // Every TLB level that exists, for invalidation.
  template <typename F>
  void for_each_tlb(F&& f);
  // An entry may serve the access: the rights allow it, and a write finds D set
  // (otherwise the access re-walks: x86-paging-semantics.md §4.2, POLICY-RW).
  bool usable(const tlb::TlbEntry& e, const Access& a, const ControlRegs& cr);

  tlb::Tlb l1d_;
  tlb::Tlb l1i_;
  std::unique_ptr<tlb::Tlb> l2_;
  std::unique_ptr<tlb::Tlb> l2i_;
  tlb::Tlb* l2_fetch_;   // the L2 level instruction fetches use: l2i_ if present, else l2_
  PagingStructureCache psc_;
  std::uint64_t psc_hit_cycles_;
  MmuStats stats_;
  stats::LatencyHistogram walk_latency_;
};

}  // namespace mmusim::mmu
