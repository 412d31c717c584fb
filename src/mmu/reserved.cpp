#include "mmu/reserved.hpp"

namespace mmusim::mmu {

namespace {
constexpr u64 bits(unsigned hi, unsigned lo) { return ((~0ull) >> (63 - hi)) & ~((1ull << lo) - 1); }
}  // namespace

u64 above_maxphyaddr_mask(unsigned maxphyaddr) {
  // SDM §4.5: IA-32e entries hold at most 52 physical-address bits; bits 51:M are
  // reserved. Bits 62:52 are ignored (62:59 are the protection key of a leaf).
  if (maxphyaddr >= 52) return 0;
  return bits(51, maxphyaddr < 12 ? 12 : maxphyaddr);
}

u64 reserved_mask(Level level, u64 entry, const ControlRegs& cr) {
  u64 mask = above_maxphyaddr_mask(cr.maxphyaddr);
  // SDM §4.5: with EFER.NXE=0 bit 63 is reserved rather than execute-disable.
  if (!cr.efer_nxe) mask |= bit::XD;
  switch (level) {
    case Level::PML5E:
    case Level::PML4E:
      // SDM Table 4-14/4-15: no large pages at these levels; PS must be 0.
      mask |= bit::PS;
      break;
    case Level::PDPTE:
      // SDM Table 4-16: a 1 GiB frame starts at bit 30; bit 12 is PAT.
      if (entry & bit::PS) mask |= bits(29, 13);
      break;
    case Level::PDE:
      // SDM Table 4-18: a 2 MiB frame starts at bit 21; bit 12 is PAT.
      if (entry & bit::PS) mask |= bits(20, 13);
      break;
    case Level::PTE:
      // SDM Table 4-20: bit 7 is PAT, not PS; nothing more is reserved.
      break;
  }
  return mask;
}

}  // namespace mmusim::mmu
