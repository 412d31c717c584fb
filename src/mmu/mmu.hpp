// The memory-management unit of one core: an L1 data TLB, an L1 instruction TLB
// and the page walker, in the order of SDM Vol. 3A §4.10 (translation procedure as
// x86-paging-semantics.md §5.1 states it): canonical check, TLB lookup with the
// rights evaluated at use time, a walk on a miss, a fill on success, and on a #PF
// the invalidation of every entry for the faulting address (§4.10.4.1).
#pragma once

#include <systemc>

#include "config/config.hpp"
#include "mmu/page_walker.hpp"
#include "mmu/paging_structure_cache.hpp"
#include "tlb/tlb.hpp"

namespace mmusim::mmu {

struct Translated {
  Fault fault;                 // Vector::None on success
  u64 pa = 0;
  std::uint64_t tlb_cycles = 0;   // TLB lookup and miss handling
  std::uint64_t walk_cycles = 0;  // the walk's memory accesses and any PSC hit
  bool tlb_hit = false;
};

struct MmuStats {
  std::uint64_t translations = 0;
  std::uint64_t rewalks_rights = 0;  // TLB hit that did not permit the access (POLICY-RW)
  std::uint64_t rewalks_dirty = 0;   // write hit on an entry with D=0 (SDM §4.8)
  std::uint64_t noncanonical = 0;
  std::uint64_t tlb_cycles = 0;      // hit and miss latencies
};

class Mmu : public sc_core::sc_module {
 public:
  PageWalker walker;

  Mmu(sc_core::sc_module_name name, const config::Config& cfg, sc_core::sc_time clock_period);

  Translated translate(const Access& a, const ControlRegs& cr);

  // Invalidation operations (SDM §4.10.4.1) on both TLBs and the paging-structure
  // caches. INVLPG drops every PSC entry of `pcid`, whatever the address (PSC entries
  // are not tied to one page); none of them is global.
  void invlpg(u64 la, u32 pcid);
  // INVPCID type 0: the non-global entries for {pcid, la}; global entries stay.
  void invpcid_address(u64 la, u32 pcid);
  void invalidate_pcid(u32 pcid);
  void invalidate_all();
  void invalidate_all_non_global();

  const tlb::Tlb& l1d() const { return l1d_; }
  const tlb::Tlb& l1i() const { return l1i_; }
  const PagingStructureCache& psc() const { return psc_; }
  const MmuStats& stats() const { return stats_; }

 private:
  tlb::Tlb l1d_;
  tlb::Tlb l1i_;
  PagingStructureCache psc_;
  std::uint64_t psc_hit_cycles_;
  std::uint64_t hit_cycles_;
  std::uint64_t miss_cycles_;
  MmuStats stats_;
};

}  // namespace mmusim::mmu
