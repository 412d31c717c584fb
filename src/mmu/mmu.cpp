#include "mmu/mmu.hpp"

#include "mmu/rights.hpp"

namespace mmusim::mmu {

Mmu::Mmu(sc_core::sc_module_name name, const config::Config& cfg, sc_core::sc_time clock_period)
    : sc_module(name),
      walker("walker", clock_period),
      l1d_("l1d", cfg.tlb.l1d.a4k.entries, cfg.tlb.l1d.a4k.ways, cfg.tlb.l1d.a4k.replacement, cfg.tlb.seed),
      l1i_("l1i", cfg.tlb.l1i.a4k.entries, cfg.tlb.l1i.a4k.ways, cfg.tlb.l1i.a4k.replacement, cfg.tlb.seed),
      psc_({cfg.psc.pml5e.entries, cfg.psc.pml5e.ways}, {cfg.psc.pml4e.entries, cfg.psc.pml4e.ways},
           {cfg.psc.pdpte.entries, cfg.psc.pdpte.ways}, {cfg.psc.pde.entries, cfg.psc.pde.ways}),
      psc_hit_cycles_(cfg.psc.hit_cycles),
      hit_cycles_(cfg.tlb.l1d.latency_cycles),
      miss_cycles_(cfg.tlb.l2.latency_cycles) {}

Translated Mmu::translate(const Access& a, const ControlRegs& cr) {
  ++stats_.translations;
  Translated out;
  // A non-canonical address never reaches the TLB or the walker (SDM §4.5, §6.15).
  if (auto f = check_canonical(a, cr)) {
    ++stats_.noncanonical;
    out.fault = *f;
    return out;
  }
  tlb::Tlb& tlb = a.is_fetch() ? l1i_ : l1d_;
  const u32 pcid = cr.pcid();
  out.tlb_cycles = hit_cycles_;
  if (const Translation* t = tlb.lookup(a.la, pcid)) {
    const bool allowed = rights_violation(*t, a, cr) == 0;
    if (allowed && !(a.is_write() && !t->dirty)) {
      out.pa = t->physical(a.la);
      out.tlb_hit = true;
      stats_.tlb_cycles += out.tlb_cycles;
      return out;
    }
    // Not permitted, or a write to a clean entry: drop it and walk memory, which
    // re-checks the rights and sets D (x86-paging-semantics.md §4.2, POLICY-RW).
    ++(allowed ? stats_.rewalks_dirty : stats_.rewalks_rights);
    tlb.invalidate_page(a.la, pcid);
  }
  out.tlb_cycles += miss_cycles_;
  stats_.tlb_cycles += out.tlb_cycles;
  // The paging-structure caches (SDM §4.10.3.2): start below the lowest cached level,
  // with the rights the path to it combined; a hit costs psc.hit_cycles.
  const std::optional<WalkStart> cached = psc_.lookup(a.la, pcid, cr);
  const WalkStart start = cached ? *cached : walk_start(cr);
  const PageWalker::Outcome w = walker.walk(a, cr, start);
  out.walk_cycles = w.cycles + (cached ? psc_hit_cycles_ : 0);
  if (!w.result.ok()) {
    // A #PF invalidates the TLB and PSC entries that would translate its address (SDM
    // §4.10.4.1). invlpg drops every PSC entry of the PCID: more than required, as the
    // SDM allows, and the simplest correct choice. So the PSC entries a faulting walk
    // could create (§4.3) would be dropped at once, and none are filled.
    invlpg(a.la, pcid);
    out.fault = w.result.fault;
    return out;
  }
  psc_.fill(w.result, a.la, pcid, cr, start);
  const Translation& t = w.result.translation;
  tlb.fill(a.la, pcid, t, t.global && cr.cr4_pge);
  out.pa = t.physical(a.la);
  return out;
}

void Mmu::invlpg(u64 la, u32 pcid) {
  l1d_.invalidate_page(la, pcid);
  l1i_.invalidate_page(la, pcid);
  psc_.invalidate_pcid(pcid);  // SDM §4.10.4.1: all PSC entries of the PCID, any address
}

void Mmu::invalidate_pcid(u32 pcid) {
  l1d_.invalidate_pcid(pcid);
  l1i_.invalidate_pcid(pcid);
  psc_.invalidate_pcid(pcid);
}

void Mmu::invalidate_all() {
  l1d_.invalidate_all();
  l1i_.invalidate_all();
  psc_.invalidate_all();
}

void Mmu::invalidate_all_non_global() {
  l1d_.invalidate_all_non_global();
  l1i_.invalidate_all_non_global();
  psc_.invalidate_all();  // INVPCID type 3: PSC entries are never global, so all of them go
}

void Mmu::invpcid_address(u64 la, u32 pcid) {
  l1d_.invalidate_page_non_global(la, pcid);
  l1i_.invalidate_page_non_global(la, pcid);
  // SDM §4.10.4.1 (INVPCID type 0): also the PSC entries of the PCID; as for INVLPG,
  // all of them, since a PSC entry is shared by many pages.
  psc_.invalidate_pcid(pcid);
}

}  // namespace mmusim::mmu
