#include "mmu/paging_structure_cache.hpp"

#include <stdexcept>
#include <string>

namespace mmusim::mmu {

PagingStructureCache::PagingStructureCache(PscGeometry pml5e, PscGeometry pml4e, PscGeometry pdpte,
                                           PscGeometry pde) {
  const std::array<PscGeometry, 4> g = {pde, pdpte, pml4e, pml5e};  // slot order
  for (unsigned s = 0; s < arrays_.size(); ++s) {
    Array& a = arrays_[s];
    a.geometry = g[s];
    if (g[s].entries == 0) continue;  // this level is not cached
    if (g[s].ways == 0 || g[s].entries % g[s].ways != 0)
      throw std::invalid_argument("paging-structure cache: ways must divide entries");
    const unsigned sets = g[s].entries / g[s].ways;
    if ((sets & (sets - 1)) != 0)
      throw std::invalid_argument("paging-structure cache: sets must be a power of two");
    a.set_mask = sets - 1;
    a.entries.resize(g[s].entries);
  }
}

u64 PagingStructureCache::tag_of(u64 la, Level l, const ControlRegs& cr) {
  // SDM §4.10.3.1: the PDE cache is indexed by LA[47:21] (LA[56:21] with LA57), and so
  // on up. The address is canonical, so the bits above 47 (56) carry nothing more.
  const unsigned width = cr.cr4_la57 ? 57 : 48;
  return (la & ((1ull << width) - 1)) >> index_shift(l);
}

std::optional<WalkStart> PagingStructureCache::lookup(u64 la, u32 pcid, const ControlRegs& cr) {
  const Level top = top_level(cr.cr4_la57);
  for (Level l : kLevels) {
    if (static_cast<unsigned>(l) > static_cast<unsigned>(top)) break;  // no PML5 without LA57
    Array& a = arrays_[slot(l)];
    if (a.entries.empty()) continue;
    const u64 tag = tag_of(la, l, cr);
    Entry* set = &a.entries[(tag & a.set_mask) * a.geometry.ways];
    for (unsigned w = 0; w < a.geometry.ways; ++w) {
      Entry& e = set[w];
      if (e.valid && e.tag == tag && e.pcid == pcid) {
        e.stamp = ++clock_;
        ++a.stats.hits;
        return e.next;  // the lowest level that hits: the longest prefix wins
      }
    }
    ++a.stats.misses;
  }
  return std::nullopt;
}

void PagingStructureCache::fill(const WalkResult& r, u64 la, u32 pcid, const ControlRegs& cr,
                                const WalkStart& start) {
  // A step followed by another step is a non-leaf entry the walk descended through:
  // P=1, no reserved bits, and A set by the walk before it went on (POLICY-ADW). The
  // last step is the leaf or the entry that faulted; neither is cached (§4.3).
  WalkStart at = start;
  for (unsigned i = 0; i + 1 < r.nsteps; ++i) {
    const WalkStep& s = r.steps[i];
    if (s.level == Level::PTE) break;  // cannot happen: a PTE is always the last step
    at = descend(at, s.entry, cr);     // combined rights of the path through this entry
    insert(s.level, tag_of(la, s.level, cr), pcid, at);
  }
}

void PagingStructureCache::insert(Level l, u64 tag, u32 pcid, const WalkStart& next) {
  Array& a = arrays_[slot(l)];
  if (a.entries.empty()) return;
  Entry* set = &a.entries[(tag & a.set_mask) * a.geometry.ways];
  Entry* victim = nullptr;
  for (unsigned w = 0; w < a.geometry.ways; ++w) {
    Entry& e = set[w];
    if (e.valid && e.tag == tag && e.pcid == pcid) {  // refresh in place: never two copies
      victim = &e;
      break;
    }
    if (!victim || (victim->valid && (!e.valid || e.stamp < victim->stamp))) victim = &e;
  }
  if (victim->valid && !(victim->tag == tag && victim->pcid == pcid)) ++a.stats.evictions;
  *victim = Entry{tag, ++clock_, next, pcid, true};
  ++a.stats.fills;
}

void PagingStructureCache::invalidate_pcid(u32 pcid) {
  for (Array& a : arrays_)
    for (Entry& e : a.entries)
      if (e.valid && e.pcid == pcid) {
        e.valid = false;
        ++a.stats.invalidations;
      }
}

void PagingStructureCache::invalidate_address(u64 la, u32 pcid, const ControlRegs& cr) {
  for (Level l : kLevels) {
    Array& a = arrays_[slot(l)];
    if (a.entries.empty()) continue;
    const u64 tag = tag_of(la, l, cr);
    for (Entry& e : a.entries)
      if (e.valid && e.pcid == pcid && e.tag == tag) {
        e.valid = false;
        ++a.stats.invalidations;
      }
  }
}

void PagingStructureCache::invalidate_all() {
  for (Array& a : arrays_)
    for (Entry& e : a.entries)
      if (e.valid) {
        e.valid = false;
        ++a.stats.invalidations;
      }
}

unsigned PagingStructureCache::valid_entries(Level l) const {
  unsigned n = 0;
  for (const Entry& e : arrays_[slot(l)].entries) n += e.valid ? 1 : 0;
  return n;
}

}  // namespace mmusim::mmu
