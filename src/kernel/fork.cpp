// fork's address-space copy: dup_mmap (mm/mmap.c, kernel/fork.c before 6.15) and
// copy_page_range → copy_pte_range → copy_present_ptes (mm/memory.c), which make
// private anonymous pages copy-on-write in both processes.
#include <map>

#include "kernel/huge_memory.hpp"
#include "kernel/internal.hpp"

namespace mmusim::kernel {

namespace {

// vma_needs_copy: only a VMA that ever had a private page (anon_vma) gets its PTEs
// copied. Shared mappings, and private ones that were only read (zero page),
// are refaulted lazily by the child instead.
bool vma_needs_copy(const Vma& src) { return src.anon_vma != nullptr; }

// copy_present_ptes / __copy_present_ptes for one present PTE.
void copy_present_pte(KernelState& k, const Vma& src_vma, Mm& dst_mm, u64 src_pte_pa, u64 pte, u64 dst_pte_pa,
                      Recorder& r) {
  if (!pte_special(pte)) {  // vm_normal_page: the zero page has no struct page
    const u64 pfn = pte_pfn(pte);
    Page& p = k.frames.page(pfn);
    k.frames.get(pfn);                   // folio_get (the head's, for a page of a THP)
    folio_add_rmap_pte(k, dst_mm, pfn);  // folio_try_dup_anon_rmap_pte / folio_dup_file_rmap_pte
    if (p.anon) {
      // No page is ever pinned for DMA here, so the -EBUSY eager copy never
      // happens: the page just stops being exclusive to the parent.
      p.anon_exclusive = false;
    }
    // A page-cache page of a private file mapping with an anon_vma is copied too
    // (folio_dup_file_rmap_pte); its PTE is never writable, so nothing to protect.
    ++mm_counter(dst_mm, p);
  }
  if (src_vma.is_cow_mapping() && pte_write(pte)) {
    // Both sides lose RW: the first writer takes do_wp_page. The parent's old
    // writable TLB entries go with dup_mmap's flush_tlb_mm.
    k.mem.write64(src_pte_pa, pte_wrprotect(pte));
    pte = pte_wrprotect(pte);
  }
  if (src_vma.vm_flags & VM_SHARED) pte = pte_mkclean(pte);
  pte = pte_mkold(pte);
  k.mem.write64(dst_pte_pa, pte);
  charge(r, Step::fork_per_pte);
}

// copy_page_range for one VMA; false if a page table could not be allocated.
bool copy_page_range(KernelState& k, Mm& src_mm, Mm& dst_mm, const Vma& src_vma, Recorder& r) {
  // copy_pmd_range: THP leaves go to copy_huge_pmd; walk_ptes steps over them.
  if (!copy_huge_pmds(k, src_mm, dst_mm, src_vma, r)) return false;
  bool ok = true;
  walk_ptes(k.mem, src_mm, src_vma.vm_start, src_vma.vm_end, [&](u64 addr, u64 src_pte_pa, u64 pte) {
    if (!ok) return;
    // Non-present entries (swap, migration) are never created, so every non-none
    // PTE is present or PROT_NONE, and both count as present.
    if (!pte_present(pte)) return;
    auto dst_pte_pa = pte_alloc_walk(k, dst_mm, addr, r);
    if (!dst_pte_pa) {
      ok = false;
      return;
    }
    copy_present_pte(k, src_vma, dst_mm, src_pte_pa, pte, *dst_pte_pa, r);
  });
  return ok;
}

}  // namespace

bool dup_mmap(KernelState& k, Mm& parent, Mm& child, Recorder& r) {
  // anon_vma_fork: the child's VMAs get anon_vmas of their own; pieces of one
  // parent anon_vma stay together so they can still merge in the child.
  std::map<const AnonVma*, std::shared_ptr<AnonVma>> anon_map;
  bool ok = true;
  for (const auto& [start, vma] : parent.vmas()) {
    Vma copy = vma;  // vm_area_dup
    if (vma.anon_vma) {
      auto& mapped = anon_map[vma.anon_vma.get()];
      if (!mapped) mapped = k.new_anon_vma();
      copy.anon_vma = mapped;
    }
    child.insert_vma(std::move(copy));
    if (!vma_needs_copy(vma)) continue;
    if (!copy_page_range(k, parent, child, vma, r)) {
      ok = false;
      break;
    }
  }
  // One flush of the whole parent mm, whatever was write-protected.
  flush_tlb_mm(k.tlb, parent, r);
  return ok;
}

}  // namespace mmusim::kernel
