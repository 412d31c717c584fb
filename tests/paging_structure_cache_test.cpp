// Paging-structure caches (Intel SDM Vol. 3A §4.10.3; x86-paging-semantics.md §2.1,
// §4.3, §4.4): what they may cache, that they hold the combined rights of the path,
// that the lowest level that hits is used, PCID tags, invalidation and LRU. Pure: the
// walk runs over a map-backed memory, with no SystemC. The Mmu's wiring (INVLPG, MOV
// CR3, CR4, INVPCID, #PF) is checked end to end by tests/traces/sdm-psc.trace.
#include <gtest/gtest.h>

#include <map>

#include "mmu/paging_structure_cache.hpp"

namespace {

using namespace mmusim::mmu;

struct Mem : PagingMemory {
  std::map<u64, u64> m;
  u64 load64(u64 pa) override { return m[pa]; }
  bool cmpxchg64(u64 pa, u64 expected, u64 desired) override {
    if (m[pa] != expected) return false;
    m[pa] = desired;
    return true;
  }
};

constexpr u64 kRW = bit::P | bit::RW | bit::US;  // 0x7
constexpr u64 kRO = bit::P | bit::US;            // 0x5
constexpr u64 kPML4 = 0x1000, kPDPT = 0x2000, kPD = 0x3000, kPT = 0x4000, kPT2 = 0x5000;

ControlRegs regs(u32 pcid = 0) {
  ControlRegs cr;
  cr.cr3 = kPML4 | pcid;
  cr.cr4_pcide = pcid != 0;
  return cr;
}

Access make(u64 la, AccessType t) {
  Access a;
  a.la = la;
  a.type = t;
  return a;
}

// PML4[0] -> PDPT, PDPT[0] -> PD, PD[0] -> PT, PT[i] -> 0x100000 + i pages.
void build(Mem& mem) {
  mem.m[kPML4] = kPDPT | kRW;
  mem.m[kPDPT] = kPD | kRW;
  mem.m[kPD] = kPT | kRW;
  for (u64 i = 0; i < 4; ++i) mem.m[kPT + 8 * i] = (0x100000 + (i << 12)) | kRW;
}

PagingStructureCache make_psc(PscGeometry pde = {32, 4}) { return {{2, 2}, {4, 4}, {4, 4}, pde}; }

// A walk as the Mmu runs it: from the PSC if it hits, then a fill.
WalkResult walk_via(PagingStructureCache& psc, Mem& mem, const Access& a, const ControlRegs& cr,
                    std::optional<WalkStart>* used = nullptr) {
  const std::optional<WalkStart> hit = psc.lookup(a.la, cr.pcid(), cr);
  if (used) *used = hit;
  const WalkStart start = hit ? *hit : walk_start(cr);
  WalkResult r = walk(mem, a, cr, start);
  psc.fill(r, a.la, cr.pcid(), cr, start);
  return r;
}

// SDM §4.10.3.2: a walk uses the PSC entry for the longest cached prefix, i.e. the
// lowest level that hits.
TEST(Psc, LowestLevelThatHitsWins_SDM4_10_3_2) {
  Mem mem;
  build(mem);
  const ControlRegs cr = regs();
  PagingStructureCache psc = make_psc();
  ASSERT_TRUE(walk_via(psc, mem, make(0x0, AccessType::Read), cr).ok());

  auto s = psc.lookup(0x1000, 0, cr);  // same 2 MiB region: the PDE cache hits
  ASSERT_TRUE(s);
  EXPECT_EQ(s->level, Level::PTE);
  EXPECT_EQ(s->table_pa, kPT);
  s = psc.lookup(0x200000, 0, cr);  // next 2 MiB, same 1 GiB: the PDPTE cache
  ASSERT_TRUE(s);
  EXPECT_EQ(s->level, Level::PDE);
  EXPECT_EQ(s->table_pa, kPD);
  s = psc.lookup(1ull << 30, 0, cr);  // next 1 GiB, same 512 GiB: the PML4E cache
  ASSERT_TRUE(s);
  EXPECT_EQ(s->level, Level::PDPTE);
  EXPECT_EQ(s->table_pa, kPDPT);
  EXPECT_FALSE(psc.lookup(1ull << 39, 0, cr));  // another PML4 slot: nothing cached
  EXPECT_EQ(psc.stats(Level::PDE).hits, 1u);
  EXPECT_EQ(psc.stats(Level::PML4E).misses, 2u);  // the first walk's lookup and the last

  // A walk from the PDE-cache hit reads only the PTE.
  std::optional<WalkStart> used;
  Mem counting = mem;
  const WalkResult r = walk_via(psc, counting, make(0x3000, AccessType::Read), cr, &used);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(used);
  EXPECT_EQ(r.nsteps, 1u);
  EXPECT_EQ(r.translation.page_pa, 0x103000u);
}

// A disabled level (0 entries) is skipped: the next level up serves the lookup.
TEST(Psc, DisabledLevelFallsBackToTheLevelAbove) {
  Mem mem;
  build(mem);
  const ControlRegs cr = regs();
  PagingStructureCache psc = make_psc({0, 0});
  ASSERT_TRUE(walk_via(psc, mem, make(0x0, AccessType::Read), cr).ok());
  EXPECT_FALSE(psc.enabled(Level::PDE));
  const auto s = psc.lookup(0x1000, 0, cr);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->level, Level::PDE);
}

