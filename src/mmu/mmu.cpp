#include "mmu/mmu.hpp"

#include "mmu/rights.hpp"

namespace mmusim::mmu {
namespace {

std::unique_ptr<tlb::Tlb> optional_level(const char* name, const config::TlbLevelConfig& cfg, u64 seed) {
  if (cfg.a4k.entries == 0) return nullptr;
  return std::make_unique<tlb::Tlb>(name, cfg, seed);
}

}  // namespace

Mmu::Mmu(sc_core::sc_module_name name, const config::Config& cfg, sc_core::sc_time clock_period,
         hw::MemoryTiming& timing)
    : sc_module(name),
      walker("walker", clock_period, timing),
      l1d_("l1d", cfg.tlb.l1d, cfg.tlb.seed),
      l1i_("l1i", cfg.tlb.l1i, cfg.tlb.seed),
      l2_(optional_level("l2", cfg.tlb.l2, cfg.tlb.seed)),
      l2i_(optional_level("l2i", cfg.tlb.l2i, cfg.tlb.seed)),
      l2_fetch_(l2i_ ? l2i_.get() : l2_.get()),
      psc_({cfg.psc.pml5e.entries, cfg.psc.pml5e.ways}, {cfg.psc.pml4e.entries, cfg.psc.pml4e.ways},
           {cfg.psc.pdpte.entries, cfg.psc.pdpte.ways}, {cfg.psc.pde.entries, cfg.psc.pde.ways}),
      psc_hit_cycles_(cfg.psc.hit_cycles) {}

bool Mmu::usable(const tlb::TlbEntry& e, const Access& a, const ControlRegs& cr) {
  if (rights_violation(e.t, a, cr) != 0) {
    ++stats_.rewalks_rights;
    return false;
  }
  if (a.is_write() && !e.t.dirty) {
    ++stats_.rewalks_dirty;
    return false;
  }
  return true;
}

Translated Mmu::translate(const Access& a, const ControlRegs& cr) {
  ++stats_.translations;
  Translated out;
  // A non-canonical address never reaches the TLB or the walker (SDM §4.5, §6.15).
  if (auto f = check_canonical(a, cr)) {
    ++stats_.noncanonical;
    out.fault = *f;
    return out;
  }
  const bool fetch = a.is_fetch();
  tlb::Tlb& l1 = fetch ? l1i_ : l1d_;
  tlb::Tlb* l2 = fetch ? l2_fetch_ : l2_.get();
  const u32 pcid = cr.pcid();
  out.tlb_cycles = l1.latency_cycles();
  bool rewalk = false;
  if (const tlb::TlbEntry* e = l1.lookup(a.la, pcid)) {
    if (usable(*e, a, cr)) {
      out.pa = e->t.physical(a.la);
      out.from = ServedFrom::L1;
      stats_.tlb_cycles += out.tlb_cycles;
      return out;
    }
    rewalk = true;
  } else if (l2) {
    out.tlb_cycles += l2->latency_cycles();
    if (const tlb::TlbEntry* e = l2->lookup(a.la, pcid)) {
      if (usable(*e, a, cr)) {
        l1.fill(a.la, pcid, e->page(), e->global);
        out.pa = e->t.physical(a.la);
        out.from = ServedFrom::L2;
        stats_.tlb_cycles += out.tlb_cycles;
        return out;
      }
      rewalk = true;
    }
  }
  stats_.tlb_cycles += out.tlb_cycles;
  // A hit that may not serve the access is dropped everywhere and the walk re-checks
  // the rights in memory and sets D.
  if (rewalk) {
    l1.invalidate_page(a.la, pcid, tlb::Flush::Rewalk);
    if (l2) l2->invalidate_page(a.la, pcid, tlb::Flush::Rewalk);
  }
  // The paging-structure caches (SDM §4.10.3.2): start below the lowest cached level,
  // with the rights the path to it combined; a hit costs psc.hit_cycles.
  const std::optional<WalkStart> cached = psc_.lookup(a.la, pcid, cr);
  const WalkStart start = cached ? *cached : walk_start(cr);
  const PageWalker::Outcome w = walker.walk(a, cr, start);
  out.walk_cycles = w.cycles + (cached ? psc_hit_cycles_ : 0);
  walk_latency_.record(out.walk_cycles);
  if (!w.result.ok()) {
    // A #PF invalidates the TLB and PSC entries that would be used to translate its
    // address, and only those (SDM §4.10.4.1): a trace that faults on every new page
    // keeps its PSC entries for the other pages. The PSC entries a faulting walk could
    // create (§4.3) would be dropped at once, so none are filled.
    for_each_tlb([&](tlb::Tlb& level) { level.invalidate_page(a.la, pcid, tlb::Flush::PageFault); });
    psc_.invalidate_address(a.la, pcid, cr);
    out.fault = w.result.fault;
    return out;
  }
  psc_.fill(w.result, a.la, pcid, cr, start);
  const Translation& t = w.result.translation;
  const bool global = t.global && cr.cr4_pge;
  if (l2) l2->fill(a.la, pcid, t, global);
  l1.fill(a.la, pcid, t, global);
  out.pa = t.physical(a.la);
  return out;
}

template <typename F>
void Mmu::for_each_tlb(F&& f) {
  f(l1d_);
  f(l1i_);
  if (l2_) f(*l2_);
  if (l2i_) f(*l2i_);
}

void Mmu::invlpg(u64 la, u32 pcid, tlb::Flush cause) {
  for_each_tlb([&](tlb::Tlb& t) { t.invalidate_page(la, pcid, cause); });
  psc_.invalidate_pcid(pcid);  // SDM §4.10.4.1: all PSC entries of the PCID, any address
}

void Mmu::invpcid_address(u64 la, u32 pcid) {
  for_each_tlb([&](tlb::Tlb& t) { t.invalidate_page_non_global(la, pcid, tlb::Flush::InvpcidAddress); });
  // SDM §4.10.4.1 (INVPCID type 0): also the PSC entries of the PCID; as for INVLPG,
  // all of them, since a PSC entry is shared by many pages.
  psc_.invalidate_pcid(pcid);
}

void Mmu::invalidate_pcid(u32 pcid, tlb::Flush cause) {
  for_each_tlb([&](tlb::Tlb& t) { t.invalidate_pcid(pcid, cause); });
  psc_.invalidate_pcid(pcid);
}

void Mmu::invalidate_all(tlb::Flush cause) {
  for_each_tlb([&](tlb::Tlb& t) { t.invalidate_all(cause); });
  psc_.invalidate_all();
}

void Mmu::invalidate_all_non_global() {
  for_each_tlb([](tlb::Tlb& t) { t.invalidate_all_non_global(tlb::Flush::InvpcidNonGlobal); });
  psc_.invalidate_all();  // INVPCID type 3: PSC entries are never global, so all of them go
}

}  // namespace mmusim::mmu
