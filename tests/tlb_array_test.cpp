// The TLB array: tags, replacement and the invalidation operations of SDM Vol. 3A
// §4.10.2 and §4.10.4.1.
#include <gtest/gtest.h>

#include <vector>

#include "tlb/tlb_array.hpp"

namespace mmusim::tlb {
namespace {

mmu::Translation page(u64 pa, mmu::PageSize size = mmu::PageSize::Size4K) {
  mmu::Translation t;
  t.page_pa = pa;
  t.size = size;
  t.rw = t.us = true;
  return t;
}

TEST(TlbArray, RejectsGeometryWhoseWaysDoNotDivideEntries) {
  EXPECT_THROW(TlbArray("t", 64, 3), std::invalid_argument);
  EXPECT_THROW(TlbArray("t", 48, 4), std::invalid_argument);  // 12 sets: not a power of two
  EXPECT_NO_THROW(TlbArray("t", 64, 64));                      // fully associative
}

TEST(TlbArray, HitReturnsTheCachedTranslationAndCounts) {
  TlbArray t("l1d", 64, 4);
  EXPECT_EQ(t.lookup(0x401000, 0), nullptr);
  t.fill(0x401000, 0, page(0x9000), false);
  const TlbEntry* hit = t.lookup(0x401abc, 0);
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->t.physical(0x401abc), 0x9abcu);
  EXPECT_EQ(t.stats(mmu::PageSize::Size4K).hits, 1u);
  EXPECT_EQ(t.stats(mmu::PageSize::Size4K).fills, 1u);
}

// SDM §4.10.1: with PCIDs, a TLB entry is used only in its own address space.
TEST(TlbArray, EntriesAreTaggedByPcid) {
  TlbArray t("l1d", 64, 4);
  t.fill(0x401000, 1, page(0x9000), false);
  EXPECT_EQ(t.lookup(0x401000, 2), nullptr);
  EXPECT_NE(t.lookup(0x401000, 1), nullptr);
}

// SDM §4.10.2.4: a global translation is used whatever the current PCID, and
// survives a MOV to CR3 (invalidate_pcid), but not INVLPG.
TEST(TlbArray, GlobalEntriesMatchEveryPcidAndSurviveCr3ButNotInvlpg) {
  TlbArray t("l1d", 64, 4);
  t.fill(0x401000, 1, page(0x9000), true);
  EXPECT_NE(t.lookup(0x401000, 7), nullptr);
  t.invalidate_pcid(1);
  EXPECT_NE(t.lookup(0x401000, 1), nullptr);
  t.invalidate_all_non_global();
  EXPECT_NE(t.lookup(0x401000, 1), nullptr);
  t.invalidate_page(0x401000, 5);  // INVLPG: global entries for the page in any PCID
  EXPECT_EQ(t.lookup(0x401000, 1), nullptr);
}

// SDM §4.10.4.1: MOV to CR3 invalidates the non-global entries of the new PCID only.
TEST(TlbArray, InvalidatePcidKeepsOtherAddressSpaces) {
  TlbArray t("l1d", 64, 4);
  t.fill(0x401000, 1, page(0x9000), false);
  t.fill(0x402000, 2, page(0xA000), false);
  t.invalidate_pcid(1);
  EXPECT_EQ(t.lookup(0x401000, 1), nullptr);
  EXPECT_NE(t.lookup(0x402000, 2), nullptr);
  EXPECT_EQ(t.stats(mmu::PageSize::Size4K).invalidations[static_cast<unsigned>(Flush::Cr3)], 1u);
  EXPECT_EQ(t.stats(mmu::PageSize::Size4K).invalidated(), 1u);
}

// SDM §4.10.4.1: INVLPG of any address inside a large page removes it.
TEST(TlbArray, InvlpgAnywhereInsideALargePageRemovesIt) {
  TlbArray t("l1d", 64, 4);
  t.fill(0x40000000, 0, page(0x80000000, mmu::PageSize::Size1G), false);
  t.fill(0x600000, 0, page(0x200000, mmu::PageSize::Size2M), false);
  ASSERT_NE(t.lookup(0x7fffffff, 0), nullptr);  // the 1 GiB page covers it
  t.invalidate_page(0x7ff12345, 0);
  EXPECT_EQ(t.lookup(0x40000000, 0), nullptr);
  t.invalidate_page(0x7fffff, 0);
  EXPECT_EQ(t.lookup(0x600000, 0), nullptr);
}

TEST(TlbArray, LargePagesAndSmallPagesCoexist) {
  TlbArray t("l1d", 64, 4);
  t.fill(0x600000, 0, page(0x200000, mmu::PageSize::Size2M), false);
  t.fill(0x401000, 0, page(0x9000), false);
  const TlbEntry* big = t.lookup(0x7abcde, 0);
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(big->t.physical(0x7abcde), 0x3abcdeu);
  EXPECT_NE(t.lookup(0x401000, 0), nullptr);
}

TEST(TlbArray, LruEvictsTheLeastRecentlyUsedWayOfTheSet) {
  TlbArray t("l1d", 8, 2);  // 4 sets of 2 ways; pages 0, 4, 8 map to set 0
  t.fill(0x0000, 0, page(0x10000), false);
  t.fill(0x4000, 0, page(0x20000), false);
  ASSERT_NE(t.lookup(0x0000, 0), nullptr);  // page 0 is now most recently used
  t.fill(0x8000, 0, page(0x30000), false);  // evicts page 4
  EXPECT_EQ(t.stats(mmu::PageSize::Size4K).evictions, 1u);
  EXPECT_NE(t.lookup(0x0000, 0), nullptr);
  EXPECT_EQ(t.lookup(0x4000, 0), nullptr);
  EXPECT_NE(t.lookup(0x8000, 0), nullptr);
}

TEST(TlbArray, RefillOfACachedPageReplacesItInPlace) {
  TlbArray t("l1d", 8, 2);
  t.fill(0x0000, 0, page(0x10000), false);
  mmu::Translation dirty = page(0x10000);
  dirty.dirty = true;
  t.fill(0x0000, 0, dirty, false);  // a re-walk that set D
  EXPECT_EQ(t.valid_entries(), 1u);
  EXPECT_EQ(t.stats(mmu::PageSize::Size4K).evictions, 0u);
  ASSERT_NE(t.lookup(0x0000, 0), nullptr);
  EXPECT_TRUE(t.lookup(0x0000, 0)->t.dirty);
}

// SDM §4.10.4.1 (INVPCID type 0): the individual-address invalidation removes
// the PCID's non-global entries for the page; a global entry for it may stay.
TEST(TlbArray, InvpcidIndividualAddressKeepsGlobals) {
  TlbArray t("l1d", 64, 4);
  t.fill(0x401000, 1, page(0x9000), true);
  t.fill(0x402000, 1, page(0xA000), false);
  t.invalidate_page_non_global(0x401000, 1);
  t.invalidate_page_non_global(0x402000, 1);
  EXPECT_NE(t.lookup(0x401000, 1), nullptr);
  EXPECT_EQ(t.lookup(0x402000, 1), nullptr);
}

// ---- Replacement, against hand-computed sequences: one set of 4 ways, pages
// A, B, C, ... at 0x0000, 0x1000, ... (entries = ways: every page maps to the set).

constexpr u64 kA = 0x0000, kB = 0x1000, kC = 0x2000, kD = 0x3000, kE = 0x4000, kF = 0x5000, kG = 0x6000;

void fill_abcd(TlbArray& t) {
  for (u64 la : {kA, kB, kC, kD}) t.fill(la, 0, page(0x100000 + la), false);
}

bool cached(TlbArray& t, u64 la) { return t.lookup(la, 0) != nullptr; }

// LRU: fills A B C D, uses A, so the least recently used is B.
TEST(TlbReplacement, LruEvictsTheLeastRecentlyUsed) {
  TlbArray t("t", 4, 4, Replacement::Lru);
  fill_abcd(t);
  ASSERT_TRUE(cached(t, kA));
  t.fill(kE, 0, page(0x200000), false);
  EXPECT_FALSE(cached(t, kB));
  for (u64 la : {kA, kC, kD, kE}) EXPECT_TRUE(cached(t, la)) << la;
}

// Tree-PLRU, 4 ways: root bit (0: victim in ways 0-1, 1: in ways 2-3), then one
// bit per pair. Fills A..D in ways 0..3 leave every bit 0 (each use points its
// path away from itself). Using A sets root=1 and the left pair's bit=1. The
// victim path is then root=1 → right pair, its bit 0 → way 2: C goes, where LRU
// would evict B.
TEST(TlbReplacement, TreePlruFollowsTheTreeBits) {
  TlbArray t("t", 4, 4, Replacement::TreePlru);
  fill_abcd(t);
  ASSERT_TRUE(cached(t, kA));
  t.fill(kE, 0, page(0x200000), false);
  EXPECT_FALSE(cached(t, kC));
  for (u64 la : {kA, kB, kD, kE}) EXPECT_TRUE(cached(t, la)) << la;
}

TEST(TlbReplacement, TreePlruNeedsPowerOfTwoWays) {
  EXPECT_THROW(TlbArray("t", 12, 12, Replacement::TreePlru), std::invalid_argument);
  EXPECT_NO_THROW(TlbArray("t", 12, 12, Replacement::Lru));
}

// SRRIP (ISCA 2010): fills insert with RRPV 2, a hit sets RRPV 0, the victim is
// the first way at RRPV 3 after ageing everyone as needed.
//   fill A B C D  → 2 2 2 2;  hit A, B → 0 0 2 2
//   fill E: age → 1 1 3 3, C (way 2) goes      → A1 B1 E2 D3
//   fill F: D (way 3) is at 3                   → A1 B1 E2 F2
//   fill G: age → 2 2 3 3, E (way 2) goes      → A2 B2 G2 F3
// The page filled by a scan and never used again (E) leaves before A and B, which
// were reused; LRU would evict A instead.
TEST(TlbReplacement, SrripKeepsReusedEntriesAgainstAScan) {
  TlbArray t("t", 4, 4, Replacement::Srrip);
  fill_abcd(t);
  ASSERT_TRUE(cached(t, kA));
  ASSERT_TRUE(cached(t, kB));
  for (u64 la : {kE, kF, kG}) t.fill(la, 0, page(0x200000 + la), false);
  for (u64 la : {kC, kD, kE}) EXPECT_FALSE(cached(t, la)) << la;
  for (u64 la : {kA, kB, kF, kG}) EXPECT_TRUE(cached(t, la)) << la;

  TlbArray lru("lru", 4, 4, Replacement::Lru);  // the same sequence under LRU
  fill_abcd(lru);
  ASSERT_TRUE(cached(lru, kA));
  ASSERT_TRUE(cached(lru, kB));
  for (u64 la : {kE, kF, kG}) lru.fill(la, 0, page(0x200000 + la), false);
  EXPECT_FALSE(cached(lru, kA));
  EXPECT_TRUE(cached(lru, kE));
}

// Random: an invalid way first; then the victims are a function of the seed alone.
TEST(TlbReplacement, RandomIsDeterministicForASeed) {
  auto run = [](u64 seed) {
    TlbArray t("t", 4, 4, Replacement::Random, seed);
    fill_abcd(t);
    EXPECT_EQ(t.stats(mmu::PageSize::Size4K).evictions, 0u);  // four fills, four invalid ways
    std::vector<u64> survivors;
    for (u64 i = 0; i < 32; ++i) t.fill(0x10000 + i * 0x1000, 0, page(0x300000), false);
    for (u64 i = 0; i < 32; ++i)
      if (t.lookup(0x10000 + i * 0x1000, 0)) survivors.push_back(i);
    return survivors;
  };
  const auto a = run(7), b = run(7);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), 4u);
  EXPECT_NE(run(7), run(12345)) << "different seeds should give different victims";
}

