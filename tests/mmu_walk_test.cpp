// The page walk's mechanics: A/D updates (SDM Vol. 3A §4.8, POLICY-ADW of
// x86-paging-semantics.md §4.1), combining rights over levels (§4.6.1), the leaf
// attributes a Translation carries (§4.10.2.2), cmpxchg races, and starting part-way.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <vector>

#include "mmu/walk.hpp"
#include "mmu_test_support.hpp"

namespace {

using namespace mmusim::mmu;
using namespace mmu_test;



// ---- A/D on success (SDM §4.8) ----

TEST(WalkAD, SuccessfulReadSetsAOnEveryLevelButNotD_SDM4_8) {
  Tables t;
  t.map4k(kLA, kFrame, kUserRW);
  const WalkResult r = t.run(rd(kLA));
  ASSERT_TRUE(r.ok());
  for (Level l : kLevels4) {
    EXPECT_TRUE(t.get(l, kLA) & bit::A) << static_cast<unsigned>(l);
    EXPECT_FALSE(t.get(l, kLA) & bit::D) << static_cast<unsigned>(l);
  }
  EXPECT_EQ(t.mem.loads, 4u);
  EXPECT_EQ(t.mem.cas_calls, 4u);
  EXPECT_FALSE(r.translation.dirty);
}

TEST(WalkAD, WriteSetsDInLeafOnlyWithAInTheSameLockedUpdate_SDM4_8) {
  Tables t;
  t.map4k(kLA, kFrame, kUserRW);
  const WalkResult r = t.run(wr(kLA, true));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(t.get(Level::PTE, kLA), kFrame | kUserRW | bit::A | bit::D);
  for (Level l : {Level::PML4E, Level::PDPTE, Level::PDE}) {
    EXPECT_EQ(t.get(l, kLA), Tables::table(Tables::below(l)) | kNonLeaf | bit::A);  // bit 6 untouched
  }
  EXPECT_EQ(t.mem.cas_calls, 4u);  // A and D of the leaf in one cmpxchg
  EXPECT_TRUE(r.translation.dirty);
}

TEST(WalkAD, FetchNeverSetsD_SDM4_8) {
  Tables t;
  t.map4k(kLA, kFrame, kUserRW);
  ASSERT_TRUE(t.run(fx(kLA, true)).ok());
  EXPECT_EQ(t.get(Level::PTE, kLA), kFrame | kUserRW | bit::A);
}

TEST(WalkAD, RmwIsTranslatedAsAWriteAndSetsD_SDM4_7_4_8) {
  Tables t;
  t.map4k(kLA, kFrame, kUserRW);
  const WalkResult r = t.run(make(kLA, AccessType::Read, true, /*rmw=*/true));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(t.get(Level::PTE, kLA) & bit::D);
  EXPECT_TRUE(r.translation.dirty);
}

TEST(WalkAD, EntriesWithTheBitAlreadySetAreNotWritten_SDM4_8_T69) {
  Tables t;
  t.map4k(kLA, kFrame, kUserRW | bit::A, kNonLeaf | bit::A);
  ASSERT_TRUE(t.run(rd(kLA)).ok());
  EXPECT_EQ(t.mem.cas_calls, 0u);

  ASSERT_TRUE(t.run(wr(kLA)).ok());  // only the leaf's D is missing
  ASSERT_EQ(t.mem.cas_calls, 1u);
  EXPECT_EQ(t.mem.cas_pas[0], Tables::epa(Level::PTE, kLA));

  ASSERT_TRUE(t.run(wr(kLA)).ok());  // now A and D are both set
  EXPECT_EQ(t.mem.cas_calls, 1u);
}

TEST(WalkAD, TranslationDirtyIsTheLeafDAfterTheWalk_SDM4_10_2_2) {
  Tables t;
  t.map4k(kLA, kFrame, kUserRW);
  EXPECT_FALSE(t.run(rd(kLA)).translation.dirty);
  t.put(Level::PTE, kLA, kFrame | kUserRW | bit::D);
  EXPECT_TRUE(t.run(rd(kLA)).translation.dirty);  // a read reports D already set
}

TEST(WalkAD, FiveLevelWalkSetsAInPml5e_SDM4_5_4_8) {
  Tables t(/*la57=*/true);
  const u64 la = 0x00AB'CDEF'1234'5000ull;  // canonical only with LA57
  t.map4k(la, kFrame, kUserRW);
  const WalkResult r = t.run(rd(la));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.nsteps, 5u);
  EXPECT_TRUE(t.get(Level::PML5E, la) & bit::A);
  EXPECT_EQ(t.mem.cas_calls, 5u);
}

