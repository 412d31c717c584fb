// A missing PTE in a VMA backed by a file or by shmem, after mm/memory.c:
// do_fault → do_read_fault (with do_fault_around), do_cow_fault (the first touch
// of a private file page is a write: copy it) and do_shared_fault (a write to a
// shared one: dirty it), each ending in __do_fault (vm_ops->fault) and
// finish_fault. Counts follow linux-fault-path.md §1.7 and §4.4: with order-0
// folios a read sweep takes one fault per fault-around window, every write fault
// maps one page.
#include <algorithm>

#include "kernel/filemap.hpp"
#include "mmu/types.hpp"

namespace mmusim::kernel {

void set_pte_range(VmFault& vmf, u64 pte_pa, u64 pfn, bool write) {
  KernelState& k = vmf.k;
  Page& p = k.frames.page(pfn);
  u64 entry = pfn_pte(pfn, vma_page_prot(vmf.vma));  // A is preset in every PAGE_*
  if (write)
    entry = maybe_mkwrite(pte_mkdirty(entry), vmf.vma.vm_flags);
  else if (pte_write(entry) && p.dirty)
    entry = pte_mkdirty(entry);
  ++p.refcount;  // folio_ref_add: the mapping's reference
  ++p.mapcount;  // folio_add_file_rmap_ptes
  ++mm_counter(vmf.mm, p);
  k.mem.write64(pte_pa, entry);  // set_ptes
}

namespace {

constexpr u64 kPtrsPerPte = mmu::kEntriesPerTable;

// pte_index: the slot of addr in its PTE table.
u64 pte_index(u64 addr) { return (addr >> kPageShift) & (kPtrsPerPte - 1); }

// __do_fault: vm_ops->fault finds (or, for shmem, allocates) the page.
vm_fault_t __do_fault(VmFault& vmf, u64& pfn, Recorder& r) {
  KernelFunction f(r, "__do_fault");
  return filemap_fault(vmf, pfn, r);
}

// finish_fault for page-cache page `pfn` (not a COW copy): since 6.18
// (19773df031bc) the whole folio is mapped when it lies inside the VMA and the PTE
// table and none of its PTEs is set yet (else needs_fallback: this page alone).
// A write maps it writable and dirty, a read with vm_page_prot.
vm_fault_t finish_fault(VmFault& vmf, u64 pfn, Recorder& r) {
  KernelState& k = vmf.k;
  auto pte_pa = vmf_pte_alloc(vmf, r);
  if (!pte_pa) return VM_FAULT_OOM;
  const Vma& vma = vmf.vma;
  File& f = *vma.vm_file;
  const FolioRange folio = folio_range(k, f, vmf.pgoff);
  u64 first = vmf.pgoff, nr = 1;
  if (folio.nr > 1) {
    const u64 idx = vmf.pgoff - folio.index;       // folio_page_idx
    const u64 vma_off = vmf.pgoff - vma.vm_pgoff;  // page offset of the fault in the VMA
    const u64 pte_off = pte_index(vmf.address);
    bool fits = vma_off >= idx && vma_off + (folio.nr - idx) <= vma.pages() && pte_off >= idx &&
                pte_off + (folio.nr - idx) <= kPtrsPerPte;
    // pte_range_none over the folio's PTEs.
    for (u64 i = 0; fits && i < folio.nr; ++i)
      fits = pte_none(k.mem.read64(*pte_pa + 8 * i - 8 * idx));
    if (fits) {
      first = folio.index;
      nr = folio.nr;
    }
  }
  const u64 first_pa = *pte_pa - 8 * (vmf.pgoff - first);
  for (u64 i = 0; i < nr; ++i) set_pte_range(vmf, first_pa + 8 * i, nr == 1 ? pfn : f.pages.at(first + i), vmf.write());
  charge(r, Step::rmap_update, nr);
  charge(r, Step::pte_update, nr);
  vmf.res = Resolution::PageCache;
  return 0;
}

// do_fault_around: the window of kernel.fault_around_pages PTEs around the fault,
// aligned down to its size and clamped to the VMA and to the PTE table; map_pages
// clamps it to EOF too.
vm_fault_t do_fault_around(VmFault& vmf, Recorder& r) {
  KernelFunction f(r, "do_fault_around");
  const u64 nr_pages = vmf.k.cfg.kernel.fault_around_pages;
  const u64 pte_off = pte_index(vmf.address);
  const u64 vma_off = vmf.pgoff - vmf.vma.vm_pgoff;
  const u64 from_pte = std::max(pte_off & ~(nr_pages - 1), pte_off - std::min(pte_off, vma_off));
  const u64 to_pte = std::min({from_pte + nr_pages, kPtrsPerPte, pte_off + vmf.vma.pages() - vma_off}) - 1;
  if (!vmf_pte_alloc(vmf, r)) return VM_FAULT_OOM;
  if (filemap_map_pages(vmf, vmf.pgoff + from_pte - pte_off, vmf.pgoff + to_pte - pte_off, r)) {
    vmf.res = Resolution::PageCache;
    return VM_FAULT_NOPAGE;
  }
  return 0;
}

vm_fault_t do_read_fault(VmFault& vmf, Recorder& r) {
  KernelFunction f(r, "do_read_fault");
  // should_fault_around: files and shmem have ->map_pages; fault_around_pages 1
  // turns it off.
  if (vmf.k.cfg.kernel.fault_around_pages > 1)
    if (vm_fault_t ret = do_fault_around(vmf, r)) return ret;
  u64 pfn = 0;
  if (vm_fault_t ret = __do_fault(vmf, pfn, r)) return ret;
  return finish_fault(vmf, pfn, r);
}

// do_cow_fault: the first touch of a private file page is a write. The writer
// gets a new exclusive anonymous page holding a copy of the page-cache page, which
// itself stays unmapped and unchanged. No fault-around for writes.
vm_fault_t do_cow_fault(VmFault& vmf, Recorder& r) {
  KernelFunction f(r, "do_cow_fault");
  KernelState& k = vmf.k;
  vmf_anon_prepare(vmf);
  auto cow_page = folio_prealloc(k, r);  // not zeroed: it is overwritten whole
  if (!cow_page) return VM_FAULT_OOM;
  u64 page = 0;
  if (vm_fault_t ret = __do_fault(vmf, page, r)) {
    k.frames.put(*cow_page);  // uncharge_out
    return ret;
  }
  k.mem.copy_frame(*cow_page, page);  // copy_mc_user_highpage
  charge_bytes(r, Step::copy, kPageSize);
  // finish_fault → set_pte_range for the COW page: the new anonymous rmap,
  // MM_ANONPAGES, writable and dirty. __do_fault's reference to the page-cache
  // page is dropped again (put_page): it was never mapped here.
  auto pte_pa = vmf_pte_alloc(vmf, r);
  if (!pte_pa) {
    k.frames.put(*cow_page);
    return VM_FAULT_OOM;
  }
  const u64 entry =
      maybe_mkwrite(pte_mkdirty(pfn_pte(*cow_page, vma_page_prot(vmf.vma))), vmf.vma.vm_flags);
  folio_add_new_anon_rmap(k, *cow_page, r);
  ++vmf.mm.rss_anon;
  set_pte_at(k, *pte_pa, entry, r);
  vmf.res = Resolution::CowCopy;
  return 0;
}

// do_shared_fault: a write to a shared mapping maps the page-cache page itself,
// writable and dirty. ->page_mkwrite tells the filesystem first (ext4; shmem has
// none; its work has no cost step here), and fault_dirty_shared_page marks the
// folio dirty.
vm_fault_t do_shared_fault(VmFault& vmf, Recorder& r) {
  KernelFunction f(r, "do_shared_fault");
  u64 pfn = 0;
  if (vm_fault_t ret = __do_fault(vmf, pfn, r)) return ret;
  if (vm_fault_t ret = finish_fault(vmf, pfn, r)) return ret;
  const FolioRange folio = folio_range(vmf.k, *vmf.vma.vm_file, vmf.pgoff);
  for (u64 i = folio.index; i <= folio.last(); ++i) vmf.k.frames.page(vmf.vma.vm_file->pages.at(i)).dirty = true;
  return 0;
}

}  // namespace

vm_fault_t do_fault(VmFault& vmf, Recorder& r) {
  KernelFunction f(r, "do_fault");
  if (!vmf.write()) return do_read_fault(vmf, r);
  if (!(vmf.vma.vm_flags & VM_SHARED)) return do_cow_fault(vmf, r);
  return do_shared_fault(vmf, r);
}

}  // namespace mmusim::kernel
