#include "mmu/rights.hpp"

namespace mmusim::mmu {

std::optional<Fault> check_canonical(const Access& a, const ControlRegs& cr) {
  if (is_canonical(a.la, cr.cr4_la57)) return std::nullopt;
  // SDM §6.15 (#SS, #GP): references through SS raise #SS(0), all others #GP(0).
  // cr2 stays 0 because neither vector loads CR2 (x86-paging-semantics.md §1.2, D2).
  return Fault{a.stack ? Vector::SS : Vector::GP, 0, 0};
}

u32 access_error_bits(const Access& a, const ControlRegs& cr) {
  u32 ec = 0;
  // SDM §4.7: an RMW is reported as a write even if the fault hits its read half.
  if (a.is_write()) ec |= pf::W;
  // SDM §4.7: U/S describes the access (CPL=3 and not implicit), not the page.
  if (a.user_mode) ec |= pf::U;
  // SDM §4.7: I/D is reported only if SMEP or (PAE and NXE); PAE=1 in IA-32e mode.
  if (a.is_fetch() && (cr.cr4_smep || cr.efer_nxe)) ec |= pf::ID;
  return ec;
}

bool pkey_forbids(const Translation& t, const Access& a, const ControlRegs& cr) {
  // SDM §4.6.2: PKRU governs user-mode addresses only (whatever the CPL of the
  // access), data accesses only, and only in IA-32e mode with CR4.PKE=1.
  if (!cr.cr4_pke || !cr.efer_lma || a.is_fetch() || !t.us) return false;
  const unsigned key = t.pkey & 0xF;
  const bool ad = (cr.pkru >> (2 * key)) & 1u;
  const bool wd = (cr.pkru >> (2 * key + 1)) & 1u;
  if (ad) return true;
  // WD binds supervisor writes only when CR0.WP=1, as read-only pages do.
  return a.is_write() && wd && (a.user_mode || cr.cr0_wp);
}

u32 rights_violation(const Translation& t, const Access& a, const ControlRegs& cr) {
  const bool user_access = a.user_mode;
  const bool user_address = t.us;  // supervisor-mode address if any level had U/S=0
  const bool write = a.is_write();
  const bool fetch = a.is_fetch();

  // The five independent rules of x86-paging-semantics.md §5.1 step 4 (SDM §4.6.1).
  // All produce P=1 with the same W/U/ID bits, so their order does not matter.
  bool violation = false;
  // (a) User-mode accesses may reach only user-mode addresses.
  if (user_access && !user_address) violation = true;
  // (b) Execute-disable is meaningful only with EFER.NXE=1.
  if (fetch && cr.efer_nxe && t.xd) violation = true;
  // (c) SMEP: no supervisor fetch from a user-mode address, whatever the XD bits.
  if (fetch && !user_access && cr.cr4_smep && user_address) violation = true;
  // (d) SMAP: supervisor data accesses to user-mode addresses are allowed only for an
  //     explicit access with CPL<3 and RFLAGS.AC=1. A supervisor explicit access has
  //     CPL<3 by construction of Access::user_mode; implicit ones ignore AC.
  if (!fetch && !user_access && cr.cr4_smap && user_address) {
    const bool ac_override = !a.implicit && cr.rflags_ac;
    if (!ac_override) violation = true;
  }
  // (e) Read-only: user writes always need R/W=1; supervisor writes only with CR0.WP=1
  //     (with WP=0 they succeed and the walker sets D, SDM §4.6.1, §4.8).
  if (write && !t.rw && (user_access || cr.cr0_wp)) violation = true;

  // (f) SDM §4.7: PK is set whenever the key check forbids the access, even when
  //     another rule above also does.
  const bool pk = pkey_forbids(t, a, cr);
  if (!violation && !pk) return 0;
  return pf::P | access_error_bits(a, cr) | (pk ? pf::PK : 0u);
}

}  // namespace mmusim::mmu