// ---- A/D on faults: POLICY-ADW for non-leaf entries, leaf never changed ----

TEST(WalkAD, AdwUpperEntriesGetAWhenPteIsNotPresent_POLICY_ADW) {
  Tables t;
  t.upper(kLA, Level::PDE, kNonLeaf);  // PTE stays 0
  const WalkResult r = t.run(rd(kLA));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.fault.error_code, 0u);
  for (Level l : {Level::PML4E, Level::PDPTE, Level::PDE}) EXPECT_TRUE(t.get(l, kLA) & bit::A);
  EXPECT_EQ(t.mem.cas_calls, 3u);
}

TEST(WalkAD, NotPresentEntryIsNeverWrittenWhateverItsOtherBits_SDM4_8) {
  Tables t;
  const u64 garbage = ~bit::P & ~bit::A;  // everything but P and A
  t.upper(kLA, Level::PDE, kNonLeaf);
  t.put(Level::PTE, kLA, garbage);
  EXPECT_EQ(t.run(wr(kLA)).fault.error_code, pf::W);
  EXPECT_EQ(t.get(Level::PTE, kLA), garbage);
  for (u64 pa : t.mem.cas_pas) EXPECT_NE(pa, Tables::epa(Level::PTE, kLA));
}

TEST(WalkAD, EntryWithReservedBitsIsNeverWrittenAndLowerLevelsNotRead_SDM4_7) {
  Tables t;
  t.map4k(kLA, kFrame, kUserRW);
  const u64 bad_pde = kPt | kNonLeaf | (1ull << 51);
  t.put(Level::PDE, kLA, bad_pde);
  const WalkResult r = t.run(rd(kLA));
  EXPECT_EQ(r.fault.error_code, pf::P | pf::RSVD);
  EXPECT_EQ(t.get(Level::PDE, kLA), bad_pde);
  EXPECT_TRUE(t.get(Level::PML4E, kLA) & bit::A);  // POLICY-ADW: consumed before the fault
  EXPECT_TRUE(t.get(Level::PDPTE, kLA) & bit::A);
  EXPECT_EQ(t.mem.loads, 3u);
  EXPECT_FALSE(t.get(Level::PTE, kLA) & bit::A);
}

TEST(WalkAD, LeafA_D_UnchangedOnProtectionFault4K_AdwUpperASet_SDM4_8) {
  Tables t;
  t.map4k(kLA, kFrame, bit::P | bit::RW);  // supervisor leaf
  const WalkResult r = t.run(rd(kLA, true));
  EXPECT_EQ(r.fault.error_code, pf::P | pf::U);
  EXPECT_EQ(t.get(Level::PTE, kLA), kFrame | bit::P | bit::RW);
  EXPECT_TRUE(t.get(Level::PDE, kLA) & bit::A);  // POLICY-ADW (POLICY-ADB would leave it clear)
}

TEST(WalkAD, LeafA_D_UnchangedOnFault2M_SDM4_8) {
  Tables t;
  const u64 leaf = 0x4000'0000ull | bit::PS | bit::P | bit::US;  // read-only user 2M page
  t.upper(kLA, Level::PDPTE, kNonLeaf);
  t.put(Level::PDE, kLA, leaf);
  EXPECT_EQ(t.run(wr(kLA, true)).fault.error_code, pf::P | pf::W | pf::U);
  EXPECT_EQ(t.get(Level::PDE, kLA), leaf);
}

TEST(WalkAD, LeafAUnchangedOnFault1G_QemuDivergenceD4_SDM4_8) {
  Tables t;
  const u64 leaf = 0x40'0000'0000ull | bit::PS | bit::P | bit::RW;  // supervisor 1G page
  t.upper(kLA, Level::PML4E, kNonLeaf);
  t.put(Level::PDPTE, kLA, leaf);
  EXPECT_EQ(t.run(rd(kLA, true)).fault.error_code, pf::P | pf::U);
  EXPECT_EQ(t.get(Level::PDPTE, kLA), leaf);  // QEMU sets PDPTE.A here (T39)
}

TEST(WalkAD, LeafDUnchangedOnSupervisorWriteToReadOnlyWithWp_SDM4_6_1) {
  Tables t;
  t.map4k(kLA, kFrame, bit::P | bit::A);
  EXPECT_EQ(t.run(wr(kLA)).fault.error_code, pf::P | pf::W);
  EXPECT_EQ(t.get(Level::PTE, kLA), kFrame | bit::P | bit::A);
}

