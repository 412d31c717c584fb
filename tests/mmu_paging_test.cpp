// Translation structure of IA-32e paging: the canonical check (SDM Vol. 3A §4.5,
// §6.15), the 4- and 5-level address split, 4K/2M/1G leaves and physical-address
// composition (§4.5, Tables 4-15..4-20), reserved bits and the RSVD fault (§4.7),
// following x86-paging-semantics.md §1 and §3.
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "mmu/reserved.hpp"
#include "mmu/rights.hpp"
#include "mmu/walk.hpp"
#include "mmu_test_support.hpp"

namespace {

using namespace mmusim::mmu;
using namespace mmu_test;



// ---- Canonical check (SDM §4.5, §6.15; x86-paging-semantics.md §1.2) ----

TEST(Canonical, FourLevelBoundariesAreBit47SignExtension_SDM4_5) {
  ControlRegs cr;
  for (u64 la : {0ull, 0x0000'7FFF'FFFF'FFFFull, 0xFFFF'8000'0000'0000ull, ~0ull}) {
    EXPECT_FALSE(check_canonical(rd(la), cr).has_value()) << std::hex << la;
  }
  for (u64 la : {0x0000'8000'0000'0000ull, 0xFFFF'7FFF'FFFF'FFFFull, 1ull << 63, 1ull << 48}) {
    EXPECT_TRUE(check_canonical(rd(la), cr).has_value()) << std::hex << la;
  }
}

TEST(Canonical, FiveLevelBoundariesAreBit56SignExtension_SDM4_5) {
  ControlRegs cr;
  cr.cr4_la57 = true;
  for (u64 la : {0x0000'8000'0000'0000ull, 0x00FF'FFFF'FFFF'FFFFull, 0xFF00'0000'0000'0000ull}) {
    EXPECT_FALSE(check_canonical(rd(la), cr).has_value()) << std::hex << la;
  }
  for (u64 la : {0x0100'0000'0000'0000ull, 0xFEFF'FFFF'FFFF'FFFFull, 0x8000'0000'0000'0000ull}) {
    EXPECT_TRUE(check_canonical(rd(la), cr).has_value()) << std::hex << la;
  }
}

TEST(Canonical, NonCanonicalIsGp0WithoutCr2ForEveryAccessKind_SDM6_15) {
  ControlRegs cr;
  cr.efer_nxe = true;
  const u64 la = 0x0000'8000'0000'1000ull;
  for (const Access& a : {rd(la), wr(la, true), fx(la), make(la, AccessType::Read, true, true)}) {
    const auto f = check_canonical(a, cr);
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->vector, Vector::GP);
    EXPECT_EQ(f->error_code, 0u);
    EXPECT_EQ(f->cr2, 0u);  // CR2 is not loaded; QEMU divergence D2
  }
}

TEST(Canonical, StackReferenceRaisesSs0_SDM6_15_DivergenceD2) {
  ControlRegs cr;
  Access a = wr(0x8000'0000'0000'0000ull);
  a.stack = true;
  const auto f = check_canonical(a, cr);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->vector, Vector::SS);
  EXPECT_EQ(f->error_code, 0u);
  EXPECT_EQ(f->cr2, 0u);
  a.la = 0x7000'0000ull;
  EXPECT_FALSE(check_canonical(a, cr).has_value());
}

// ---- Address split (SDM §4.5, x86-paging-semantics.md §1.1) ----

TEST(AddressSplit, FourLevelIndexesAndEntryAddresses_SDM4_5) {
  // PML4 idx 0x1A5, PDPT idx 0x0C3, PD idx 0x1F0, PT idx 0x07E, offset 0xABC.
  const u64 la = (0x1A5ull << 39) | (0x0C3ull << 30) | (0x1F0ull << 21) | (0x07Eull << 12) | 0xABC;
  Tables t;
  t.map4k(la, 0x5555'5000ull, kUserRW);
  const WalkResult r = t.run(rd(la));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.nsteps, 4u);
  EXPECT_EQ(r.steps[0].entry_pa, kPml4 + 0x1A5 * 8);
  EXPECT_EQ(r.steps[1].entry_pa, kPdpt + 0x0C3 * 8);
  EXPECT_EQ(r.steps[2].entry_pa, kPd + 0x1F0 * 8);
  EXPECT_EQ(r.steps[3].entry_pa, kPt + 0x07E * 8);
  EXPECT_EQ(r.translation.physical(la), 0x5555'5ABCull);
}

TEST(AddressSplit, FiveLevelUsesBits56To48ForThePml5Index_SDM4_5) {
  const u64 la = (0x0ABull << 48) | (0x101ull << 39) | (0x002ull << 30) | (0x003ull << 21) |
                 (0x004ull << 12) | 0x123;
  Tables t(/*la57=*/true);
  t.map4k(la, 0x9000ull, kUserRW);
  const WalkResult r = t.run(rd(la));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.nsteps, 5u);
  EXPECT_EQ(r.steps[0].level, Level::PML5E);
  EXPECT_EQ(r.steps[0].entry_pa, kPml5 + 0x0AB * 8);
  EXPECT_EQ(r.steps[1].entry_pa, kPml4 + 0x101 * 8);
  EXPECT_EQ(r.steps[4].entry_pa, kPt + 0x004 * 8);
  EXPECT_EQ(r.translation.physical(la), 0x9123ull);
}

TEST(AddressSplit, FourLevelIgnoresTheSignExtensionBits_SDM4_5) {
  const u64 la = 0xFFFF'8880'0000'0000ull;  // Linux direct map: PML4 index 0x111
  Tables t;
  t.map4k(la, 0x1000ull, kUserRW);
  const WalkResult r = t.run(rd(la));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.steps[0].entry_pa, kPml4 + 0x111 * 8);
}

TEST(AddressSplit, Cr3PcidAndCacheControlBitsAreNotPartOfTheRoot_SDM4_5) {
  Tables t;
  t.map4k(kLA, 0x3000ull, kUserRW);
  t.cr.cr3 = kPml4 | 0x18;  // PWT|PCD
  EXPECT_TRUE(t.run(rd(kLA)).ok());
  t.cr.cr4_pcide = true;
  t.cr.cr3 = kPml4 | 0xFFF;  // PCID 0xFFF
  const WalkResult r = t.run(rd(kLA));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.steps[0].entry_pa, Tables::epa(Level::PML4E, kLA));
}

