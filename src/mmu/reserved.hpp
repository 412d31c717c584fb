// Reserved bits of IA-32e paging-structure entries (Intel SDM Vol. 3A §4.5 Tables
// 4-15..4-20, §4.7; ../shared/reference/x86-paging-semantics.md §1.3, §1.4).
//
// Reserved bits matter only in an entry with P=1: a non-present entry faults as
// not-present whatever else it holds (SDM §4.7), so callers test P first.
#pragma once

#include "mmu/types.hpp"

namespace mmusim::mmu {

// True if a present entry at `level` maps a page rather than referencing a table:
// every PTE, and a PDE or PDPTE with PS=1. PTE bit 7 is PAT, not PS; PS in a PML4E or
// PML5E is reserved (reserved_mask), never a leaf. 1 GiB pages are assumed supported
// (CPUID.80000001H:EDX[26], x86-paging-semantics.md §1.3).
constexpr bool is_leaf(Level level, u64 entry) {
  return level == Level::PTE ||
         ((level == Level::PDE || level == Level::PDPTE) && (entry & bit::PS) != 0);
}

// Size of the page a leaf at `level` maps.
constexpr PageSize leaf_page_size(Level level) {
  return level == Level::PDPTE ? PageSize::Size1G
         : level == Level::PDE ? PageSize::Size2M
                               : PageSize::Size4K;
}

// Bits 51:M, the physical-address bits beyond MAXPHYADDR (0 if M >= 52).
u64 above_maxphyaddr_mask(unsigned maxphyaddr);

// Reserved-bit mask of a PRESENT entry at `level` (x86-paging-semantics.md §1.4):
//   bits 51:M; bit 63 (XD) unless EFER.NXE; bit 7 (PS) at PML5E/PML4E;
//   bits 29:13 of a 1 GiB leaf, bits 20:13 of a 2 MiB leaf (alignment).
// Bit 12 of a large leaf is PAT and is not reserved. `entry` supplies PS.
u64 reserved_mask(Level level, u64 entry, const ControlRegs& cr);

}  // namespace mmusim::mmu
