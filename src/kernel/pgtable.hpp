// Page tables as the x86 kernel keeps them (arch/x86/include/asm/pgtable*.h,
// include/linux/pgtable.h): real 8-byte entries in simulated physical memory,
// 4-level (the p4d level is folded, as without LA57), allocated lazily per level.
#pragma once

#include <cstdint>
#include <optional>

#include "hw/sparse_memory.hpp"
#include "mmu/pte.hpp"

namespace mmusim::kernel {

using u64 = std::uint64_t;
namespace bit = mmu::bit;

class Mm;
class Recorder;
struct KernelState;

// _PAGE_PROTNONE (pgtable_types.h): the global bit, meaningful only when P = 0.
// The hardware sees a not-present entry; Linux still counts it as pte_present.
inline constexpr u64 _PAGE_PROTNONE = bit::G;
inline constexpr u64 _PAGE_SPECIAL = bit::SOFTW1;   // zero page: no struct page behind it
inline constexpr u64 kPtePfnMask = 0x000FFFFFFFFFF000ull;  // PTE_PFN_MASK (bits 51:12)
// _PAGE_TABLE: what a non-leaf user entry holds (P|RW|US|A|D); rights are decided
// at the leaf only.
inline constexpr u64 _PAGE_TABLE = bit::P | bit::RW | bit::US | bit::A | bit::D;
// pte_modify keeps these (_PAGE_CHG_MASK): the frame, caching, special, A, D.
inline constexpr u64 _PAGE_CHG_MASK =
    kPtePfnMask | bit::PWT | bit::PCD | _PAGE_SPECIAL | bit::A | bit::D | bit::SOFTW3;

constexpr u64 pte_pfn(u64 pte) { return (pte & kPtePfnMask) >> 12; }
constexpr u64 pfn_pte(u64 pfn, u64 prot) { return ((pfn << 12) & kPtePfnMask) | prot; }
constexpr bool pte_none(u64 pte) { return pte == 0; }
// x86 pte_present: P or PROTNONE.
constexpr bool pte_present(u64 pte) { return (pte & (bit::P | _PAGE_PROTNONE)) != 0; }
constexpr bool pte_protnone(u64 pte) { return (pte & (bit::P | _PAGE_PROTNONE)) == _PAGE_PROTNONE; }
constexpr bool pte_write(u64 pte) { return (pte & bit::RW) != 0; }
constexpr bool pte_dirty(u64 pte) { return (pte & bit::D) != 0; }
constexpr bool pte_young(u64 pte) { return (pte & bit::A) != 0; }
constexpr bool pte_special(u64 pte) { return (pte & _PAGE_SPECIAL) != 0; }
constexpr bool pte_exec(u64 pte) { return (pte & bit::XD) == 0; }
constexpr u64 pte_mkwrite(u64 pte) { return pte | bit::RW; }
constexpr u64 pte_wrprotect(u64 pte) { return pte & ~bit::RW; }
constexpr u64 pte_mkdirty(u64 pte) { return pte | bit::D; }
constexpr u64 pte_mkclean(u64 pte) { return pte & ~bit::D; }
constexpr u64 pte_mkyoung(u64 pte) { return pte | bit::A; }
constexpr u64 pte_mkold(u64 pte) { return pte & ~bit::A; }
constexpr u64 pte_mkspecial(u64 pte) { return pte | _PAGE_SPECIAL; }
// pte_modify: new protection, same frame and A/D.
constexpr u64 pte_modify(u64 pte, u64 newprot) { return (pte & _PAGE_CHG_MASK) | (newprot & ~_PAGE_CHG_MASK); }
// maybe_mkwrite: writable only if the VMA is.
u64 maybe_mkwrite(u64 pte, u64 vm_flags);

// vm_get_page_prot: x86 protection_map (arch/x86/mm/pgprot.c). A private mapping
// never gets RW (PAGE_COPY: writes must fault for COW); a shared writable one does
// (PAGE_SHARED). No exec → XD (the core runs with EFER.NXE=1). A is preset
// (___A in every PAGE_*); PROT_NONE is PAGE_NONE = PROTNONE|A, not present.
u64 vm_get_page_prot(u64 vm_flags);

// x86 pte_flags_need_flush (asm/tlbflush.h): does old → new require a TLB flush?
bool pte_flags_need_flush(u64 oldpte, u64 newpte);

// Physical address of the entry for `addr` in the table at frame `table_pfn`.
inline u64 table_entry_pa(u64 table_pfn, u64 addr, mmu::Level level) {
  return mmu::entry_address(table_pfn << 12, addr, level);
}

// pgd_offset: the PML4E of addr.
u64 pgd_offset(const Mm& mm, u64 addr);
// pud_alloc / pmd_alloc: the entry of the next level for addr, allocating the
// table it lives in when the upper entry is none; nothing when out of frames.
// Each table allocated charges pgtable_alloc.
std::optional<u64> pud_alloc(KernelState& k, Mm& mm, u64 pgd_pa, u64 addr, Recorder& r);
std::optional<u64> pmd_alloc(KernelState& k, Mm& mm, u64 pud_pa, u64 addr, Recorder& r);
// pte_alloc + pte_offset_map: the PTE of addr, allocating the PTE table if the
// PMD entry is none.
std::optional<u64> pte_alloc(KernelState& k, Mm& mm, u64 pmd_pa, u64 addr, Recorder& r);
// Walks pgd → pud → pmd → pte, allocating as needed.
std::optional<u64> pte_alloc_walk(KernelState& k, Mm& mm, u64 addr, Recorder& r);
// The PTE of addr if its table exists (no allocation), else nothing; nothing too
// under a 2 MiB leaf (huge_pmd_lookup finds that).
std::optional<u64> pte_lookup(const hw::SparseMemory& mem, const Mm& mm, u64 addr);
// The PMD entry of addr if the PMD table exists.
std::optional<u64> pmd_lookup(const hw::SparseMemory& mem, const Mm& mm, u64 addr);

// Calls fn(addr, pte_pa, pte) for every non-none PTE of [start, end), in address
// order, visiting only tables that exist. 2 MiB leaves (THPs) are stepped over.
template <class Fn>
void walk_ptes(const hw::SparseMemory& mem, const Mm& mm, u64 start, u64 end, Fn&& fn);

// free_pgtables (mm/memory.c free_pgd_range): frees the PTE, PMD and PUD tables
// whose whole span lies in no VMA, for spans meeting [start, end). Returns how
// many were freed.
u64 free_pgtables(KernelState& k, Mm& mm, u64 start, u64 end);
// Frees every table below the PGD and the PGD itself (exit_mmap, pgd_free).
void free_all_pgtables(KernelState& k, Mm& mm);

u64 mm_pgd_pfn(const Mm& mm);

// ---- implementation of the template ----
template <class Fn>
void walk_ptes(const hw::SparseMemory& mem, const Mm& mm, u64 start, u64 end, Fn&& fn) {
  using mmu::Level;
  constexpr u64 kPud = 1ull << 39, kPmd = 1ull << 30, kPt = 1ull << 21;
  const u64 pgd_pfn = mm_pgd_pfn(mm);
  u64 addr = start;
  while (addr < end) {
    const u64 pgde = mem.read64(table_entry_pa(pgd_pfn, addr, Level::PML4E));
    if (!(pgde & bit::P)) { addr = (addr & ~(kPud - 1)) + kPud; continue; }
    const u64 pude = mem.read64(table_entry_pa(pte_pfn(pgde), addr, Level::PDPTE));
    if (!(pude & bit::P)) { addr = (addr & ~(kPmd - 1)) + kPmd; continue; }
    const u64 pmde = mem.read64(table_entry_pa(pte_pfn(pude), addr, Level::PDE));
    // A 2 MiB leaf (a THP) has no PTEs: callers deal with it first (huge_memory.hpp).
    if (!(pmde & bit::P) || (pmde & bit::PS)) { addr = (addr & ~(kPt - 1)) + kPt; continue; }
    const u64 pt_pfn = pte_pfn(pmde);
    const u64 table_end = (addr & ~(kPt - 1)) + kPt;
    const u64 stop = table_end < end ? table_end : end;
    for (; addr < stop; addr += 4096) {
      const u64 pa = table_entry_pa(pt_pfn, addr, Level::PTE);
      const u64 pte = mem.read64(pa);
      if (!pte_none(pte)) fn(addr, pa, pte);
    }
  }
}

}  // namespace mmusim::kernel