TEST(WalkAD, LeafUnchangedOnPkSmapSmepAndNxFaults_SDM4_6) {
  struct Case {
    const char* name;
    u64 leaf;
    Access a;
    void (*setup)(ControlRegs&);
    u32 ec;
  };
  const Case cases[] = {
      {"PK", kUserRW, wr(kLA, true), [](ControlRegs& c) { c.cr4_pke = true; c.pkru = 2u; },
       pf::P | pf::W | pf::U | pf::PK},
      {"SMAP", kUserRW, rd(kLA), [](ControlRegs& c) { c.cr4_smap = true; }, pf::P},
      {"SMEP", kUserRW, fx(kLA), [](ControlRegs& c) { c.cr4_smep = true; }, pf::P | pf::ID},
      {"NX", kUserRW | bit::XD, fx(kLA, true), [](ControlRegs& c) { c.efer_nxe = true; },
       pf::P | pf::U | pf::ID},
  };
  for (const Case& c : cases) {
    Tables t;
    c.setup(t.cr);
    t.map4k(kLA, kFrame, c.leaf);
    EXPECT_EQ(t.run(c.a).fault.error_code, c.ec) << c.name;
    EXPECT_EQ(t.get(Level::PTE, kLA), kFrame | c.leaf) << c.name;
  }
}

TEST(WalkAD, WpZeroSupervisorWriteToReadOnlyPageSucceedsAndSetsD_SDM4_6_1_KUT) {
  Tables t;
  t.cr.cr0_wp = false;
  t.map4k(kLA, kFrame, bit::P | bit::US);  // read-only user page, SMAP off
  const WalkResult r = t.run(wr(kLA));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(t.get(Level::PTE, kLA) & bit::D);
  EXPECT_FALSE(r.translation.rw);
  EXPECT_TRUE(r.translation.dirty);
}

TEST(WalkAD, WpZeroLargePageDirtyForReadOnly2M_KUT_check_large_pte_dirty_for_nowp) {
  Tables t;
  t.cr.cr0_wp = false;
  t.map2m(kLA, 0x4000'0000ull, bit::P);
  ASSERT_TRUE(t.run(wr(kLA)).ok());
  EXPECT_EQ(t.get(Level::PDE, kLA), 0x4000'0000ull | bit::PS | bit::P | bit::A | bit::D);
}

// ---- Combining rights and leaf attributes (SDM §4.6.1, §4.10.2.2) ----

TEST(WalkRights, ReadWriteIsAndedOverEveryLevel_SDM4_6_1) {
  for (Level ro : kLevels4) {
    Tables t;
    t.map4k(kLA, kFrame, kUserRW);
    t.put(ro, kLA, t.get(ro, kLA) & ~bit::RW);
    const WalkResult r = t.run(rd(kLA, true));
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r.translation.rw) << static_cast<unsigned>(ro);
    EXPECT_EQ(t.run(wr(kLA, true)).fault.error_code, pf::P | pf::W | pf::U);
  }
}

TEST(WalkRights, UserSupervisorIsAndedOverEveryLevel_SDM4_6_1) {
  for (Level sup : kLevels4) {
    Tables t;
    t.map4k(kLA, kFrame, kUserRW);
    t.put(sup, kLA, t.get(sup, kLA) & ~bit::US);
    const WalkResult r = t.run(rd(kLA));
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r.translation.us) << static_cast<unsigned>(sup);
    EXPECT_EQ(t.run(rd(kLA, true)).fault.error_code, pf::P | pf::U);
  }
}

TEST(WalkRights, ExecuteDisableIsOredOverEveryLevelWithNxe_SDM4_6_1) {
  for (Level xd : kLevels4) {
    Tables t;
    t.cr.efer_nxe = true;
    t.map4k(kLA, kFrame, kUserRW);
    t.put(xd, kLA, t.get(xd, kLA) | bit::XD);
    const WalkResult r = t.run(rd(kLA));
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r.translation.xd) << static_cast<unsigned>(xd);
    EXPECT_EQ(t.run(fx(kLA)).fault.error_code, pf::P | pf::ID);
  }
}

