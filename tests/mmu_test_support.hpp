// Test support for the paging rules: a physical memory that counts what the walker
// does with it, and a builder of page tables with one table per level.
#pragma once

#include <functional>
#include <map>
#include <vector>

#include "mmu/walk.hpp"

namespace mmu_test {

using namespace mmusim::mmu;

// Physical memory for the walker that counts what the walker does with it.
class MapMemory final : public PagingMemory {
 public:
  std::map<u64, u64> cells;
  unsigned loads = 0;
  unsigned cas_calls = 0;
  std::vector<u64> load_pas;
  std::vector<u64> cas_pas;
  std::function<void(u64 pa)> before_cas;  // another agent editing memory mid-walk

  u64 get(u64 pa) const {
    const auto it = cells.find(pa);
    return it == cells.end() ? 0 : it->second;
  }
  u64 load64(u64 pa) override {
    ++loads;
    load_pas.push_back(pa);
    return get(pa);
  }
  bool cmpxchg64(u64 pa, u64 expected, u64 desired) override {
    ++cas_calls;
    cas_pas.push_back(pa);
    if (before_cas) before_cas(pa);
    if (get(pa) != expected) return false;
    cells[pa] = desired;
    return true;
  }
};

constexpr u64 kPml5 = 0x10000, kPml4 = 0x11000, kPdpt = 0x12000, kPd = 0x13000, kPt = 0x14000;
constexpr u64 kNonLeaf = bit::P | bit::RW | bit::US;
constexpr u64 kUserRW = bit::P | bit::RW | bit::US;
constexpr u64 kLA = 0x0000'1234'5678'9ABCull;
constexpr u64 kFrame = 0x7654'3000ull;

// Bits hi..lo set.
constexpr u64 bits(unsigned hi, unsigned lo) { return ((~0ull) >> (63 - hi)) & ~((1ull << lo) - 1); }

// One table per level; every linear address walks through the same five tables.
struct Tables {
  MapMemory mem;
  ControlRegs cr;
  explicit Tables(bool la57 = false) {
    cr.cr4_la57 = la57;
    cr.cr3 = la57 ? kPml5 : kPml4;
  }
  static u64 table(Level l) {
    switch (l) {
      case Level::PML5E: return kPml5;
      case Level::PML4E: return kPml4;
      case Level::PDPTE: return kPdpt;
      case Level::PDE: return kPd;
      case Level::PTE: return kPt;
    }
    return 0;
  }
  static Level below(Level l) { return static_cast<Level>(static_cast<unsigned>(l) - 1); }
  static u64 epa(Level l, u64 la) { return entry_address(table(l), la, l); }
  void put(Level l, u64 la, u64 v) { mem.cells[epa(l, la)] = v; }
  u64 get(Level l, u64 la) const { return mem.get(epa(l, la)); }
  // Non-leaf entries from the top level down to `last`, each pointing at the next table.
  void upper(u64 la, Level last, u64 flags) {
    for (Level l = top_level(cr.cr4_la57);; l = below(l)) {
      put(l, la, table(below(l)) | flags);
      if (l == last) break;
    }
  }
  void map4k(u64 la, u64 frame, u64 leaf, u64 up = kNonLeaf) {
    upper(la, Level::PDE, up);
    put(Level::PTE, la, frame | leaf);
  }
  void map2m(u64 la, u64 frame, u64 leaf, u64 up = kNonLeaf) {
    upper(la, Level::PDPTE, up);
    put(Level::PDE, la, frame | bit::PS | leaf);
  }
  void map1g(u64 la, u64 frame, u64 leaf, u64 up = kNonLeaf) {
    upper(la, Level::PML4E, up);
    put(Level::PDPTE, la, frame | bit::PS | leaf);
  }
  // Sets `extra` in the entry used at `l` (after a map* call).
  void add(Level l, u64 la, u64 extra) { put(l, la, get(l, la) | extra); }
  WalkResult run(const Access& a) { return walk(mem, a, cr); }
};

inline Access make(u64 la, AccessType type, bool user, bool rmw = false) {
  Access a;
  a.la = la;
  a.type = type;
  a.user_mode = user;
  a.rmw = rmw;
  return a;
}
inline Access rd(u64 la, bool user = false) { return make(la, AccessType::Read, user); }
inline Access wr(u64 la, bool user = false) { return make(la, AccessType::Write, user); }
inline Access fx(u64 la, bool user = false) { return make(la, AccessType::Fetch, user); }

constexpr Level kLevels4[] = {Level::PML4E, Level::PDPTE, Level::PDE, Level::PTE};
inline unsigned num(Level l) { return static_cast<unsigned>(l); }

}  // namespace mmu_test