// SDM §4.10.2.3: a 1G page cached as 2M entries ("smashed"); each entry translates
// its own 2 MiB of the page, and remembers that the page is 1G.
TEST(TlbArray, SmashedEntryTranslatesItsPartOfTheLargePage) {
  TlbArray t("l2.4k", 64, 4);
  t.fill(0x40000000 + 0x345678, 0, page(0x80000000, mmu::PageSize::Size1G), false, mmu::PageSize::Size2M);
  const TlbEntry* e = t.lookup(0x40000000 + 0x3FFFFF, 0);  // same 2 MiB piece
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->t.physical(0x40000000 + 0x3FFFFF), 0x80000000u + 0x3FFFFF);
  EXPECT_EQ(e->page().size, mmu::PageSize::Size1G);
  EXPECT_EQ(e->page().page_pa, 0x80000000u);
  EXPECT_EQ(t.lookup(0x40000000 + 0x400000, 0), nullptr) << "another 2 MiB of the page is another entry";
  EXPECT_EQ(t.stats(mmu::PageSize::Size1G).fills, 1u) << "counted under the page's size";
}

// SDM §4.10.4.1: "If the paging structures map the linear address using a page larger
// than 4 KBytes and there are multiple TLB entries for that page, the instruction
// invalidates all of them": INVLPG of one address drops every smashed piece.
TEST(TlbArray, InvlpgDropsEverySmashedPieceOfThePage) {
  TlbArray t("l2.4k", 64, 4);
  const mmu::Translation big = page(0x80000000, mmu::PageSize::Size1G);
  for (u64 off : {0x0ull, 0x200000ull, 0x3FE00000ull}) t.fill(0x40000000 + off, 0, big, false, mmu::PageSize::Size2M);
  t.fill(0x80000000, 0, page(0x1000), false);  // a 4K page outside it stays
  ASSERT_EQ(t.valid_entries(), 4u);
  t.invalidate_page(0x40000000 + 0x12345678, 0);
  EXPECT_EQ(t.valid_entries(), 1u);
  EXPECT_NE(t.lookup(0x80000000, 0), nullptr);
  EXPECT_EQ(t.stats(mmu::PageSize::Size1G).invalidations[static_cast<unsigned>(Flush::Invlpg)], 3u);
}

TEST(TlbArray, InvalidateAllRemovesGlobalsToo) {
  TlbArray t("l1d", 64, 4);
  t.fill(0x401000, 0, page(0x9000), true);
  t.fill(0x402000, 3, page(0xA000), false);
  t.invalidate_all();
  EXPECT_EQ(t.valid_entries(), 0u);
  EXPECT_EQ(t.lookup(0x401000, 0), nullptr);
}

}  // namespace
}  // namespace mmusim::tlb