TEST(WalkRights, FullyPermissivePathGivesCombinedRights_SDM4_6_1) {
  Tables t;
  t.cr.efer_nxe = true;
  t.map4k(kLA, kFrame, kUserRW);
  const Translation tr = t.run(rd(kLA)).translation;
  EXPECT_TRUE(tr.rw);
  EXPECT_TRUE(tr.us);
  EXPECT_FALSE(tr.xd);
}

TEST(WalkRights, GlobalComesFromTheLeafOnly_SDM4_10_2_2) {
  Tables t;
  t.map4k(kLA, kFrame, kUserRW | bit::G);
  EXPECT_TRUE(t.run(rd(kLA)).translation.global);
  t.map4k(kLA, kFrame, kUserRW, kNonLeaf | bit::G);
  EXPECT_FALSE(t.run(rd(kLA)).translation.global);
}

TEST(WalkRights, ProtectionKeyComesFromTheLeafOnly_SDM4_6_2_KUT_pku) {
  Tables t;
  t.cr.cr4_pke = true;
  // As KUT: key 2 in the non-leaf entries, key 1 in the leaf.
  t.map4k(kLA, kFrame, kUserRW | (1ull << kPkeyShift), kNonLeaf | (2ull << kPkeyShift));
  t.cr.pkru = 1u << (2 * 2);  // AD2: must not matter
  const WalkResult r = t.run(rd(kLA, true));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.translation.pkey, 1u);
  EXPECT_EQ(r.translation.page_pa, kFrame);  // key bits are not address bits
  t.cr.pkru = 1u << (2 * 1);  // AD1
  EXPECT_EQ(t.run(rd(kLA, true)).fault.error_code, pf::P | pf::U | pf::PK);
}

TEST(WalkRights, ProtectionKeyIsExactlyLeafBits62To59_SDM4_5_Table4_20) {
  Tables t;
  t.cr.efer_nxe = true;
  t.map4k(kLA, kFrame, kUserRW | bit::XD | (0xAull << kPkeyShift) | (1ull << 58));
  const WalkResult r = t.run(rd(kLA));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.translation.pkey, 0xAu);  // neither XD (63) nor ignored bit 58 leak in
  EXPECT_TRUE(r.translation.xd);
}

TEST(WalkRights, StepsRecordEachEntryReadTopFirstAsRead_SDM4_5) {
  Tables t;
  t.map4k(kLA, kFrame, kUserRW);
  const WalkResult r = t.run(rd(kLA));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.nsteps, 4u);
  for (unsigned i = 0; i < 4; ++i) {
    EXPECT_EQ(r.steps[i].level, kLevels4[i]);
    EXPECT_EQ(r.steps[i].entry_pa, Tables::epa(kLevels4[i], kLA));
    EXPECT_FALSE(r.steps[i].entry & bit::A);  // the value read, before the walk's update
  }
  EXPECT_EQ(r.translation.leaf_entry_pa, Tables::epa(Level::PTE, kLA));
}

TEST(WalkRights, FaultIsAPageFaultWithCr2TheFullLinearAddress_SDM6_15) {
  Tables t;
  const u64 la = 0xFFFF'8880'1234'5678ull;
  const WalkResult r = t.run(rd(la));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.fault.vector, Vector::PF);
  EXPECT_EQ(r.fault.cr2, la);
  EXPECT_EQ(r.nsteps, 1u);
}

// ---- Locked A/D updates racing another agent (SDM §4.8) ----

TEST(WalkRace, OtherAgentSetsAFirst_WalkerRereadsAndDoesNotWriteAgain_SDM4_8) {
  Tables t;
  t.map4k(kLA, kFrame, kUserRW);
  const u64 pml4e_pa = Tables::epa(Level::PML4E, kLA);
  t.mem.before_cas = [&](u64 pa) {
    if (pa == pml4e_pa) t.mem.cells[pa] |= bit::A;
  };
  const WalkResult r = t.run(rd(kLA));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(t.mem.cas_calls, 4u);  // the failed one, then one per lower level
  EXPECT_EQ(t.mem.loads, 5u);      // the PML4E was re-read once
  EXPECT_EQ(r.steps[0].entry, kPdpt | kNonLeaf | bit::A);  // the re-read value
  EXPECT_EQ(r.nsteps, 4u);
}

