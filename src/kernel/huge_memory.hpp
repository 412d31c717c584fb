// Transparent huge pages for anonymous memory, after mm/huge_memory.c: 2 MiB
// folios mapped by one PDE leaf (PS=1), the huge zero page, their fork, their
// write faults (reuse, or split the PMD and fall back to 4 KiB COW), and the PMD
// split every range operation needs when it cuts a THP. Also the rmap counts of
// large folios (mm/rmap.c, include/linux/rmap.h) the 4 KiB paths share.
//
// Hooks: __handle_mm_fault calls huge_pmd_fault between pmd_alloc and
// handle_pte_fault; zap_pte_range, change_protection, copy_page_range and GUP
// deal with trans-huge PMDs through the functions below first, because walk_ptes
// steps over them. Range operations that cut VMAs call split_huge_pmd_if_needed.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kernel/internal.hpp"

namespace mmusim::kernel {

inline constexpr unsigned HPAGE_PMD_ORDER = 9;
inline constexpr u64 HPAGE_PMD_NR = 1ull << HPAGE_PMD_ORDER;
inline constexpr u64 HPAGE_PMD_SIZE = HPAGE_PMD_NR << kPageShift;
inline constexpr u64 HPAGE_PMD_MASK = ~(HPAGE_PMD_SIZE - 1);

// VM_FAULT_FALLBACK (include/linux/mm_types.h): the PMD level could not resolve
// the fault; it goes on at PTE level.
inline constexpr vm_fault_t VM_FAULT_FALLBACK = 0x000800;

// pmd_trans_huge on x86: a PDE leaf (PS), present or PROT_NONE (pmd_present is
// P | PROTNONE | PSE). PROT_NONE leaves are not present to the hardware.
constexpr bool pmd_trans_huge(u64 pmd) { return (pmd & bit::PS) && (pmd & (bit::P | _PAGE_PROTNONE)); }

// The PMD entry of addr if it is a trans-huge leaf (no allocation).
std::optional<u64> huge_pmd_lookup(const hw::SparseMemory& mem, const Mm& mm, u64 addr);

// thp_vma_allowable_order(vma, TVA_PAGEFAULT, PMD_ORDER) with
// thp_vma_suitable_order: an anonymous private VMA, no VM_NOHUGEPAGE, the policy
// (kernel.thp: always; madvise and VM_HUGEPAGE; never), and the 2 MiB-aligned
// range around addr wholly inside the VMA.
bool thp_vma_allowable_order(const KernelState& k, const Vma& vma, u64 addr);

// ---- fault path ----
// The PMD level of __handle_mm_fault for vmf.pmd_pa: create_huge_pmd if the PMD is
// none and a THP is allowed; on a trans-huge PMD, wp_huge_pmd for a write to a
// read-only one, else huge_pmd_set_accessed. VM_FAULT_FALLBACK: go on with
// handle_pte_fault (the PMD is none, or was split just now).
vm_fault_t huge_pmd_fault(VmFault& vmf, Recorder& r);

// ---- range operations on trans-huge PMDs ----
// split_huge_pmd_if_needed (vma_adjust_trans_huge): before a VMA is cut at addr,
// split the THP that straddles it, if any (__split_vma does this in Linux).
void split_huge_pmd_if_needed(KernelState& k, Mm& mm, u64 addr, Recorder& r);
// zap_pmd_range's THP part for [start, end): a THP wholly inside is unmapped
// (zap_huge_pmd; the folio goes to `tlb`, its deposited table is freed), one
// partly inside is split so zap_pte_range's PTE walk takes its part.
void zap_huge_pmds(KernelState& k, Mm& mm, u64 start, u64 end, MmuGather& tlb, Recorder& r);
// change_pmd_range's THP part for a VMA whose vm_flags just changed:
// change_huge_pmd with the new vm_page_prot, writable again only if exclusive.
void change_huge_pmds(KernelState& k, Mm& mm, const Vma& vma, MmuGather& tlb, Recorder& r);
// copy_pmd_range's THP part at fork: copy_huge_pmd for every trans-huge PMD of the
// VMA (both write-protected, the folio shared). False if out of frames.
bool copy_huge_pmds(KernelState& k, Mm& src_mm, Mm& dst_mm, const Vma& vma, Recorder& r);

// ---- rmap of PTE mappings (mm/rmap.c), order-0 and large folios alike ----
// folio_dup_*_rmap_pte / folio_add_anon_rmap_pte: one more PTE maps `pfn` in `mm`.
void folio_add_rmap_pte(KernelState& k, const Mm& mm, u64 pfn);
// folio_remove_rmap_pte: one PTE of `mm` no longer maps `pfn`.
void folio_remove_rmap_pte(KernelState& k, const Mm& mm, u64 pfn);
// __wp_can_reuse_large_anon_folio: a write to a read-only PTE of a large anonymous
// folio may keep the page iff every reference is a mapping of this one mm.
bool wp_can_reuse_large_anon_folio(const KernelState& k, u64 pfn);

// ---- invariant checking (invariants.cpp) ----
// Collects what the page tables say about THPs and large folios, then checks the
// folios' counts against it.
class ThpChecker {
 public:
  explicit ThpChecker(const KernelState& k) : k_(k) {}
  // A trans-huge PMD of `mm` at haddr; adds its 512 pages to `anon` (MM_ANONPAGES).
  void pmd(const Mm& mm, u64 haddr, u64 pmd, u64& anon, std::vector<std::string>& errors);
  // A PTE of `mm` mapping a page of a large folio.
  void pte(const Mm& mm, u64 pfn);
  // mm's deposited tables: each under a trans-huge PMD, and empty. (The caller
  // counts them as page tables.)
  void deposits(const Mm& mm, std::vector<std::string>& errors);
  // For every allocated frame: true if it is a THP or huge-zero frame, checked here
  // (`pte_maps`: the PTEs that map it); false leaves the frame to the caller.
  bool frame(u64 pfn, const Page& p, u64 pte_maps, std::vector<std::string>& errors);

 private:
  struct Seen {
    u64 pmds = 0;                    // PMD mappings of the folio
    u64 ptes = 0;                    // PTE mappings of any of its pages
    std::map<u64, u64> by_mm;        // mm id → mappings (PMD or PTE)
  };
  const KernelState& k_;
  std::map<u64, Seen> seen_;         // by head pfn
};

}  // namespace mmusim::kernel