// x86-paging-semantics.md §2.1 / SDM §4.10.3.1 (T84): two paths to one page directory,
// one through a read-only PDPTE. Each PSC entry holds its own path's combined rights,
// so after both are cached a write through the RW path succeeds and through the RO
// path faults. A cache keyed by the table's physical address would get one of them wrong.
TEST(Psc, EntriesHoldThePathsCombinedRights_SDM4_10_3_1_T84) {
  Mem mem;
  build(mem);
  mem.m[kPDPT + 8] = kPD | kRO;  // PDPT[1] -> the same PD, read-only
  const ControlRegs cr = regs();  // CR0.WP=1: supervisor writes honour R/W
  PagingStructureCache psc = make_psc();
  const u64 la_rw = 0x0, la_ro = 1ull << 30;
  ASSERT_TRUE(walk_via(psc, mem, make(la_rw, AccessType::Read), cr).ok());
  ASSERT_TRUE(walk_via(psc, mem, make(la_ro, AccessType::Read), cr).ok());

  const auto s_rw = psc.lookup(la_rw, 0, cr), s_ro = psc.lookup(la_ro, 0, cr);
  ASSERT_TRUE(s_rw && s_ro);
  EXPECT_EQ(s_rw->level, Level::PTE);
  EXPECT_EQ(s_ro->level, Level::PTE);
  EXPECT_EQ(s_rw->table_pa, s_ro->table_pa);  // one page table, two entries
  EXPECT_TRUE(s_rw->rw);
  EXPECT_FALSE(s_ro->rw);

  std::optional<WalkStart> used;
  WalkResult w = walk_via(psc, mem, make(la_rw, AccessType::Write), cr, &used);
  ASSERT_TRUE(used);
  EXPECT_TRUE(w.ok());
  w = walk_via(psc, mem, make(la_ro, AccessType::Write), cr, &used);
  ASSERT_TRUE(used);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.fault.error_code, pf::P | pf::W);
}

// SDM §4.10.3.1 / x86-paging-semantics.md §4.3: only entries with P=1, no reserved
// bits and A=1 are cached; a fault at a level caches the levels above it.
TEST(Psc, NonPresentEntryIsNotCachedButTheLevelsAboveAre_SDM4_10_3_1) {
  Mem mem;
  build(mem);
  mem.m[kPD] = 0;  // PDE not present
  const ControlRegs cr = regs();
  PagingStructureCache psc = make_psc();
  ASSERT_FALSE(walk_via(psc, mem, make(0x0, AccessType::Read), cr).ok());
  EXPECT_EQ(psc.valid_entries(Level::PDE), 0u);
  EXPECT_EQ(psc.valid_entries(Level::PDPTE), 1u);
  EXPECT_EQ(psc.valid_entries(Level::PML4E), 1u);
  // The cached ones have A=1 in memory: the walk set it before going below.
  EXPECT_TRUE(mem.m[kPML4] & bit::A);
  EXPECT_TRUE(mem.m[kPDPT] & bit::A);
}

TEST(Psc, EntryWithReservedBitsIsNotCached_SDM4_10_3_1) {
  Mem mem;
  build(mem);
  mem.m[kPD] |= 1ull << 50;  // above MAXPHYADDR 46: reserved
  const ControlRegs cr = regs();
  PagingStructureCache psc = make_psc();
  const WalkResult r = walk_via(psc, mem, make(0x0, AccessType::Read), cr);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.fault.error_code & pf::RSVD);
  EXPECT_EQ(psc.valid_entries(Level::PDE), 0u);
  EXPECT_EQ(psc.valid_entries(Level::PDPTE), 1u);
}

