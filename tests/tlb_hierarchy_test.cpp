// The TLB hierarchy: how a level's arrays divide the page sizes (tlb::Tlb), and how
// the Mmu uses the levels: L1, then L2, then the walk, the fills and the inclusion
// policy (mmu.hpp), invalidation at every level (SDM Vol. 3A §4.10.4.1), and what the
// walk's entry loads cost in the data caches.
#include <gtest/gtest.h>

#include <memory>

#include "hw/memory_timing.hpp"
#include "hw/phys_mem.hpp"
#include "hw/sparse_memory.hpp"
#include "mmu/mmu.hpp"

namespace mmusim {
namespace {

using mmu::PageSize;
using mmu::u64;
namespace bit = mmu::bit;

config::TlbLevelConfig level(config::TlbArrayConfig a4k, config::TlbArrayConfig a2m, config::TlbArrayConfig a1g,
                             config::TlbArrays arrays, u64 latency = 1) {
  return {a4k, a2m, a1g, arrays, latency};
}

mmu::Translation page(u64 pa, PageSize size) {
  mmu::Translation t;
  t.page_pa = pa;
  t.size = size;
  t.rw = t.us = true;
  return t;
}

constexpr u64 k4K = 0x401000, k2M = 0x40000000 + 0x200000, k1G = 0x80000000;

// ---- tlb::Tlb: one level's arrays ----

// Intel L1 DTLB (Intel OM Table 2-15): a 4K, a 2M and a 1G array.
TEST(TlbLevel, SplitLevelKeepsEachSizeInItsOwnArray) {
  tlb::Tlb t("l1d", level({8, 4}, {4, 4}, {2, 2}, config::TlbArrays::Split), 1);
  ASSERT_EQ(t.array_count(), 3u);
  t.fill(k4K, 0, page(0x9000, PageSize::Size4K), false);
  t.fill(k2M, 0, page(0x600000, PageSize::Size2M), false);
  t.fill(k1G, 0, page(0xC0000000, PageSize::Size1G), false);
  EXPECT_EQ(t.array(0).valid_entries(), 1u);
  EXPECT_EQ(t.array(1).valid_entries(), 1u);
  EXPECT_EQ(t.array(2).valid_entries(), 1u);
  ASSERT_NE(t.lookup(k1G + 0x3FFFFFFF, 0), nullptr);
  EXPECT_EQ(t.lookup(k1G + 0x3FFFFFFF, 0)->t.physical(k1G + 0x3FFFFFFF), 0xFFFFFFFFu);
}

// Intel STLB: 4K and 2M pages share one array, 1G pages have their own.
TEST(TlbLevel, SharedLevelHolds4kAnd2mTogetherAnd1gApart) {
  tlb::Tlb t("l2", level({16, 4}, {0, 0}, {4, 4}, config::TlbArrays::Shared4k2m), 1);
  ASSERT_EQ(t.array_count(), 2u);
  EXPECT_EQ(t.holds(0), 0b011u);
  EXPECT_EQ(t.holds(1), 0b100u);
  t.fill(k4K, 0, page(0x9000, PageSize::Size4K), false);
  t.fill(k2M, 0, page(0x600000, PageSize::Size2M), false);
  t.fill(k1G, 0, page(0xC0000000, PageSize::Size1G), false);
  EXPECT_EQ(t.array(0).valid_entries(), 2u);
  EXPECT_EQ(t.array(1).valid_entries(), 1u);
}

// Zen L1 DTLB (linux-fault-path.md §3.1): one fully associative array for all sizes.
TEST(TlbLevel, UnifiedLevelHoldsEverySizeInOneArray) {
  tlb::Tlb t("l1d", level({8, 8}, {0, 0}, {0, 0}, config::TlbArrays::Unified), 1);
  ASSERT_EQ(t.array_count(), 1u);
  EXPECT_EQ(t.holds(0), 0b111u);
  t.fill(k4K, 0, page(0x9000, PageSize::Size4K), false);
  t.fill(k2M, 0, page(0x600000, PageSize::Size2M), false);
  t.fill(k1G, 0, page(0xC0000000, PageSize::Size1G), false);
  EXPECT_EQ(t.array(0).valid_entries(), 3u);
  EXPECT_NE(t.lookup(k1G + 0x12345678, 0), nullptr) << "held natively, not smashed";
  EXPECT_EQ(t.array(0).stats(PageSize::Size1G).hits, 1u);
}

// SDM §4.10.2.3; Zen's L2 DTLB smashes 1G pages into 2M entries (§3.1, WikiChip Zen 2).
TEST(TlbLevel, ASizeWithoutAnArrayIsSmashedIntoTheNextSmaller) {
  tlb::Tlb t("l2", level({16, 4}, {0, 0}, {0, 0}, config::TlbArrays::Shared4k2m), 1);
  t.fill(k1G + 0x123456, 0, page(0xC0000000, PageSize::Size1G), false);
  ASSERT_NE(t.lookup(k1G + 0x1FFFFF, 0), nullptr);
  EXPECT_EQ(t.lookup(k1G + 0x1FFFFF, 0)->t.physical(k1G + 0x1FFFFF), 0xC01FFFFFu);
  EXPECT_EQ(t.lookup(k1G + 0x200000, 0), nullptr) << "each 2 MiB of the page is its own entry";
  t.fill(k1G + 0x200000, 0, page(0xC0000000, PageSize::Size1G), false);
  t.invalidate_page(k1G + 0x3FFFFFFF, 0, tlb::Flush::Invlpg);  // any address in the 1G page
  EXPECT_EQ(t.valid_entries(), 0u);
}

TEST(TlbLevel, MissesAreCountedByTheSizeOfThePageThatResolvedThem) {
  tlb::Tlb t("l1d", level({8, 4}, {4, 4}, {2, 2}, config::TlbArrays::Split), 1);
  EXPECT_EQ(t.lookup(k2M, 0), nullptr);
  t.fill(k2M, 0, page(0x600000, PageSize::Size2M), false);
  EXPECT_EQ(t.lookup(k4K, 0), nullptr);  // a miss that ends in a fault: no fill
  EXPECT_EQ(t.lookup(k4K, 0), nullptr);
  t.fill(k4K, 0, page(0x9000, PageSize::Size4K), false);
  EXPECT_EQ(t.stats().misses, 3u);
  EXPECT_EQ(t.stats().misses_by_size[1], 1u);
  EXPECT_EQ(t.stats().misses_by_size[0], 1u);
  EXPECT_EQ(t.stats().lookups, 3u);
}

// ---- mmu::Mmu over the hierarchy ----

constexpr u64 kUserRW = bit::P | bit::RW | bit::US | bit::A;

// A machine of one MMU over sparse physical memory, its page tables written directly.
// PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000 -> PT 0x4000; page i of 0x400000 -> 0x100000 + i*4K.
struct Machine {
  config::Config cfg;
  hw::SparseMemory store;
  std::unique_ptr<hw::MemoryTiming> timing;
  std::unique_ptr<hw::PhysMem> mem;
  std::unique_ptr<mmu::Mmu> mmu;
  mmu::ControlRegs cr;

