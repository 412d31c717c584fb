#include "explain_walk.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>

#include "explain_text.hpp"
#include "mmu/reserved.hpp"
#include "mmu/rights.hpp"
#include "mmu/walk.hpp"

namespace mmusim::cli::explain_walk {
namespace {

using namespace explain_text;

// Physical memory as the walker sees it, with the walk's own A/D writes kept aside: the
// displayed walk applies the SDM's rules (mmu::walk) without changing the machine.
class OverlayMemory : public mmu::PagingMemory {
 public:
  explicit OverlayMemory(const hw::SparseMemory& mem) : mem_(mem) {}
  u64 load64(u64 pa) override {
    const auto it = writes_.find(pa);
    return it != writes_.end() ? it->second : mem_.read64(pa);
  }
  bool cmpxchg64(u64 pa, u64 expected, u64 desired) override {
    if (load64(pa) != expected) return false;
    writes_[pa] = desired;
    return true;
  }

 private:
  const hw::SparseMemory& mem_;
  std::map<u64, u64> writes_;
};


// ---- the machine at line N -----------------------------------------------------------


struct TlbProbe {
  const char* name = "";
  const tlb::Tlb* level = nullptr;
  const tlb::TlbEntry* entry = nullptr;
  bool usable = false;
  std::string why_not;
};

TlbProbe probe_tlb(const char* name, const tlb::Tlb* level, const Ctx& c) {
  TlbProbe p;
  p.name = name;
  p.level = level;
  if (!level) return p;
  p.entry = level->probe(c.a.la, c.cr.pcid());
  if (!p.entry) return p;
  // As Mmu::usable: a hit serves only if the rights it holds allow the access now,
  // and a write finds D=1 (SDM §4.8: otherwise the processor walks to set D).
  if (const u32 ec = mmu::rights_violation(p.entry->t, c.a, c.cr)) {
    const auto why = rights_reasons(p.entry->t, c.a, c.cr);
    p.why_not = why.empty() ? fmt::format("its rights do not allow this access (error code {:#x})", ec) : why.front();
  } else if (c.a.is_write() && !p.entry->t.dirty) {
    p.why_not = "a write needs D=1 and the entry has D=0 (SDM §4.8): memory is walked to set it";
  } else {
    p.usable = true;
  }
  return p;
}

std::string tlb_entry_text(const tlb::TlbEntry& e, u64 la) {
  const mmu::Translation whole = e.page();
  std::string s =
      fmt::format("{} page {:#x} -> frame {:#x}, R/W={} U/S={} XD={} D={}", size_name(whole.size),
                  whole.page_base_la(la), whole.page_pa, int(e.t.rw), int(e.t.us), int(e.t.xd), int(e.t.dirty));
  s += e.global ? ", global" : fmt::format(", PCID {}", e.pcid);
  if (e.size < e.page_size) s += fmt::format(" (held as a {} piece)", size_name(static_cast<mmu::PageSize>(e.size)));
  return s;
}

json tlb_json(const TlbProbe& p, u64 la, bool consulted) {
  json j;
  j["level"] = p.name;
  j["present"] = p.level != nullptr;
  if (!p.level) return j;
  j["hit"] = p.entry != nullptr;
  j["consulted"] = consulted;
  if (p.entry) {
    const mmu::Translation whole = p.entry->page();
    j["page_size"] = size_name(whole.size);
    j["page"] = hex(whole.page_base_la(la));
    j["frame"] = hex(whole.page_pa);
    j["rights"] = rights_json(p.entry->t.rw, p.entry->t.us, p.entry->t.xd);
    j["dirty"] = p.entry->t.dirty;
    j["global"] = p.entry->global;
    j["pcid"] = p.entry->pcid;
    j["usable"] = p.usable;
    if (!p.usable) j["why_not"] = p.why_not;
  }
  return j;
}

const char* served_name(mmu::ServedFrom f) {
  return f == mmu::ServedFrom::L1 ? "l1" : f == mmu::ServedFrom::L2 ? "l2" : "walk";
}

// One translation of `la`, explained, then done for real. Returns the real result.
}  // namespace

mmu::Translated translation(Ctx& c, u64 la, const std::string& title, std::string& t, json& j) {
  c.a.la = la;
  const mmu::ControlRegs& cr = c.cr;
  mmu::Mmu& mmu = c.sys.mmu(c.cpu);
  j["kind"] = "translation";
  j["address"] = hex(la);
  t += fmt::format("\n{}\n", title);

  // SDM §4.5, §6.15: a non-canonical address faults before any TLB lookup or walk.
  if (mmu::check_canonical(c.a, cr)) {
    const unsigned top = cr.cr4_la57 ? 56 : 47;
    t += fmt::format(
        "  {:#x} is not canonical: bits 63:{} must all equal bit {} ({}-level paging, SDM §4.5).\n"
        "  No TLB is looked up and no entry is read.\n",
        la, top, top, cr.cr4_la57 ? 5 : 4);
    const mmu::Translated r = mmu.translate(c.a, cr);
    const bool ss = r.fault.vector == mmu::Vector::SS;
    t += fmt::format("  Outcome: {}(0): {} (SDM §6.15); CR2 is not loaded\n", ss ? "#SS" : "#GP",
                     ss ? "a stack reference to a non-canonical address" : "a non-canonical address");
    j["canonical"] = false;
    j["outcome"] = {{"fault", ss ? "#SS" : "#GP"}, {"error_code", "0x0"}};
    return r;
  }
  j["canonical"] = true;

  // What the TLB levels and paging-structure caches hold now, probed without
  // touching their replacement state (SDM §4.10.2, §4.10.3).
  const bool fetch = c.a.is_fetch();
  const tlb::Tlb* l1 = fetch ? &mmu.l1i() : &mmu.l1d();
  const tlb::Tlb* l2 = fetch ? (mmu.l2i() ? mmu.l2i() : mmu.l2()) : mmu.l2();
  const TlbProbe p1 = probe_tlb(fetch ? "L1 ITLB" : "L1 DTLB", l1, c);
  const TlbProbe p2 = probe_tlb(fetch && mmu.l2i() ? "L2 ITLB" : "L2 STLB", l2, c);
  // As Mmu::translate: the L2 is looked up only on an L1 miss.
  const bool l2_consulted = p1.entry == nullptr && l2 != nullptr;
  const bool by_l1 = p1.entry && p1.usable;
  const bool by_l2 = !p1.entry && p2.entry && p2.usable;
  const bool walks = !by_l1 && !by_l2;

  t += fmt::format("  Where it starts (SDM §4.10; PCID {})\n", cr.pcid());
  j["pcid"] = cr.pcid();
  json jt = json::array();
  for (const TlbProbe* p : {&p1, &p2}) {
    const bool consulted = p == &p1 || l2_consulted;
    jt.push_back(tlb_json(*p, la, consulted));
    if (!p->level) {
      t += fmt::format("    {:<10} absent in this machine\n", p->name);
      continue;
    }
    if (!p->entry) {
      t += fmt::format("    {:<10} miss\n", p->name);
      continue;
    }
    t += fmt::format("    {:<10} hit   {}\n", p->name, tlb_entry_text(*p->entry, la));
    if (!consulted)
      t += fmt::format("    {:<10}       (not looked up: the L1 hit decides)\n", "");
    else if (!p->usable)
      t += fmt::format("    {:<10}       not usable: {};\n    {:<10}       the entry is dropped and memory is walked\n",
                       "", p->why_not, "");
  }
  j["tlb"] = jt;

  const mmu::PagingStructureCache& psc = mmu.psc();
  std::optional<mmu::WalkStart> psc_start;
  Level psc_level = Level::PTE;
  json jp = json::array();
  for (Level l : mmu::PagingStructureCache::kLevels) {
    if (static_cast<unsigned>(l) > static_cast<unsigned>(mmu::top_level(cr.cr4_la57))) break;
    json e{{"level", entry_name(l)}, {"enabled", psc.enabled(l)}};
    if (!psc.enabled(l)) {
      t += fmt::format("    PSC {:<6} absent in this machine\n", entry_name(l));
      jp.push_back(e);
      continue;
    }
    const auto hit = psc.probe(l, la, cr.pcid(), cr);
    e["hit"] = hit.has_value();
    if (hit) {
      t += fmt::format("    PSC {:<6} hit   {} at {:#x}, rights of the path to it {}\n", entry_name(l),
                       table_name(hit->level), hit->table_pa, rights_text(hit->rw, hit->us, hit->xd, cr));
      e["next_table"] = hex(hit->table_pa);
      e["rights"] = rights_json(hit->rw, hit->us, hit->xd);
      // The lowest level that hits is where a walk continues (SDM §4.10.3.2).
      if (!psc_start) {
        psc_start = hit;
        psc_level = l;
      }
    } else {
      t += fmt::format("    PSC {:<6} miss\n", entry_name(l));
    }
    jp.push_back(e);
  }
  j["psc"] = jp;

  const mmu::WalkStart start = psc_start ? *psc_start : mmu::walk_start(cr);
  std::string plan;
  if (by_l1)
    plan = fmt::format("the {} hit serves the access: no walk", p1.name);
  else if (by_l2)
    plan = fmt::format("the {} hit serves the access (and fills the {}): no walk", p2.name, p1.name);
  else if (psc_start) {
    const unsigned skipped = static_cast<unsigned>(mmu::top_level(cr.cr4_la57)) - static_cast<unsigned>(start.level);
    plan = fmt::format("the walk starts at the {} (PSC {} hit): {} entry load{} skipped", table_name(start.level),
                       entry_name(psc_level), skipped, skipped == 1 ? "" : "s");
  } else
    plan = fmt::format("the walk starts at the {} named by CR3", table_name(start.level));
  t += fmt::format("    => {}\n", plan);
  j["plan"] = plan;

  // The entries through the SDM's rules (mmu::walk) on an overlay, so that showing a
  // walk sets no A/D bit: `memory` from CR3, what memory alone says; `hw` the walk the
  // MMU does, from below the PSC hit (the two differ only if a PSC entry is stale).
  OverlayMemory overlay(c.sys.store());
  const mmu::WalkResult memory = mmu::walk(overlay, c.a, cr);
  const bool partial = walks && psc_start;
  OverlayMemory overlay_hw(c.sys.store());
  const mmu::WalkResult hw = partial ? mmu::walk(overlay_hw, c.a, cr, start) : memory;
  struct Shown {
    mmu::WalkStep step;
    bool skipped;
    std::string line_in;  // which cache holds the entry's line before the access
  };
  std::vector<Shown> shown;
  for (unsigned i = 0; i < memory.nsteps; ++i)
    if (partial && static_cast<unsigned>(memory.steps[i].level) > static_cast<unsigned>(start.level))
      shown.push_back({memory.steps[i], true, ""});
  for (unsigned i = 0; i < hw.nsteps; ++i) shown.push_back({hw.steps[i], false, ""});
  for (Shown& s : shown) s.line_in = cached_in(c.sys.timing(c.cpu), s.step.entry_pa);

  // The translation itself, as the core does it.
  const mmu::Translated real = mmu.translate(c.a, cr);

  t += walks ? fmt::format("  The walk (SDM §4.5; rights combined as §4.6.1: R/W and U/S ANDed, XD ORed)\n")
             : fmt::format("  The page tables in memory (not read now: the TLB entry is used)\n");
  json jw = json::array();
  mmu::WalkStart at = mmu::walk_start(cr);
  bool memory_broken = false;  // memory's own walk faulted in the levels the PSC skips
  for (std::size_t i = 0; i < shown.size(); ++i) {
    const mmu::WalkStep& s = shown[i].step;
    const bool skipped = shown[i].skipped;
    if (partial && !skipped && (i == 0 || shown[i - 1].skipped)) {
      // The walk goes on from the PSC entry: its table and the rights it combined.
      if (i > 0 && memory_broken)
        t += fmt::format(
            "           (memory now faults above the {}; the PSC {} entry, made before that change,\n"
            "            still leads to the {} at {:#x})\n",
            table_name(start.level), entry_name(psc_level), table_name(start.level), start.table_pa);
      else if (i > 0 && (at.table_pa != start.table_pa || at.rw != start.rw || at.us != start.us || at.xd != start.xd))
        t += fmt::format(
            "           (memory now leads to the {} at {:#x} with R/W={} U/S={} XD={}; the PSC {} entry,\n"
            "            made before that change, holds {:#x} with R/W={} U/S={} XD={})\n",
            table_name(start.level), at.table_pa, int(at.rw), int(at.us), int(at.xd), entry_name(psc_level),
            start.table_pa, int(start.rw), int(start.us), int(start.xd));
      at = start;
    }
    const u64 e = s.entry;
    const u64 after = c.sys.store().read64(s.entry_pa);
    const bool last = i + 1 == shown.size();
    json je;
    je["level"] = entry_name(s.level);
    je["index"] = mmu::table_index(la, s.level);
    je["address"] = hex(s.entry_pa);
    je["value"] = fmt::format("{:#018x}", e);
    je["line_in"] = shown[i].line_in;
    if (skipped) je["skipped_by_psc"] = true;
    t += fmt::format("    {:<6} {}[{}] at {:#x} = {:#018x}   line in {}{}\n", entry_name(s.level), table_name(s.level),
                     mmu::table_index(la, s.level), s.entry_pa, e, shown[i].line_in,
                     skipped ? fmt::format("   (not read: the PSC {} entry stands in)", entry_name(psc_level)) : "");
    if (!(e & mmu::bit::P)) {
      // SDM §4.7: a not-present entry faults whatever its other bits hold.
      t += fmt::format("           P=0: not present; its other bits are ignored (SDM §4.7)\n");
      je["flags"] = {{"p", false}};
      if (!skipped) je["fault_here"] = json::array({"not present"});
      memory_broken |= skipped;
      jw.push_back(je);
      continue;
    }
    t += fmt::format("           {}\n", flags_text(s.level, e, cr));
    je["flags"] = flags_json(s.level, e, cr);
    if (const u64 rsv = e & mmu::reserved_mask(s.level, e, cr)) {
      t += fmt::format("           reserved bits set: {}: RSVD fault (SDM §4.7)\n", reserved_text(s.level, e, rsv, cr));
      je["reserved_bits"] = hex(rsv);
      if (!skipped) je["fault_here"] = json::array({"reserved bit set"});
      memory_broken |= skipped;
      jw.push_back(je);
      continue;
    }
    const bool leaf = mmu::is_leaf(s.level, e);
    const mmu::WalkStart next = mmu::descend(at, e, cr);  // folds this entry's rights in
    if (leaf) {
      const mmu::PageSize size = mmu::leaf_page_size(s.level);
      const u64 frame = e & mmu::phys_addr_mask(cr.maxphyaddr) & ~(mmu::page_bytes(size) - 1);
      // SDM §4.5: a large page's offset takes the index bits below its level too.
      const unsigned bits = mmu::page_shift(size);
      t += fmt::format("           -> {} page at {:#x}; the page offset is bits {}:0 of the address = {:#x}\n",
                       size_name(size), frame, bits - 1, la & (mmu::page_bytes(size) - 1));
      je["page_size"] = size_name(size);
      je["frame"] = hex(frame);
    } else {
      t += fmt::format("           -> {} at {:#x}\n", table_name(level_below(s.level)), next.table_pa);
      je["next_table"] = hex(next.table_pa);
    }
    t += fmt::format("           rights so far  {}\n", rights_text(next.rw, next.us, next.xd, cr));
    je["rights_so_far"] = rights_json(next.rw, next.us, next.xd);
    if (after != e) {
      std::string what;
      if ((after & mmu::bit::A) && !(e & mmu::bit::A)) what += "A";
      if ((after & mmu::bit::D) && !(e & mmu::bit::D)) what += what.empty() ? "D" : " and D";
      t += fmt::format("           now {:#018x}{}\n", after,
                       what.empty() ? "" : fmt::format(": this access set {} (SDM §4.8)", what));
      je["value_after"] = fmt::format("{:#018x}", after);
    }
    if (last && !skipped && hw.fault) {
      mmu::Translation tr;
      tr.rw = next.rw;
      tr.us = next.us;
      tr.xd = next.xd;
      tr.pkey = static_cast<unsigned char>((e & mmu::kPkeyMask) >> mmu::kPkeyShift);
      const auto why = rights_reasons(tr, c.a, cr);
      for (const std::string& w : why) t += fmt::format("           forbids this access: {}\n", w);
      je["fault_here"] = why;
    }
    jw.push_back(je);
    at = next;
  }
  j["walk"] = jw;

  // The outcome is the real translation's: a TLB entry can disagree with memory.
  json jo;
  jo["served_by"] = served_name(real.from);
  jo["tlb_cycles"] = real.tlb_cycles;
  jo["walk_cycles"] = real.walk_cycles;
  const std::string cost = fmt::format("{} cycle{} in the TLBs + {} in the walk", real.tlb_cycles,
                                       real.tlb_cycles == 1 ? "" : "s", real.walk_cycles);
  // Memory alone (the displayed walk) and the real translation differ only when a
  // cached entry outlived a change to memory that no invalidation followed (§4.10.4).
  const mmu::WalkResult& r = memory;
  const bool differs = r.ok() != !real.fault || (r.ok() && r.translation.physical(la) != real.pa) ||
                       (!r.ok() && r.fault.error_code != real.fault.error_code);
  if (!real.fault) {
    const std::string from =
        real.from == mmu::ServedFrom::Walk
            ? std::string("from the walk")
            : fmt::format("from the {} entry", real.from == mmu::ServedFrom::L1 ? p1.name : p2.name);
    t += fmt::format("  Outcome: physical address {:#x} ({}; {})\n", real.pa, from, cost);
    jo["pa"] = hex(real.pa);
  } else {
    t += fmt::format("  Outcome: #PF, error code {:#x}, CR2 = {:#x} (SDM §4.7; {})\n", real.fault.error_code,
                     real.fault.cr2, cost);
    jo["fault"] = "#PF";
    jo["error_code"] = hex(real.fault.error_code);
    jo["cr2"] = hex(real.fault.cr2);
    error_code(real.fault.error_code, t, jo);
    t += "    the #PF drops every TLB and PSC entry for this address (SDM §4.10.4.1)\n";
  }
  if (differs) {
    const std::string memory_says = r.ok() ? fmt::format("maps it to {:#x}", r.translation.physical(la))
                                           : fmt::format("would fault (#PF {:#x})", r.fault.error_code);
    const std::string cache = real.from == mmu::ServedFrom::Walk
                                  ? "the walk went on from a paging-structure-cache entry made"
                                  : "the TLB entry was made";
    t += fmt::format(
        "    stale: memory now {}, but {} before that change;\n"
        "    it stays in use until INVLPG, a CR3 load or INVPCID drops it (SDM §4.10.4)\n",
        memory_says, cache);
    jo["stale"] = true;
  }
  j["outcome"] = jo;
  return real;
}

}  // namespace mmusim::cli::explain_walk