TEST(WalkRace, LeafClearedBeforeTheUpdate_WalkerFaultsNotPresent_SDM4_8) {
  Tables t;
  t.map4k(kLA, kFrame, kUserRW);
  const u64 pte_pa = Tables::epa(Level::PTE, kLA);
  t.mem.before_cas = [&](u64 pa) {
    if (pa == pte_pa) t.mem.cells[pa] = 0;
  };
  const WalkResult r = t.run(wr(kLA, true));
  EXPECT_EQ(r.fault.error_code, pf::W | pf::U);
  EXPECT_EQ(t.get(Level::PTE, kLA), 0u);
}

TEST(WalkRace, LeafMadeReadOnlyBeforeTheUpdate_WalkerRechecksRights_SDM4_8) {
  Tables t;
  t.map4k(kLA, kFrame, kUserRW);
  const u64 pte_pa = Tables::epa(Level::PTE, kLA);
  t.mem.before_cas = [&](u64 pa) {
    if (pa == pte_pa) t.mem.cells[pa] &= ~bit::RW;
  };
  EXPECT_EQ(t.run(wr(kLA, true)).fault.error_code, pf::P | pf::W | pf::U);
  EXPECT_FALSE(t.get(Level::PTE, kLA) & bit::D);
}

class BrokenMemory final : public PagingMemory {
 public:
  u64 load64(u64 pa) override { return pa == kPml4 ? (kPdpt | bit::P) : 0; }
  bool cmpxchg64(u64, u64, u64) override { return false; }
};

TEST(WalkRace, CmpxchgThatNeverSucceedsIsReportedNotSpunOn) {
  BrokenMemory mem;
  ControlRegs cr;
  cr.cr3 = kPml4;
  EXPECT_THROW(walk(mem, rd(0), cr), std::logic_error);
}

// ---- Starting part-way (paging-structure caches, SDM §4.10.3) ----

TEST(WalkStartTest, WalkStartComesFromCr3IgnoringPcidAndCacheBits_SDM4_5) {
  ControlRegs cr;
  cr.cr4_pcide = true;
  cr.cr3 = kPml4 | 0xABC;
  const WalkStart s = walk_start(cr);
  EXPECT_EQ(s.level, Level::PML4E);
  EXPECT_EQ(s.table_pa, kPml4);
  cr.cr4_la57 = true;
  EXPECT_EQ(walk_start(cr).level, Level::PML5E);
}

TEST(WalkStartTest, ResumingBelowCachedLevelsGivesTheSameTranslation_SDM4_10_3) {
  Tables t;
  t.cr.efer_nxe = true;
  t.map4k(kLA, kFrame, kUserRW, kNonLeaf | bit::A);
  t.put(Level::PDPTE, kLA, kPd | bit::P | bit::US | bit::A | bit::XD);  // read-only, XD
  const WalkResult full = t.run(rd(kLA));
  ASSERT_TRUE(full.ok());
  WalkStart s = walk_start(t.cr);
  s = descend(s, full.steps[0].entry, t.cr);
  s = descend(s, full.steps[1].entry, t.cr);
  EXPECT_EQ(s.level, Level::PDE);
  EXPECT_EQ(s.table_pa, kPd);
  EXPECT_FALSE(s.rw);
  EXPECT_TRUE(s.xd);
  t.mem.loads = 0;
  const WalkResult part = walk(t.mem, rd(kLA), t.cr, s);
  ASSERT_TRUE(part.ok());
  EXPECT_EQ(t.mem.loads, 2u);
  EXPECT_EQ(part.nsteps, 2u);
  EXPECT_EQ(part.steps[0].level, Level::PDE);
  EXPECT_EQ(part.translation.page_pa, full.translation.page_pa);
  EXPECT_EQ(part.translation.rw, full.translation.rw);
  EXPECT_EQ(part.translation.xd, full.translation.xd);
}

TEST(WalkStartTest, SkippedLevelsRightsStillApply_SDM4_10_3_1) {
  Tables t;
  t.map4k(kLA, kFrame, kUserRW);
  const WalkStart s{Level::PDE, kPd, true, /*us=*/false, false};
  const WalkResult r = walk(t.mem, rd(kLA, true), t.cr, s);
  EXPECT_EQ(r.fault.error_code, pf::P | pf::U);
  EXPECT_EQ(t.mem.loads, 2u);
  EXPECT_FALSE(t.get(Level::PML4E, kLA) & bit::A);  // levels above the start untouched
}

TEST(WalkStartTest, InvalidStartLevelIsRejected) {
  Tables t;
  const WalkStart s{static_cast<Level>(6), kPml4, true, true, false};
  EXPECT_THROW(walk(t.mem, rd(kLA), t.cr, s), std::invalid_argument);
}

}  // namespace