// A PDE with PS=1 maps a 2 MiB page: a leaf, which belongs in the TLB, not the PDE
// cache (SDM §4.10.3.1: PSCs hold non-leaf entries only).
TEST(Psc, LargePageLeafIsNeverCached_SDM4_10_3_1) {
  Mem mem;
  build(mem);
  mem.m[kPD] = 0x200000 | bit::PS | kRW;
  const ControlRegs cr = regs();
  PagingStructureCache psc = make_psc();
  const WalkResult r = walk_via(psc, mem, make(0x1234, AccessType::Read), cr);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.translation.size, PageSize::Size2M);
  EXPECT_EQ(psc.valid_entries(Level::PDE), 0u);
  EXPECT_EQ(psc.valid_entries(Level::PDPTE), 1u);
}

// x86-paging-semantics.md §4.3: PSC entries may be created even when the final
// translation faults (here at the leaf's rights): the whole non-leaf path is cached.
TEST(Psc, RightsFaultAtTheLeafStillCachesThePath_SDM4_10_3_1) {
  Mem mem;
  build(mem);
  mem.m[kPT] = 0x100000 | kRO;
  const ControlRegs cr = regs();
  PagingStructureCache psc = make_psc();
  ASSERT_FALSE(walk_via(psc, mem, make(0x0, AccessType::Write), cr).ok());
  EXPECT_EQ(psc.valid_entries(Level::PDE), 1u);
}

// SDM §4.10.3 / §4.10.4: a PSC entry may be used after the entry it came from changed,
// until an invalidation: the stale PDE still leads to the old page table.
TEST(Psc, StaleEntryIsUsedUntilInvalidated_SDM4_10_4) {
  Mem mem;
  build(mem);
  mem.m[kPT2 + 8] = 0x900000 | kRW;
  const ControlRegs cr = regs();
  PagingStructureCache psc = make_psc();
  ASSERT_TRUE(walk_via(psc, mem, make(0x0, AccessType::Read), cr).ok());
  mem.m[kPD] = kPT2 | kRW | bit::A;  // the PDE now names another page table
  EXPECT_EQ(walk_via(psc, mem, make(0x1000, AccessType::Read), cr).translation.page_pa, 0x101000u);
  psc.invalidate_pcid(0);  // INVLPG of any address
  EXPECT_EQ(walk_via(psc, mem, make(0x1000, AccessType::Read), cr).translation.page_pa, 0x900000u);
}

// SDM §4.10.1: PSC entries are tagged with the PCID that created them.
TEST(Psc, PcidIsolation_SDM4_10_1) {
  Mem mem;
  build(mem);
  PagingStructureCache psc = make_psc();
  ASSERT_TRUE(walk_via(psc, mem, make(0x0, AccessType::Read), regs(1)).ok());
  EXPECT_TRUE(psc.lookup(0x0, 1, regs(1)));
  EXPECT_FALSE(psc.lookup(0x0, 2, regs(2)));
}

// SDM §4.10.4.1: INVLPG, MOV to CR3 and INVPCID types 0/1 drop the PCID's entries
// (whatever the address); CR4.PGE/PCIDE changes and INVPCID types 2/3 drop all.
TEST(Psc, InvalidatePcidDropsOnlyThatPcid_SDM4_10_4_1) {
  Mem mem;
  build(mem);
  PagingStructureCache psc = make_psc();
  ASSERT_TRUE(walk_via(psc, mem, make(0x0, AccessType::Read), regs(1)).ok());
  ASSERT_TRUE(walk_via(psc, mem, make(0x0, AccessType::Read), regs(2)).ok());
  psc.invalidate_pcid(1);
  EXPECT_FALSE(psc.lookup(0x0, 1, regs(1)));
  EXPECT_FALSE(psc.lookup(1ull << 30, 1, regs(1)));  // every level, not just one address
  EXPECT_TRUE(psc.lookup(0x0, 2, regs(2)));
  EXPECT_EQ(psc.stats(Level::PDE).invalidations, 1u);
}

