// The data-cache latency model (hw/cache.hpp, hw/memory_timing.hpp): which level serves
// an access, LRU order worked out by hand on tiny caches, write-backs, the fixed model,
// cache.data, and counters that must add up. Pure C++, no SystemC.
#include <gtest/gtest.h>

#include <algorithm>
#include <list>
#include <random>
#include <vector>

#include "hw/memory_timing.hpp"

namespace {

using namespace mmusim;
using hw::Cache;
using hw::MemoryTiming;
using hw::Requester;
using hw::ServedBy;
using u64 = std::uint64_t;

constexpr u64 kL1Cycles = 4, kL2Cycles = 12, kLlcCycles = 40, kDramCycles = 200;
constexpr Requester kWalk = Requester::PageWalk;

// Levels small enough to reason about by hand; each test shrinks the one it studies.
config::Config tiny(config::CacheLevelConfig l1d = {4, 2, 64, kL1Cycles},
                    config::CacheLevelConfig l2 = {16, 4, 64, kL2Cycles},
                    config::CacheLevelConfig llc = {64, 8, 64, kLlcCycles}) {
  config::Config c;
  c.mem.model = config::MemoryModel::Caches;
  c.cache.l1d = l1d;
  c.cache.l2 = l2;
  c.cache.llc = llc;
  c.cache.dram_latency_cycles = kDramCycles;
  c.cache.data = true;  // data competes with page-table lines unless a test says otherwise
  return c;
}

// The level alone, for compact expectations.
ServedBy at(MemoryTiming& m, u64 pa, bool write = false, Requester who = kWalk) {
  return m.access(pa, write, who).level;
}

TEST(MemoryTiming, FixedModelCostsMemLatencyAndTouchesNoCache) {
  config::Config c = tiny();
  c.mem.model = config::MemoryModel::Fixed;
  c.mem.latency_cycles = 7;
  c.cache.data = false;
  MemoryTiming m(c);
  for (int i = 0; i < 3; ++i) {
    const hw::Served s = m.access(0x1000, i == 1, kWalk);
    EXPECT_EQ(s.cycles, 7u);
    EXPECT_EQ(s.level, ServedBy::Fixed);
  }
  EXPECT_EQ(m.access(0x2000, false, Requester::Data).level, ServedBy::Fixed);  // even with cache.data off
  EXPECT_EQ(m.served(kWalk, ServedBy::Fixed), 3u);
  EXPECT_EQ(m.served(Requester::Data, ServedBy::Fixed), 1u);
  for (ServedBy l : {ServedBy::L1d, ServedBy::L2, ServedBy::Llc}) {
    const Cache::Stats& s = m.level(l).stats();
    EXPECT_EQ(s.hits + s.misses + s.fills, 0u) << hw::name(l);
    EXPECT_FALSE(m.level(l).contains(0x1000)) << hw::name(l);
  }
}

TEST(MemoryTiming, FirstAccessIsDramThenTheWholeLineIsInL1d) {
  MemoryTiming m(tiny());
  const hw::Served first = m.access(0x5008, false, kWalk);
  EXPECT_EQ(first.level, ServedBy::Dram);
  EXPECT_EQ(first.cycles, kDramCycles);
  const hw::Served again = m.access(0x5008, false, kWalk);
  EXPECT_EQ(again.level, ServedBy::L1d);
  EXPECT_EQ(again.cycles, kL1Cycles);
  EXPECT_EQ(at(m, 0x5000), ServedBy::L1d);  // another word of the same 64-byte line
  EXPECT_EQ(at(m, 0x503f), ServedBy::L1d);
  EXPECT_EQ(at(m, 0x5040), ServedBy::Dram);  // the next line
  for (ServedBy l : {ServedBy::L1d, ServedBy::L2, ServedBy::Llc})
    EXPECT_TRUE(m.level(l).contains(0x5000)) << "a DRAM access fills every level: " << hw::name(l);
}

TEST(MemoryTiming, LruEvictsTheLeastRecentlyUsedLineWhichL2ThenServes) {
  MemoryTiming m(tiny({1, 2, 64, kL1Cycles}));  // L1D: one set of two ways
  constexpr u64 A = 0x0, B = 0x40, C = 0x80;
  EXPECT_EQ(at(m, A), ServedBy::Dram);
  EXPECT_EQ(at(m, B), ServedBy::Dram);
  EXPECT_EQ(at(m, A), ServedBy::L1d);   // A is now the more recent: L1D = {B old, A new}
  EXPECT_EQ(at(m, C), ServedBy::Dram);  // evicts B (FIFO would have evicted A)
  EXPECT_TRUE(m.level(ServedBy::L1d).contains(A));
  EXPECT_FALSE(m.level(ServedBy::L1d).contains(B));
  const hw::Served b = m.access(B, false, kWalk);  // evicts A: L1D = {C, B}
  EXPECT_EQ(b.level, ServedBy::L2);
  EXPECT_EQ(b.cycles, kL2Cycles);
  EXPECT_EQ(at(m, C), ServedBy::L1d);  // L1D = {B old, C new}
  EXPECT_EQ(at(m, A), ServedBy::L2);   // evicts B
  EXPECT_EQ(at(m, C), ServedBy::L1d);
  EXPECT_EQ(at(m, B), ServedBy::L2);  // evicts A: L1D = {C, B}
  EXPECT_EQ(m.level(ServedBy::L1d).stats().evictions, 4u);
}

TEST(MemoryTiming, LineEvictedFromL1dAndL2IsServedByLlc) {
  MemoryTiming m(tiny({1, 1, 64, kL1Cycles}, {1, 1, 64, kL2Cycles}));
  EXPECT_EQ(at(m, 0x1000), ServedBy::Dram);
  EXPECT_EQ(at(m, 0x2000), ServedBy::Dram);  // displaces 0x1000 from L1D and L2
  const hw::Served s = m.access(0x1000, false, kWalk);
  EXPECT_EQ(s.level, ServedBy::Llc);
  EXPECT_EQ(s.cycles, kLlcCycles);
  EXPECT_EQ(at(m, 0x2000), ServedBy::Llc);  // and the LLC refilled both levels above with 0x1000
}

TEST(MemoryTiming, DirtyEvictionCountsAWritebackIntoTheLevelBelow) {
  MemoryTiming m(tiny({1, 1, 64, kL1Cycles}, {1, 2, 64, kL2Cycles}));
  constexpr u64 A = 0x0, B = 0x40, C = 0x80, D = 0xc0;
  m.access(A, true, kWalk);  // an A/D update: A dirty in L1D only
  EXPECT_TRUE(m.level(ServedBy::L1d).dirty(A));
  EXPECT_FALSE(m.level(ServedBy::L2).dirty(A));
  m.access(B, false, kWalk);  // evicts dirty A from L1D into L2: L2 = {B, A dirty}
  EXPECT_EQ(m.level(ServedBy::L1d).stats().writebacks, 1u);
  EXPECT_TRUE(m.level(ServedBy::L2).dirty(A));
  m.access(C, false, kWalk);  // L2 evicts B (clean), the least recently used
  EXPECT_EQ(m.level(ServedBy::L2).stats().writebacks, 0u);
  m.access(D, false, kWalk);  // L2 evicts dirty A into the LLC
  EXPECT_EQ(m.level(ServedBy::L2).stats().writebacks, 1u);
  EXPECT_TRUE(m.level(ServedBy::Llc).dirty(A));
  EXPECT_EQ(m.level(ServedBy::L1d).stats().writebacks, 1u);  // B, C were clean
}

TEST(MemoryTiming, CleanEvictionsCountNoWriteback) {
  MemoryTiming m(tiny({1, 1, 64, kL1Cycles}, {1, 1, 64, kL2Cycles}, {1, 1, 64, kLlcCycles}));
  for (u64 i = 0; i < 10; ++i) m.access(i * 64, false, kWalk);
  for (ServedBy l : {ServedBy::L1d, ServedBy::L2, ServedBy::Llc}) {
    EXPECT_EQ(m.level(l).stats().evictions, 9u) << hw::name(l);
    EXPECT_EQ(m.level(l).stats().writebacks, 0u) << hw::name(l);
  }
}

TEST(MemoryTiming, WithoutCacheDataDataAccessesCostL1dAndLeavePageWalkLinesAlone) {
  config::Config c = tiny({1, 2, 64, kL1Cycles});
  c.cache.data = false;
  MemoryTiming m(c);
  EXPECT_EQ(at(m, 0x7000), ServedBy::Dram);
  const Cache::Stats before = m.level(ServedBy::L1d).stats();
  for (u64 i = 0; i < 1000; ++i) {
    const hw::Served s = m.access(0x100000 + i * 64, i % 3 == 0, Requester::Data);
    EXPECT_EQ(s.level, ServedBy::L1d);
    EXPECT_EQ(s.cycles, kL1Cycles);
  }
  const Cache::Stats after = m.level(ServedBy::L1d).stats();
  EXPECT_EQ(after.hits, before.hits);
  EXPECT_EQ(after.misses, before.misses);
  EXPECT_EQ(after.fills, before.fills);
  EXPECT_EQ(at(m, 0x7000), ServedBy::L1d);
  EXPECT_EQ(m.served(Requester::Data, ServedBy::L1d), 1000u);
}

TEST(MemoryTiming, WithCacheDataDataAccessesCompeteWithPageWalkLines) {
  MemoryTiming m(tiny({1, 2, 64, kL1Cycles}));  // cache.data = true
  EXPECT_EQ(at(m, 0x7000), ServedBy::Dram);
  EXPECT_EQ(at(m, 0x100000, false, Requester::Data), ServedBy::Dram);
  EXPECT_EQ(at(m, 0x100040, false, Requester::Data), ServedBy::Dram);  // evicts the PTE line
  EXPECT_EQ(at(m, 0x7000), ServedBy::L2);
}

TEST(MemoryTiming, ServedCountersAddUpToAccessesAndLookups) {
  MemoryTiming m(tiny({2, 2, 64, kL1Cycles}, {4, 2, 64, kL2Cycles}, {8, 2, 64, kLlcCycles}));
  std::mt19937_64 rng(42);
  u64 issued[2] = {0, 0};
  for (int i = 0; i < 20000; ++i) {
    const Requester who = rng() % 4 == 0 ? kWalk : Requester::Data;
    m.access((rng() % 96) * 64 + rng() % 64, rng() % 5 == 0, who);
    ++issued[static_cast<int>(who)];
  }
  u64 per_level[hw::kServedByCount] = {};
  for (Requester who : {kWalk, Requester::Data}) {
    EXPECT_EQ(m.accesses(who), issued[static_cast<int>(who)]) << hw::name(who);
    u64 sum = 0;
    for (std::size_t l = 0; l < hw::kServedByCount; ++l) {
      sum += m.served(who, static_cast<ServedBy>(l));
      per_level[l] += m.served(who, static_cast<ServedBy>(l));
    }
    EXPECT_EQ(sum, issued[static_cast<int>(who)]) << hw::name(who);
  }
  const Cache::Stats& l1 = m.level(ServedBy::L1d).stats();
  const Cache::Stats& l2 = m.level(ServedBy::L2).stats();
  const Cache::Stats& llc = m.level(ServedBy::Llc).stats();
  EXPECT_EQ(l1.hits + l1.misses, issued[0] + issued[1]);
  EXPECT_EQ(l1.hits, per_level[0]);
  EXPECT_EQ(l2.hits + l2.misses, l1.misses);  // only L1D misses reach L2
  EXPECT_EQ(l2.hits, per_level[1]);
  EXPECT_EQ(llc.hits + llc.misses, l2.misses);
  EXPECT_EQ(llc.hits, per_level[2]);
  EXPECT_EQ(llc.misses, per_level[3]);
  EXPECT_EQ(per_level[4], 0u);
  EXPECT_GT(per_level[3], 0u);  // the mix reached every level
  EXPECT_GT(l1.writebacks, 0u);
}

TEST(MemoryTiming, LineSizeIsRespected) {
  MemoryTiming m(tiny({4, 2, 128, kL1Cycles}, {16, 4, 128, kL2Cycles}, {64, 8, 128, kLlcCycles}));
  EXPECT_EQ(at(m, 0x1000), ServedBy::Dram);
  EXPECT_EQ(at(m, 0x1040), ServedBy::L1d);  // 64 bytes on: the same 128-byte line
  EXPECT_EQ(at(m, 0x1080), ServedBy::Dram);
  EXPECT_EQ(m.level(ServedBy::L1d).line_bytes(), 128u);
}

TEST(MemoryTiming, InvalidateAllEmptiesEveryLevelAndKeepsCounters) {
  MemoryTiming m(tiny());
  m.access(0x3000, true, kWalk);
  m.invalidate_all();
  for (ServedBy l : {ServedBy::L1d, ServedBy::L2, ServedBy::Llc})
    EXPECT_FALSE(m.level(l).contains(0x3000)) << hw::name(l);
  EXPECT_EQ(m.level(ServedBy::L1d).stats().writebacks, 0u);  // dropped, not written back
  EXPECT_EQ(at(m, 0x3000), ServedBy::Dram);
  EXPECT_EQ(m.served(kWalk, ServedBy::Dram), 2u);
}

TEST(MemoryTiming, NamesAndLevelsWithoutACache) {
  EXPECT_STREQ(hw::name(ServedBy::L1d), "l1d");
  EXPECT_STREQ(hw::name(ServedBy::L2), "l2");
  EXPECT_STREQ(hw::name(ServedBy::Llc), "llc");
  EXPECT_STREQ(hw::name(ServedBy::Dram), "dram");
  EXPECT_STREQ(hw::name(ServedBy::Fixed), "fixed");
  MemoryTiming m(tiny());
  EXPECT_THROW(m.level(ServedBy::Dram), std::invalid_argument);
  EXPECT_THROW(m.level(ServedBy::Fixed), std::invalid_argument);
  EXPECT_EQ(m.latency_cycles(ServedBy::Dram), kDramCycles);
}

TEST(Cache, RejectsImpossibleGeometry) {
  EXPECT_THROW(Cache(3, 2, 64), std::invalid_argument);
  EXPECT_THROW(Cache(4, 0, 64), std::invalid_argument);
  EXPECT_THROW(Cache(4, 2, 48), std::invalid_argument);
  EXPECT_THROW(Cache(4, 2, 4), std::invalid_argument);
  EXPECT_EQ(Cache(64, 8, 64).size_bytes(), 32u * 1024);
}

TEST(Cache, SetsDoNotEvictEachOther) {
  Cache c(2, 1, 64);
  c.fill(0x00, false);  // set 0
  c.fill(0x40, false);  // set 1
  EXPECT_TRUE(c.lookup(0x00, false));
  EXPECT_TRUE(c.lookup(0x40, false));
  EXPECT_EQ(c.fill(0x80, true), std::nullopt);  // set 0 again: evicts the clean 0x00
  EXPECT_FALSE(c.contains(0x00));
  EXPECT_EQ(c.fill(0x00, false), std::optional<u64>{0x80});  // the dirty victim's address
}

// The MRU shortcut and the single-pass victim search against the plainest LRU there
// is: per set, a list of lines from most to least recently used.
TEST(Cache, MatchesAReferenceLruOnRandomAccesses) {
  constexpr unsigned kSets = 4, kWays = 4, kLine = 64;
  Cache c(kSets, kWays, kLine);
  struct Line { u64 number; bool dirty; };
  std::vector<std::list<Line>> ref(kSets);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 50000; ++i) {
    const u64 pa = (rng() % 40) * kLine + rng() % kLine;
    const bool write = rng() % 3 == 0;
    const u64 number = pa / kLine;
    auto& set = ref[number % kSets];
    auto it = std::find_if(set.begin(), set.end(), [&](const Line& l) { return l.number == number; });
    const bool hit = it != set.end();
    ASSERT_EQ(c.lookup(pa, write), hit) << "access " << i;
    if (hit) {
      Line l = *it;
      l.dirty |= write;
      set.erase(it);
      set.push_front(l);
      continue;
    }
    std::optional<u64> expected_victim;
    if (set.size() == kWays) {
      if (set.back().dirty) expected_victim = set.back().number * kLine;
      set.pop_back();
    }
    set.push_front({number, write});
    ASSERT_EQ(c.fill(pa, write), expected_victim) << "access " << i;
  }
  EXPECT_GT(c.stats().hits, 0u);
  EXPECT_GT(c.stats().writebacks, 0u);
}

}  // namespace