// ---- Page sizes and physical-address composition (SDM §4.5) ----

TEST(PageSizes, FourKPagePhysicalAddress_SDM4_5) {
  Tables t;
  t.map4k(kLA, 0x0000'3FFF'FFFF'F000ull, kUserRW);  // highest frame with M=46
  const WalkResult r = t.run(rd(kLA));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.translation.size, PageSize::Size4K);
  EXPECT_EQ(r.translation.page_pa, 0x0000'3FFF'FFFF'F000ull);
  EXPECT_EQ(r.translation.physical(kLA), 0x0000'3FFF'FFFF'FABCull);
  EXPECT_EQ(r.translation.leaf_entry_pa, Tables::epa(Level::PTE, kLA));
}

TEST(PageSizes, TwoMPageViaPdePsSkipsThePageTable_SDM4_5_Table4_18) {
  Tables t;
  t.map2m(kLA, 0x0000'1234'5660'0000ull, kUserRW);
  const WalkResult r = t.run(rd(kLA));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.nsteps, 3u);
  EXPECT_EQ(t.mem.loads, 3u);
  EXPECT_EQ(r.translation.size, PageSize::Size2M);
  EXPECT_EQ(r.translation.page_pa, 0x0000'1234'5660'0000ull);
  EXPECT_EQ(r.translation.physical(kLA), 0x0000'1234'5660'0000ull | (kLA & 0x1F'FFFF));
  EXPECT_EQ(r.translation.leaf_entry_pa, Tables::epa(Level::PDE, kLA));
}

TEST(PageSizes, OneGPageViaPdptePsSkipsPdAndPt_SDM4_5_Table4_16) {
  Tables t;
  t.map1g(kLA, 0x0000'2000'4000'0000ull, kUserRW);
  const WalkResult r = t.run(rd(kLA));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.nsteps, 2u);
  EXPECT_EQ(r.translation.size, PageSize::Size1G);
  EXPECT_EQ(r.translation.page_pa, 0x0000'2000'4000'0000ull);
  EXPECT_EQ(r.translation.physical(kLA), 0x0000'2000'4000'0000ull | (kLA & 0x3FFF'FFFF));
  EXPECT_EQ(r.translation.leaf_entry_pa, Tables::epa(Level::PDPTE, kLA));
}

TEST(PageSizes, PteBit7IsPatNotPageSize_SDM4_5_Table4_20) {
  Tables t;
  t.map4k(kLA, 0x8000ull, kUserRW | bit::PAT4K);
  const WalkResult r = t.run(rd(kLA));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.translation.size, PageSize::Size4K);
  EXPECT_EQ(r.translation.page_pa, 0x8000ull);
}

TEST(PageSizes, Bit12OfA2MLeafIsPatNotAddressNotReserved_SDM4_5_Table4_18) {
  Tables t;
  t.map2m(kLA, 0x4000'0000ull, kUserRW | bit::PAT_LARGE);
  const u64 la = kLA & ~0x1F'FFFFull;  // LA bit 12 = 0
  const WalkResult r = t.run(rd(la));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.translation.page_pa, 0x4000'0000ull);
  EXPECT_EQ(r.translation.physical(la) & bit::PAT_LARGE, 0u);
  EXPECT_EQ(r.translation.physical(la | 0x1000), 0x4000'1000ull);
}

TEST(PageSizes, Bit12OfA1GLeafIsPatNotAddressNotReserved_SDM4_5_Table4_16) {
  Tables t;
  t.map1g(kLA, 0x80'0000'0000ull, kUserRW | bit::PAT_LARGE);
  const WalkResult r = t.run(rd(kLA & ~0x3FFF'FFFFull));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.translation.page_pa, 0x80'0000'0000ull);
}

TEST(PageSizes, NonLeafPdeBits20To13AreAddressBits_SDM4_5) {
  Tables t;
  const u64 pt = 0x20'2000ull | (1ull << 13) | (1ull << 20);  // 4K-aligned, not 2M-aligned
  t.upper(kLA, Level::PDPTE, kNonLeaf);
  t.put(Level::PDE, kLA, pt | kNonLeaf);
  t.mem.cells[entry_address(pt, kLA, Level::PTE)] = 0x7000ull | kUserRW;
  const WalkResult r = t.run(rd(kLA));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.steps[3].entry_pa, entry_address(pt, kLA, Level::PTE));
  EXPECT_EQ(r.translation.page_pa, 0x7000ull);
}

TEST(PageSizes, NonLeafPdpteBits29To13AreAddressBits_SDM4_5) {
  Tables t;
  const u64 pd = 0x4000'0000ull | bits(29, 13);
  t.upper(kLA, Level::PML4E, kNonLeaf);
  t.put(Level::PDPTE, kLA, pd | kNonLeaf);
  t.mem.cells[entry_address(pd, kLA, Level::PDE)] = 0x60'0000ull | bit::PS | kUserRW;
  const WalkResult r = t.run(rd(kLA));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.steps[2].entry_pa, entry_address(pd, kLA, Level::PDE));
  EXPECT_EQ(r.translation.size, PageSize::Size2M);
}

TEST(PageSizes, IgnoredBits62To52AreNotAddressBits_SDM4_5) {
  Tables t;
  const u64 ignored = bits(58, 52);
  t.map4k(kLA, 0xA000ull, kUserRW | ignored, kNonLeaf | ignored | (7ull << kPkeyShift));
  const WalkResult r = t.run(rd(kLA));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.steps[3].entry_pa, Tables::epa(Level::PTE, kLA));
  EXPECT_EQ(r.translation.page_pa, 0xA000ull);
  EXPECT_EQ(r.translation.pkey, 0u);  // non-leaf key bits are ignored
}

// ---- reserved_mask (x86-paging-semantics.md §1.4) ----

TEST(ReservedMask, PerLevelMasksWithM46AndNxe_SDM4_5) {
  ControlRegs cr;
  cr.efer_nxe = true;
  const u64 common = bits(51, 46);
  EXPECT_EQ(reserved_mask(Level::PML5E, 0, cr), common | bit::PS);
  EXPECT_EQ(reserved_mask(Level::PML4E, 0, cr), common | bit::PS);
  EXPECT_EQ(reserved_mask(Level::PDPTE, 0, cr), common);
  EXPECT_EQ(reserved_mask(Level::PDPTE, bit::PS, cr), common | bits(29, 13));
  EXPECT_EQ(reserved_mask(Level::PDE, 0, cr), common);
  EXPECT_EQ(reserved_mask(Level::PDE, bit::PS, cr), common | bits(20, 13));
  EXPECT_EQ(reserved_mask(Level::PTE, bit::PAT4K, cr), common);  // bit 7 of a PTE is PAT
}

TEST(ReservedMask, Bit63IsReservedOnlyWithoutNxe_SDM4_5) {
  ControlRegs cr;
  cr.efer_nxe = false;
  for (Level l : kLevels4) EXPECT_TRUE(reserved_mask(l, 0, cr) & bit::XD) << num(l);
  cr.efer_nxe = true;
  for (Level l : kLevels4) EXPECT_FALSE(reserved_mask(l, 0, cr) & bit::XD) << num(l);
}

TEST(ReservedMask, PatBit12AndIgnoredBitsAreNeverReserved_SDM4_5) {
  ControlRegs cr;
  for (Level l : {Level::PDPTE, Level::PDE}) {
    EXPECT_FALSE(reserved_mask(l, bit::PS, cr) & bit::PAT_LARGE) << num(l);
  }
  for (Level l : kLevels4) EXPECT_EQ(reserved_mask(l, bit::PS, cr) & bits(62, 52), 0u) << num(l);
}

TEST(ReservedMask, AddressBitsFollowMaxPhyAddr_SDM4_5) {
  ControlRegs cr;
  cr.efer_nxe = true;
  cr.maxphyaddr = 52;
  EXPECT_EQ(reserved_mask(Level::PTE, 0, cr), 0u);
  cr.maxphyaddr = 64;  // beyond the architectural 52: still no reserved address bits
  EXPECT_EQ(reserved_mask(Level::PTE, 0, cr), 0u);
  cr.maxphyaddr = 39;
  EXPECT_EQ(reserved_mask(Level::PTE, 0, cr), bits(51, 39));
  EXPECT_EQ(above_maxphyaddr_mask(46), bits(51, 46));
}

// ---- Reserved bits in the walk and the RSVD fault (SDM §4.7) ----

TEST(Reserved, BitsAboveMaxPhyAddrFaultAtEveryLevel_SDM4_7) {
  for (Level l : kLevels4) {
    for (unsigned b : {46u, 51u}) {
      Tables t;
      t.map4k(kLA, 0x1000ull, kUserRW);
      t.add(l, kLA, 1ull << b);
      const WalkResult r = t.run(rd(kLA));
      EXPECT_EQ(r.fault.error_code, pf::P | pf::RSVD) << num(l) << " bit " << b;
      EXPECT_EQ(r.nsteps, 5 - num(l)) << num(l);  // stops at the faulting level
    }
  }
}

TEST(Reserved, MaxPhyAddr52MakesBit51AnAddressBit_SDM4_5) {
  Tables t;
  t.cr.maxphyaddr = 52;
  t.map4k(kLA, 1ull << 51, kUserRW);
  const WalkResult r = t.run(rd(kLA));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.translation.page_pa, 1ull << 51);
}

TEST(Reserved, XdWithNxeOffIsAReservedBitAtEveryLevel_SDM4_5) {
  for (Level l : kLevels4) {
    Tables t;
    t.map4k(kLA, 0x1000ull, kUserRW);
    t.add(l, kLA, bit::XD);
    EXPECT_EQ(t.run(rd(kLA, true)).fault.error_code, pf::P | pf::RSVD | pf::U) << num(l);
  }
}

TEST(Reserved, XdWithNxeOnIsNotReserved_SDM4_5) {
  Tables t;
  t.cr.efer_nxe = true;
  t.map4k(kLA, 0x1000ull, kUserRW | bit::XD, kNonLeaf | bit::XD);
  EXPECT_TRUE(t.run(rd(kLA)).ok());
}

TEST(Reserved, PsInPml4eIsReserved_SDM4_5_Table4_15) {
  Tables t;
  t.map4k(kLA, 0x1000ull, kUserRW);
  t.add(Level::PML4E, kLA, bit::PS);
  const WalkResult r = t.run(wr(kLA));
  EXPECT_EQ(r.fault.error_code, pf::P | pf::RSVD | pf::W);
  EXPECT_EQ(t.mem.loads, 1u);
}

TEST(Reserved, PsInPml5eIsReserved_SDM4_5_Table4_14) {
  Tables t(/*la57=*/true);
  t.map4k(kLA, 0x1000ull, kUserRW);
  t.add(Level::PML5E, kLA, bit::PS);
  EXPECT_EQ(t.run(rd(kLA)).fault.error_code, pf::P | pf::RSVD);
  EXPECT_EQ(t.mem.loads, 1u);
}

TEST(Reserved, TwoMLeafAlignmentBits20To13AreReserved_SDM4_5_Table4_18) {
  for (unsigned b = 13; b <= 20; ++b) {
    Tables t;
    t.map2m(kLA, 0x4000'0000ull | (1ull << b), kUserRW);
    EXPECT_EQ(t.run(rd(kLA)).fault.error_code, pf::P | pf::RSVD) << "bit " << b;
  }
}

TEST(Reserved, OneGLeafAlignmentBits29To13AreReserved_SDM4_5_Table4_16) {
  for (unsigned b = 13; b <= 29; ++b) {
    Tables t;
    t.map1g(kLA, 0x4000'0000ull | (1ull << b), kUserRW);
    EXPECT_EQ(t.run(rd(kLA)).fault.error_code, pf::P | pf::RSVD) << "bit " << b;
  }
}

TEST(Reserved, NotCheckedWhenNotPresent_SDM4_7) {
  const u64 junk = bits(51, 46) | bit::XD | bit::PS | bits(20, 13);  // P=0
  for (Level l : kLevels4) {
    Tables t;
    t.map4k(kLA, 0x1000ull, kUserRW);
    t.put(l, kLA, junk);
    const WalkResult r = t.run(rd(kLA));
    EXPECT_EQ(r.fault.error_code, 0u) << num(l);
    EXPECT_EQ(r.fault.vector, Vector::PF);
  }
}

TEST(Reserved, RsvdErrorCodeAlwaysSetsP_09Family_SDM4_7) {
  struct Case { Access a; u32 ec; };
  const Case cases[] = {{rd(kLA), 0x09}, {wr(kLA), 0x0B}, {rd(kLA, true), 0x0D},
                        {wr(kLA, true), 0x0F}, {make(kLA, AccessType::Read, true, true), 0x0F}};
  for (const Case& c : cases) {
    Tables t;
    t.map4k(kLA, 0x1000ull | (1ull << 50), kUserRW);
    EXPECT_EQ(t.run(c.a).fault.error_code, c.ec);
  }
}

TEST(Reserved, RsvdOnFetchSetsIdOnlyWithNxeOrSmep_SDM4_7) {
  struct Case { bool nxe, smep, user; u32 ec; };
  const Case cases[] = {{false, false, false, 0x09}, {true, false, false, 0x19},
                        {false, true, false, 0x19}, {true, false, true, 0x1D},
                        {false, false, true, 0x0D}};
  for (const Case& c : cases) {
    Tables t;
    t.cr.efer_nxe = c.nxe;
    t.cr.cr4_smep = c.smep;
    t.map4k(kLA, 0x1000ull, kUserRW);
    t.add(Level::PDE, kLA, 1ull << 47);
    EXPECT_EQ(t.run(fx(kLA, c.user)).fault.error_code, c.ec) << c.nxe << c.smep << c.user;
  }
}

TEST(Reserved, UpperLevelRsvdBeatsEveryRightsViolationBelow_SDM4_7) {
  Tables t;
  t.map4k(kLA, 0x1000ull, bit::P, bit::P);  // supervisor, read-only everywhere
  t.add(Level::PDPTE, kLA, 1ull << 48);
  const WalkResult r = t.run(wr(kLA, true));
  EXPECT_EQ(r.fault.error_code, pf::P | pf::RSVD | pf::W | pf::U);
  EXPECT_EQ(t.mem.loads, 2u);
}

TEST(Reserved, LeafRsvdBeatsTheLeafsOwnRightsViolation_SDM4_7) {
  Tables t;
  t.map4k(kLA, 0x1000ull | (1ull << 49), bit::P);  // supervisor leaf with a reserved bit
  EXPECT_EQ(t.run(rd(kLA, true)).fault.error_code, pf::P | pf::RSVD | pf::U);
}

// ---- Not-present faults (SDM §4.7, x86-paging-semantics.md §3 table) ----

TEST(NotPresent, WalkStopsAtTheFirstNonPresentLevel_SDM4_7) {
  for (Level l : kLevels4) {
    Tables t;
    t.map4k(kLA, 0x1000ull, kUserRW);
    t.put(l, kLA, 0);
    const WalkResult r = t.run(rd(kLA));
    EXPECT_EQ(r.fault.error_code, 0u);
    EXPECT_EQ(t.mem.loads, 5 - num(l)) << num(l);
    EXPECT_EQ(r.nsteps, 5 - num(l)) << num(l);
    EXPECT_EQ(r.steps[r.nsteps - 1].level, l);
  }
}

TEST(NotPresent, ErrorCodesDescribeTheAccess_SDM4_7) {
  struct Case { Access a; bool nxe; u32 ec; };
  const Case cases[] = {{rd(kLA), false, 0x00},        {wr(kLA), false, 0x02},
                        {rd(kLA, true), false, 0x04},  {wr(kLA, true), false, 0x06},
                        {fx(kLA), true, 0x10},         {fx(kLA, true), true, 0x14},
                        {fx(kLA), false, 0x00},        {fx(kLA, true), false, 0x04}};
  for (const Case& c : cases) {
    Tables t;
    t.cr.efer_nxe = c.nxe;
    const WalkResult r = t.run(c.a);
    EXPECT_EQ(r.fault.error_code, c.ec);
    EXPECT_EQ(r.fault.cr2, kLA);
  }
}

TEST(NotPresent, RmwOnNotPresentPageReportsAWrite_SDM4_7_DivergenceD10) {
  Tables t;
  t.upper(kLA, Level::PDE, kNonLeaf);
  EXPECT_EQ(t.run(make(kLA, AccessType::Read, true, true)).fault.error_code, pf::W | pf::U);
}

}  // namespace