// SDM §4.10.4.1 (page-fault exception): a #PF invalidates the PSC entries "that would
// be used for that linear address", at every level, in its PCID; entries for other
// regions and other PCIDs stay.
TEST(Psc, PageFaultDropsTheEntriesItsAddressWouldUse_SDM4_10_4_1) {
  constexpr u64 kPD2 = 0x7000;
  Mem mem;
  build(mem);
  mem.m[kPDPT + 8] = kPD2 | kRW;  // PDPT[1] -> a second PD, PD2[0] -> the same PT
  mem.m[kPD2] = kPT | kRW;
  PagingStructureCache psc = make_psc();
  ASSERT_TRUE(walk_via(psc, mem, make(0x0, AccessType::Read), regs(1)).ok());
  ASSERT_TRUE(walk_via(psc, mem, make(1ull << 30, AccessType::Read), regs(1)).ok());
  ASSERT_TRUE(walk_via(psc, mem, make(0x0, AccessType::Read), regs(2)).ok());
  ASSERT_EQ(psc.valid_entries(Level::PDE), 3u);
  psc.invalidate_address(0x1000, 1, regs(1));  // same PDE, PDPTE and PML4E as 0x0
  EXPECT_FALSE(psc.lookup(0x0, 1, regs(1))) << "no level left to start 0x0's walk from";
  EXPECT_EQ(psc.valid_entries(Level::PDE), 2u);
  EXPECT_EQ(psc.valid_entries(Level::PDPTE), 2u) << "PDPT entry 1 of PCID 1 and PCID 2's stay";
  EXPECT_EQ(psc.valid_entries(Level::PML4E), 1u) << "the one PML4E entry of PCID 1 is on the path";
  const std::optional<WalkStart> other = psc.lookup(1ull << 30, 1, regs(1));
  ASSERT_TRUE(other);
  EXPECT_EQ(other->level, Level::PTE) << "the other 1 GiB region keeps its PDE entry";
  EXPECT_TRUE(psc.lookup(0x0, 2, regs(2)));
}

TEST(Psc, InvalidateAllDropsEveryPcid_SDM4_10_4_1) {
  Mem mem;
  build(mem);
  PagingStructureCache psc = make_psc();
  ASSERT_TRUE(walk_via(psc, mem, make(0x0, AccessType::Read), regs(1)).ok());
  ASSERT_TRUE(walk_via(psc, mem, make(0x0, AccessType::Read), regs(2)).ok());
  psc.invalidate_all();
  for (Level l : PagingStructureCache::kLevels) EXPECT_EQ(psc.valid_entries(l), 0u);
}

// Replacement is LRU within a set; a lookup hit counts as a use.
TEST(Psc, LruEviction) {
  Mem mem;
  build(mem);
  for (u64 i = 1; i < 3; ++i) mem.m[kPD + 8 * i] = kPT | kRW;  // 2 MiB regions 1 and 2
  const ControlRegs cr = regs();
  PagingStructureCache psc({0, 0}, {0, 0}, {0, 0}, {2, 2});  // only a 2-entry PDE cache
  const u64 a = 0x0, b = 0x200000, c = 0x400000;
  ASSERT_TRUE(walk_via(psc, mem, make(a, AccessType::Read), cr).ok());
  ASSERT_TRUE(walk_via(psc, mem, make(b, AccessType::Read), cr).ok());
  ASSERT_TRUE(psc.lookup(a, 0, cr));  // a is now the most recently used
  ASSERT_TRUE(walk_via(psc, mem, make(c, AccessType::Read), cr).ok());
  EXPECT_TRUE(psc.lookup(a, 0, cr));
  EXPECT_TRUE(psc.lookup(c, 0, cr));
  EXPECT_FALSE(psc.lookup(b, 0, cr));
  EXPECT_EQ(psc.stats(Level::PDE).evictions, 1u);
}

// SDM §4.10.3.1: with CR4.LA57 the PML5E cache exists and tags include LA[56:48].
TEST(Psc, La57TagsIncludeBits56To48_SDM4_10_3_1) {
  Mem mem;
  constexpr u64 kPML5 = 0x6000;
  mem.m[kPML5] = kPML4 | kRW;
  build(mem);
  ControlRegs cr = regs();
  cr.cr4_la57 = true;
  cr.cr3 = kPML5;
  PagingStructureCache psc = make_psc();
  ASSERT_TRUE(walk_via(psc, mem, make(0x0, AccessType::Read), cr).ok());
  EXPECT_EQ(psc.valid_entries(Level::PML5E), 1u);
  EXPECT_EQ(psc.lookup(0x1000, 0, cr)->level, Level::PTE);
  EXPECT_FALSE(psc.lookup(1ull << 48, 0, cr));  // another PML5 slot
}

TEST(Psc, BadGeometryIsRefused) {
  EXPECT_THROW(PagingStructureCache({0, 0}, {0, 0}, {0, 0}, {6, 4}), std::invalid_argument);
  EXPECT_THROW(PagingStructureCache({0, 0}, {0, 0}, {0, 0}, {12, 4}), std::invalid_argument);
}

}  // namespace
