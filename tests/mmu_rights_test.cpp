// Access rights over a translation's combined rights and the #PF error code (Intel SDM
// Vol. 3A §4.6.1 supervisor/user, WP, NX, SMEP, SMAP; §4.6.2 protection keys; §4.7
// error code), following x86-paging-semantics.md §2 and §3. These are the checks a
// TLB hit runs too, so they are tested on Translations directly, without a walk.
#include <gtest/gtest.h>

#include "mmu/rights.hpp"

namespace {

using namespace mmusim::mmu;

constexpr u64 kLA = 0x0000'7F00'1234'5678ull;

Translation page(bool rw, bool us, bool xd = false, unsigned key = 0) {
  Translation t;
  t.page_pa = 0x1000;
  t.rw = rw;
  t.us = us;
  t.xd = xd;
  t.pkey = static_cast<unsigned char>(key);
  return t;
}
const Translation kUserRW = page(true, true);
const Translation kUserRO = page(false, true);
const Translation kSupRW = page(true, false);
const Translation kSupRO = page(false, false);

Access make(AccessType type, bool user, bool implicit = false, bool rmw = false) {
  Access a;
  a.la = kLA;
  a.type = type;
  a.user_mode = user;
  a.implicit = implicit;
  a.rmw = rmw;
  return a;
}
const Access kUserRead = make(AccessType::Read, true);
const Access kUserWrite = make(AccessType::Write, true);
const Access kUserFetch = make(AccessType::Fetch, true);
const Access kSupRead = make(AccessType::Read, false);
const Access kSupWrite = make(AccessType::Write, false);
const Access kSupFetch = make(AccessType::Fetch, false);
const Access kImplicitRead = make(AccessType::Read, false, /*implicit=*/true);
const Access kImplicitWrite = make(AccessType::Write, false, /*implicit=*/true);

u32 ad(unsigned key) { return 1u << (2 * key); }
u32 wd(unsigned key) { return 1u << (2 * key + 1); }

ControlRegs regs() { return ControlRegs{}; }  // WP=1, LMA=1, everything else off

// ---- access_error_bits (SDM §4.7) ----

TEST(ErrorBits, WriteAndUserBitsDescribeTheAccess_SDM4_7) {
  const ControlRegs cr = regs();
  EXPECT_EQ(access_error_bits(kSupRead, cr), 0u);
  EXPECT_EQ(access_error_bits(kSupWrite, cr), pf::W);
  EXPECT_EQ(access_error_bits(kUserRead, cr), pf::U);
  EXPECT_EQ(access_error_bits(kUserWrite, cr), pf::W | pf::U);
}

TEST(ErrorBits, RmwCountsAsWrite_SDM4_7) {
  EXPECT_EQ(access_error_bits(make(AccessType::Read, true, false, /*rmw=*/true), regs()),
            pf::W | pf::U);
}

TEST(ErrorBits, ImplicitAccessAtCpl3ReportsSupervisor_SDM4_6_2_2) {
  ControlRegs cr = regs();
  cr.cpl = 3;
  EXPECT_EQ(access_error_bits(kImplicitWrite, cr), pf::W);
}

TEST(ErrorBits, InstructionFetchBitOnlyWithNxeOrSmep_SDM4_7) {
  ControlRegs cr = regs();
  EXPECT_EQ(access_error_bits(kSupFetch, cr), 0u);
  EXPECT_EQ(access_error_bits(kUserFetch, cr), pf::U);
  cr.efer_nxe = true;
  EXPECT_EQ(access_error_bits(kSupFetch, cr), pf::ID);
  EXPECT_EQ(access_error_bits(kUserFetch, cr), pf::ID | pf::U);
  EXPECT_EQ(access_error_bits(kSupRead, cr), 0u);  // data accesses never get I/D
  cr.efer_nxe = false;
  cr.cr4_smep = true;
  EXPECT_EQ(access_error_bits(kSupFetch, cr), pf::ID);
  EXPECT_EQ(access_error_bits(kUserWrite, cr), pf::W | pf::U);
}

// ---- User / supervisor (SDM §4.6.1) ----

TEST(Rights, UserAccessToUserPagesFollowsReadWrite_SDM4_6_1) {
  const ControlRegs cr = regs();
  EXPECT_EQ(rights_violation(kUserRW, kUserRead, cr), 0u);
  EXPECT_EQ(rights_violation(kUserRW, kUserWrite, cr), 0u);
  EXPECT_EQ(rights_violation(kUserRO, kUserRead, cr), 0u);
  EXPECT_EQ(rights_violation(kUserRO, kUserWrite, cr), 0x07u);
}

TEST(Rights, UserAccessToSupervisorPageFaults_0x05_0x07_SDM4_6_1) {
  const ControlRegs cr = regs();
  EXPECT_EQ(rights_violation(kSupRW, kUserRead, cr), 0x05u);
  EXPECT_EQ(rights_violation(kSupRW, kUserWrite, cr), 0x07u);
  EXPECT_EQ(rights_violation(kSupRW, kUserFetch, cr), 0x05u);  // no I/D without NXE/SMEP
}

TEST(Rights, UserWriteToReadOnlyFaultsWhateverWp_SDM4_6_1) {
  ControlRegs cr = regs();
  cr.cr0_wp = false;
  EXPECT_EQ(rights_violation(kUserRO, kUserWrite, cr), 0x07u);
}

TEST(Rights, SupervisorReadsAreAllowedWithoutSmap_SDM4_6_1) {
  const ControlRegs cr = regs();
  for (const Translation& t : {kUserRW, kUserRO, kSupRW, kSupRO}) {
    EXPECT_EQ(rights_violation(t, kSupRead, cr), 0u);
    EXPECT_EQ(rights_violation(t, kImplicitRead, cr), 0u);
  }
}

TEST(Rights, SupervisorWriteToReadOnlyFaultsOnlyWithWp_SDM4_6_1) {
  ControlRegs cr = regs();
  EXPECT_EQ(rights_violation(kSupRO, kSupWrite, cr), 0x03u);
  EXPECT_EQ(rights_violation(kUserRO, kSupWrite, cr), 0x03u);
  EXPECT_EQ(rights_violation(kSupRW, kSupWrite, cr), 0u);
  cr.cr0_wp = false;
  EXPECT_EQ(rights_violation(kSupRO, kSupWrite, cr), 0u);
  EXPECT_EQ(rights_violation(kUserRO, kSupWrite, cr), 0u);
}

TEST(Rights, RmwToReadOnlyFaultsAsAWrite_SDM4_7) {
  const ControlRegs cr = regs();
  EXPECT_EQ(rights_violation(kUserRO, make(AccessType::Read, true, false, true), cr), 0x07u);
  EXPECT_EQ(rights_violation(kSupRO, make(AccessType::Read, false, false, true), cr), 0x03u);
}

TEST(Rights, ImplicitWriteToReadOnlyFaultsAsSupervisorWithWp_SDM4_6_1) {
  ControlRegs cr = regs();
  cr.cpl = 3;
  EXPECT_EQ(rights_violation(kSupRO, kImplicitWrite, cr), 0x03u);
  EXPECT_EQ(rights_violation(kSupRW, kImplicitWrite, cr), 0u);  // U/S=0 page is fine
}

// ---- Execute-disable (SDM §4.6.1) ----

TEST(Rights, ExecuteDisableForbidsFetchesOnlyWithNxe_SDM4_6_1) {
  ControlRegs cr = regs();
  const Translation user_xd = page(true, true, true);
  const Translation sup_xd = page(true, false, true);
  EXPECT_EQ(rights_violation(user_xd, kUserFetch, cr), 0u);  // XD means nothing with NXE=0
  cr.efer_nxe = true;
  EXPECT_EQ(rights_violation(user_xd, kUserFetch, cr), 0x15u);
  EXPECT_EQ(rights_violation(sup_xd, kSupFetch, cr), 0x11u);
  EXPECT_EQ(rights_violation(user_xd, kUserRead, cr), 0u);   // XD never affects data
  EXPECT_EQ(rights_violation(user_xd, kUserWrite, cr), 0u);
}

TEST(Rights, UserFetchOfSupervisorPageWithNxeSetsId_0x15_SDM4_7) {
  ControlRegs cr = regs();
  cr.efer_nxe = true;
  EXPECT_EQ(rights_violation(kSupRW, kUserFetch, cr), 0x15u);
}

TEST(Rights, FetchIgnoresReadWrite_SDM4_6_1) {
  ControlRegs cr = regs();
  cr.efer_nxe = true;
  EXPECT_EQ(rights_violation(kUserRO, kUserFetch, cr), 0u);
  EXPECT_EQ(rights_violation(kSupRO, kSupFetch, cr), 0u);
}

// ---- SMEP (SDM §4.6.1, x86-paging-semantics.md §2.5) ----

TEST(Smep, SupervisorFetchFromUserPageFaults_0x11_EvenWithoutNxe_SDM4_6_1) {
  ControlRegs cr = regs();
  cr.cr4_smep = true;
  EXPECT_EQ(rights_violation(kUserRW, kSupFetch, cr), 0x11u);
  cr.efer_nxe = true;
  EXPECT_EQ(rights_violation(kUserRW, kSupFetch, cr), 0x11u);
}

TEST(Smep, OffAllowsSupervisorFetchFromUserPage_SDM4_6_1) {
  EXPECT_EQ(rights_violation(kUserRW, kSupFetch, regs()), 0u);
}

TEST(Smep, DoesNotAffectSupervisorPagesUserFetchesOrData_SDM4_6_1) {
  ControlRegs cr = regs();
  cr.cr4_smep = true;
  EXPECT_EQ(rights_violation(kSupRW, kSupFetch, cr), 0u);
  EXPECT_EQ(rights_violation(kUserRW, kUserFetch, cr), 0u);
  EXPECT_EQ(rights_violation(kUserRW, kSupRead, cr), 0u);
  EXPECT_EQ(rights_violation(kUserRW, kSupWrite, cr), 0u);
}

TEST(Smep, AcDoesNotOverrideSmep_SDM4_6_1) {
  ControlRegs cr = regs();
  cr.cr4_smep = true;
  cr.rflags_ac = true;
  EXPECT_EQ(rights_violation(kUserRW, kSupFetch, cr), 0x11u);
}

// ---- SMAP (SDM §4.6.1, x86-paging-semantics.md §2.5) ----

TEST(Smap, SupervisorDataAccessToUserPageFaultsWithAc0_SDM4_6_1) {
  ControlRegs cr = regs();
  cr.cr4_smap = true;
  EXPECT_EQ(rights_violation(kUserRW, kSupRead, cr), 0x01u);
  EXPECT_EQ(rights_violation(kUserRW, kSupWrite, cr), 0x03u);
}

TEST(Smap, AcOneAllowsExplicitSupervisorAccesses_SDM4_6_1) {
  ControlRegs cr = regs();
  cr.cr4_smap = true;
  cr.rflags_ac = true;
  EXPECT_EQ(rights_violation(kUserRW, kSupRead, cr), 0u);
  EXPECT_EQ(rights_violation(kUserRW, kSupWrite, cr), 0u);
}

TEST(Smap, ImplicitAccessesIgnoreAc_BochsDivergenceD6_SDM4_6_1) {
  ControlRegs cr = regs();
  cr.cr4_smap = true;
  cr.rflags_ac = true;
  cr.cpl = 3;
  EXPECT_EQ(rights_violation(kUserRW, kImplicitRead, cr), 0x01u);  // U/S=0: the access is supervisor
  EXPECT_EQ(rights_violation(kUserRW, kImplicitWrite, cr), 0x03u);
  cr.cpl = 0;
  EXPECT_EQ(rights_violation(kUserRW, kImplicitRead, cr), 0x01u);
}

TEST(Smap, DoesNotAffectSupervisorPagesUserAccessesOrFetches_SDM4_6_1) {
  ControlRegs cr = regs();
  cr.cr4_smap = true;
  EXPECT_EQ(rights_violation(kSupRW, kSupRead, cr), 0u);
  EXPECT_EQ(rights_violation(kSupRW, kSupWrite, cr), 0u);
  EXPECT_EQ(rights_violation(kUserRW, kUserRead, cr), 0u);
  EXPECT_EQ(rights_violation(kUserRW, kUserWrite, cr), 0u);
  EXPECT_EQ(rights_violation(kUserRW, kSupFetch, cr), 0u);  // fetches are SMEP's business
}

TEST(Smap, StillFaultsReadsWithWpZero_KUT_check_smap_nowp_SDM4_6_1) {
  ControlRegs cr = regs();
  cr.cr4_smap = true;
  cr.cr0_wp = false;
  EXPECT_EQ(rights_violation(kUserRW, kSupRead, cr), 0x01u);
  EXPECT_EQ(rights_violation(kUserRO, kSupWrite, cr), 0x03u);
}

TEST(Smap, AcOverrideThenWpDecidesReadOnlyUserWrites_SDM4_6_1) {
  ControlRegs cr = regs();
  cr.cr4_smap = true;
  cr.rflags_ac = true;
  EXPECT_EQ(rights_violation(kUserRO, kSupWrite, cr), 0x03u);
  cr.cr0_wp = false;
  EXPECT_EQ(rights_violation(kUserRO, kSupWrite, cr), 0u);
}

// ---- Protection keys (SDM §4.6.2, x86-paging-semantics.md §2.4) ----

ControlRegs pke(u32 pkru) {
  ControlRegs cr = regs();
  cr.cr4_pke = true;
  cr.pkru = pkru;
  return cr;
}

TEST(Pkey, AccessDisableForbidsUserReadsAndWrites_0x25_0x27_SDM4_6_2) {
  const ControlRegs cr = pke(ad(3));
  const Translation t = page(true, true, false, 3);
  EXPECT_EQ(rights_violation(t, kUserRead, cr), 0x25u);
  EXPECT_EQ(rights_violation(t, kUserWrite, cr), 0x27u);
}

TEST(Pkey, WriteDisableForbidsOnlyWrites_SDM4_6_2) {
  const ControlRegs cr = pke(wd(3));
  const Translation t = page(true, true, false, 3);
  EXPECT_EQ(rights_violation(t, kUserRead, cr), 0u);
  EXPECT_EQ(rights_violation(t, kUserWrite, cr), 0x27u);
}

TEST(Pkey, OnlyThePagesKeyCounts_SDM4_6_2) {
  const ControlRegs cr = pke(ad(0) | wd(0) | ad(14) | wd(14));
  EXPECT_EQ(rights_violation(page(true, true, false, 15), kUserWrite, cr), 0u);
  EXPECT_EQ(rights_violation(page(true, true, false, 14), kUserRead, cr), 0x25u);
  const ControlRegs cr15 = pke(ad(15));  // bits 30/31
  EXPECT_EQ(rights_violation(page(true, true, false, 15), kUserRead, cr15), 0x25u);
  EXPECT_EQ(rights_violation(page(true, true, false, 7), kUserRead, cr15), 0u);
}

TEST(Pkey, AppliesToSupervisorAccessesOfUserPages_0x21_0x23_SDM4_6_2) {
  const ControlRegs cr = pke(ad(1));
  const Translation t = page(true, true, false, 1);
  EXPECT_EQ(rights_violation(t, kSupRead, cr), 0x21u);
  EXPECT_EQ(rights_violation(t, kSupWrite, cr), 0x23u);
  EXPECT_EQ(rights_violation(t, kImplicitRead, cr), 0x21u);
}

TEST(Pkey, WriteDisableBindsSupervisorWritesOnlyWithWp_SDM4_6_2) {
  ControlRegs cr = pke(wd(1));
  const Translation t = page(true, true, false, 1);
  EXPECT_EQ(rights_violation(t, kSupWrite, cr), 0x23u);
  cr.cr0_wp = false;
  EXPECT_EQ(rights_violation(t, kSupWrite, cr), 0u);
  EXPECT_EQ(rights_violation(t, kUserWrite, cr), 0x27u);  // user writes ignore WP
}

TEST(Pkey, NeverAppliesToSupervisorPages_BochsDivergenceD5_SDM4_6_2) {
  const ControlRegs cr = pke(ad(2) | wd(2));
  const Translation t = page(true, false, false, 2);
  EXPECT_EQ(rights_violation(t, kSupRead, cr), 0u);
  EXPECT_EQ(rights_violation(t, kSupWrite, cr), 0u);
  EXPECT_EQ(rights_violation(t, kUserRead, cr), 0x05u);  // U/S fault, no PK
}

TEST(Pkey, NeverAppliesToFetches_SDM4_6_2) {
  ControlRegs cr = pke(ad(4) | wd(4));
  cr.efer_nxe = true;
  const Translation t = page(true, true, false, 4);
  EXPECT_EQ(rights_violation(t, kUserFetch, cr), 0u);
  EXPECT_EQ(rights_violation(t, kSupFetch, cr), 0u);
}

TEST(Pkey, RequiresCr4PkeAndLongMode_SDM4_6_2) {
  ControlRegs cr = pke(ad(5));
  const Translation t = page(true, true, false, 5);
  cr.cr4_pke = false;
  EXPECT_EQ(rights_violation(t, kUserRead, cr), 0u);
  cr.cr4_pke = true;
  cr.efer_lma = false;
  EXPECT_EQ(rights_violation(t, kUserRead, cr), 0u);
  cr.efer_lma = true;
  EXPECT_EQ(rights_violation(t, kUserRead, cr), 0x25u);
}

TEST(Pkey, PkBitSetEvenWhenReadOnlyAlsoForbids_0x27_SDM4_7) {
  const ControlRegs cr = pke(wd(6));
  EXPECT_EQ(rights_violation(page(false, true, false, 6), kUserWrite, cr), 0x27u);
  const ControlRegs cr_ad = pke(ad(6));
  EXPECT_EQ(rights_violation(page(false, true, false, 6), kUserWrite, cr_ad), 0x27u);
}

TEST(Pkey, PkBitSetEvenWhenSmapAlsoForbids_SDM4_7) {
  ControlRegs cr = pke(ad(6));
  cr.cr4_smap = true;
  EXPECT_EQ(rights_violation(page(true, true, false, 6), kSupRead, cr), 0x21u);
}

TEST(Pkey, NoPkBitWhenOnlyAnotherRuleForbids_SDM4_7) {
  // WD leaves reads alone, even of a read-only page.
  EXPECT_EQ(rights_violation(page(false, true, false, 6), kUserRead, pke(wd(6))), 0u);
  // Only another key is disabled: the R/W violation alone, without PK.
  EXPECT_EQ(rights_violation(page(false, true, false, 6), kUserWrite, pke(ad(7))), 0x07u);
}

TEST(Pkey, PkeyForbidsHelperMatchesTheRules_SDM4_6_2) {
  const ControlRegs cr = pke(wd(9));
  EXPECT_TRUE(pkey_forbids(page(true, true, false, 9), kUserWrite, cr));
  EXPECT_FALSE(pkey_forbids(page(true, true, false, 9), kUserRead, cr));
  EXPECT_FALSE(pkey_forbids(page(true, false, false, 9), kUserWrite, cr));
}

TEST(Rights, PageFaultHelperCarriesVector14AndCr2_SDM6_15) {
  const Fault f = page_fault(0x07, kLA);
  EXPECT_EQ(f.vector, Vector::PF);
  EXPECT_EQ(f.error_code, 0x07u);
  EXPECT_EQ(f.cr2, kLA);
  EXPECT_TRUE(static_cast<bool>(f));
}

}  // namespace