  explicit Machine(const config::Config& c) : cfg(c) {
    config::validate(cfg);
    timing = std::make_unique<hw::MemoryTiming>(cfg);
    mem = std::make_unique<hw::PhysMem>("mem", store, sc_core::SC_ZERO_TIME, cfg.mem.maxphyaddr);
    mmu = std::make_unique<mmu::Mmu>("mmu", cfg, sc_core::sc_time(1, sc_core::SC_NS), *timing);
    mmu->walker.socket.bind(mem->socket);
    sc_core::sc_start(sc_core::SC_ZERO_TIME);  // ends elaboration: the socket is bound
    // A preset everywhere, so that reads make no A/D writes and a walk is its loads.
    const u64 up = bit::P | bit::RW | bit::US | bit::A;
    store.write64(0x1000, 0x2000 | up);
    store.write64(0x2000, 0x3000 | up);
    store.write64(0x3000 + 8 * 2, 0x4000 | up);  // PD[2] covers 0x400000
    for (u64 i = 0; i < 64; ++i) map(i, kUserRW);
    cr.cr3 = 0x1000;
  }
  static u64 la(u64 i) { return 0x400000 + i * 0x1000; }
  void map(u64 i, u64 flags) { store.write64(0x4000 + 8 * i, (0x100000 + i * 0x1000) | flags); }
  mmu::Translated access(u64 i, mmu::AccessType type = mmu::AccessType::Read) {
    mmu::Access a;
    a.la = la(i);
    a.type = type;
    return mmu->translate(a, cr);
  }
};

// Small L1s, an L2 that holds more, fixed memory latency, no paging-structure caches.
config::Config small_hierarchy() {
  config::Config c;
  c.mem.model = config::MemoryModel::Fixed;
  c.mem.latency_cycles = 10;
  c.tlb.l1d = level({2, 2}, {0, 0}, {0, 0}, config::TlbArrays::Split, 1);
  c.tlb.l1i = level({2, 2}, {0, 0}, {0, 0}, config::TlbArrays::Split, 1);
  c.tlb.l2 = level({16, 4}, {0, 0}, {0, 0}, config::TlbArrays::Shared4k2m, 9);
  c.psc.pml5e.entries = c.psc.pml4e.entries = c.psc.pdpte.entries = c.psc.pde.entries = 0;
  return c;
}

TEST(TlbHierarchy, AnL1MissThatHitsTheL2FillsTheL1AndCostsBothLookups) {
  Machine m(small_hierarchy());
  EXPECT_EQ(m.access(0).from, mmu::ServedFrom::Walk);
  m.access(1);
  m.access(2);  // the 2-entry L1 evicts page 0; the L2 keeps it
  const mmu::Translated t = m.access(0);
  EXPECT_EQ(t.from, mmu::ServedFrom::L2);
  EXPECT_EQ(t.tlb_cycles, 1u + 9u);
  EXPECT_EQ(t.walk_cycles, 0u);
  EXPECT_EQ(t.pa, 0x100000u);
  EXPECT_EQ(m.mmu->walker.stats().walks, 3u);
  const mmu::Translated again = m.access(0);
  EXPECT_EQ(again.from, mmu::ServedFrom::L1) << "the L2 hit filled the L1";
  EXPECT_EQ(again.tlb_cycles, 1u);
}

TEST(TlbHierarchy, AWalkCostsTheL1AndL2LookupsAndItsEntryLoads) {
  Machine m(small_hierarchy());
  const mmu::Translated t = m.access(0);
  EXPECT_EQ(t.tlb_cycles, 1u + 9u);
  EXPECT_EQ(t.walk_cycles, 4u * 10u) << "four entry loads at mem.latency";
  EXPECT_EQ(m.mmu->walk_latency().count(), 1u);
  EXPECT_EQ(m.mmu->walk_latency().max(), 40u);
}

// mmu.hpp: non-inclusive, non-exclusive. An L2 eviction leaves the L1 entry.
TEST(TlbHierarchy, AnL2EvictionDoesNotRemoveTheL1Entry) {
  config::Config c = small_hierarchy();
  c.tlb.l1d = level({8, 8}, {0, 0}, {0, 0}, config::TlbArrays::Split, 1);
  c.tlb.l2 = level({1, 1}, {0, 0}, {0, 0}, config::TlbArrays::Shared4k2m, 9);
  Machine m(c);
  m.access(0);
  m.access(1);  // the 1-entry L2 now holds page 1 only
  EXPECT_EQ(m.mmu->l2()->valid_entries(), 1u);
  EXPECT_EQ(m.access(0).from, mmu::ServedFrom::L1);
}

// SDM §4.8: a write through an entry with D=0 must set D in memory, so a clean entry
// found in the L2 cannot serve a write either.
TEST(TlbHierarchy, AWriteThatFindsACleanEntryInTheL2Rewalks) {
  Machine m(small_hierarchy());
  m.access(0);  // read: cached with D=0
  m.access(1);
  m.access(2);  // page 0 leaves the L1, stays in the L2
  const mmu::Translated t = m.access(0, mmu::AccessType::Write);
  EXPECT_EQ(t.from, mmu::ServedFrom::Walk);
  EXPECT_EQ(m.mmu->stats().rewalks_dirty, 1u);
  EXPECT_TRUE(m.store.read64(0x4000) & bit::D);
  const tlb::SizeStats l2 = m.mmu->l2()->size_stats(PageSize::Size4K);
  EXPECT_EQ(l2.invalidations[static_cast<unsigned>(tlb::Flush::Rewalk)], 1u);
  EXPECT_EQ(m.access(0, mmu::AccessType::Write).from, mmu::ServedFrom::L1) << "refilled dirty";
}

// SDM §4.10.4.1: INVLPG invalidates the address in every TLB, not only the L1.
TEST(TlbHierarchy, InvlpgReachesTheL2) {
  Machine m(small_hierarchy());
  m.access(0);
  m.mmu->invlpg(Machine::la(0), 0);
  EXPECT_EQ(m.mmu->l2()->valid_entries(), 0u);
  EXPECT_EQ(m.access(0).from, mmu::ServedFrom::Walk);
}

// SDM §4.10.4.1: MOV to CR3 drops the PCID's non-global entries at every level;
// global ones stay, in the L2 as in the L1.
TEST(TlbHierarchy, Cr3FlushKeepsGlobalEntriesInTheL2) {
  Machine m(small_hierarchy());
  m.map(0, kUserRW | bit::G);
  m.cr.cr4_pge = true;
  m.access(0);
  m.access(1);
  m.mmu->invalidate_pcid(0, tlb::Flush::Cr3);
  EXPECT_EQ(m.mmu->l2()->valid_entries(), 1u);
  EXPECT_EQ(m.access(0).from, mmu::ServedFrom::L1);
  EXPECT_EQ(m.access(1).from, mmu::ServedFrom::Walk);
}

// Zen has a separate L2 ITLB: fetches fill it and not the L2 DTLB, data the reverse.
TEST(TlbHierarchy, FetchesUseTheL2ItlbWhenThereIsOne) {
  config::Config c = small_hierarchy();
  c.tlb.l2i = level({8, 4}, {0, 0}, {0, 0}, config::TlbArrays::Shared4k2m, 7);
  Machine m(c);
  const mmu::Translated f = m.access(0, mmu::AccessType::Fetch);
  EXPECT_EQ(f.tlb_cycles, 1u + 7u);
  EXPECT_EQ(m.mmu->l2i()->valid_entries(), 1u);
  EXPECT_EQ(m.mmu->l2()->valid_entries(), 0u);
  m.access(1);
  EXPECT_EQ(m.mmu->l2i()->valid_entries(), 1u);
  EXPECT_EQ(m.mmu->l2()->valid_entries(), 1u);
}

TEST(TlbHierarchy, WithoutAnL2AnL1MissWalks) {
  config::Config c = small_hierarchy();
  c.tlb.l2 = level({0, 0}, {0, 0}, {0, 0}, config::TlbArrays::Split, 9);
  Machine m(c);
  EXPECT_EQ(m.mmu->l2(), nullptr);
  const mmu::Translated t = m.access(0);
  EXPECT_EQ(t.tlb_cycles, 1u);
  m.access(1);
  m.access(2);
  EXPECT_EQ(m.access(0).from, mmu::ServedFrom::Walk);
}

// SDM §4.10.4.1: a #PF invalidates the entries for its address, in every level. A
// read-only entry cached at both levels, a write: the hit forbids it, the re-walk
// faults, and nothing for the address is left.
TEST(TlbHierarchy, APageFaultLeavesNoEntryForItsAddressAtAnyLevel) {
  Machine m(small_hierarchy());
  m.map(0, bit::P | bit::US | bit::A);
  m.access(0);
  const mmu::Translated t = m.access(0, mmu::AccessType::Write);
  ASSERT_TRUE(t.fault);
  EXPECT_EQ(m.mmu->l1d().valid_entries(), 0u);
  EXPECT_EQ(m.mmu->l2()->valid_entries(), 0u);
  EXPECT_EQ(m.mmu->stats().rewalks_rights, 1u);
}

// Issue 4 §4: a walk over page tables whose lines are in no cache pays DRAM for each
// load; the next walk through the same tables finds them in L1D.
TEST(TlbHierarchy, WalksOverColdPageTablesCostDramAndOverHotOnesL1d) {
  config::Config c = small_hierarchy();
  c.mem.model = config::MemoryModel::Caches;
  Machine m(c);
  const mmu::Translated cold = m.access(0);
  EXPECT_EQ(cold.walk_cycles, 4 * c.cache.dram_latency_cycles);
  EXPECT_EQ(m.mmu->walker.stats().served[static_cast<unsigned>(hw::ServedBy::Dram)], 4u);
  const mmu::Translated hot = m.access(1);  // same PML4E, PDPTE, PDE lines; PTE in the same line
  EXPECT_EQ(hot.walk_cycles, 4 * c.cache.l1d.latency_cycles);
  EXPECT_EQ(m.mmu->walker.stats().served[static_cast<unsigned>(hw::ServedBy::L1d)], 4u);
  EXPECT_EQ(m.mmu->walk_latency().percentile(0.5), 4 * c.cache.l1d.latency_cycles);
}

}  // namespace
}  // namespace mmusim
