// Access-rights rules of IA-32e paging as pure functions: the canonical check, the
// access-rights check over a translation's combined rights, and the #PF error code
// (Intel SDM Vol. 3A §4.5, §4.6, §4.7, §6.15; ../shared/reference/x86-paging-semantics.md
// §1.2, §2, §3, §5.1 step 4).
//
// They take the raw combined rights of a Translation and the current control
// registers, so one cached translation is re-evaluated on every use: CR0.WP, RFLAGS.AC
// and PKRU changes need no TLB invalidation (SDM §4.10.2.2).
//
// Not modelled: CR4.PKS / IA32_PKRS (ControlRegs has no such state), so supervisor-mode
// addresses are never subject to a key check; shadow-stack (SS) and HLAT error bits.
#pragma once

#include <optional>

#include "mmu/types.hpp"

namespace mmusim::mmu {

// #GP(0), or #SS(0) for a stack reference, when `a.la` is not canonical for the current
// paging mode (SDM §4.5, §6.15). Error code 0 and cr2 0: CR2 is not loaded for these
// vectors. Empty if the address is canonical. The caller runs this before any TLB
// lookup or walk, so a non-canonical address never touches paging structures.
std::optional<Fault> check_canonical(const Access& a, const ControlRegs& cr);

// The W/R, U/S and I/D error-code bits that describe the access itself (SDM §4.7):
// W if a write or a locked RMW, U if a user-mode access, I/D iff an instruction fetch
// and (CR4.SMEP or EFER.NXE). Common to not-present, RSVD and protection faults.
u32 access_error_bits(const Access& a, const ControlRegs& cr);

// True if the protection-key check alone forbids the access (SDM §4.6.2): a data
// access to a user-mode address with CR4.PKE and EFER.LMA, whose key has AD set, or
// WD set for a write that is user-mode or done with CR0.WP=1.
bool pkey_forbids(const Translation& t, const Access& a, const ControlRegs& cr);

// 0 if the combined rights of `t` allow the access under the current control registers
// (SDM §4.6.1, §4.6.2); otherwise the complete #PF error code: P | access_error_bits,
// plus PK whenever pkey_forbids() holds, even if another violation also applies.
u32 rights_violation(const Translation& t, const Access& a, const ControlRegs& cr);

// A #PF with `error_code`; CR2 is the faulting linear address (SDM §6.15, vector 14).
inline Fault page_fault(u32 error_code, u64 la) { return Fault{Vector::PF, error_code, la}; }

}  // namespace mmusim::mmu
