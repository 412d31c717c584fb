// The page-fault path, after arch/x86/mm/fault.c (exc_page_fault,
// do_user_addr_fault, access_error) and mm/memory.c (handle_mm_fault down to
// do_anonymous_page and do_wp_page; do_fault, for file and shmem mappings, is in
// do_fault.cpp). Function names are Linux's; each one that can be on the
// resolving chain is a KernelFunction frame.
#include <algorithm>

#include "kernel/huge_memory.hpp"
#include "kernel/internal.hpp"
#include "mmu/types.hpp"

namespace mmusim::kernel {

// set_pte_at + update_mmu_cache (a no-op on x86).
void set_pte_at(KernelState& k, u64 pte_pa, u64 pte, Recorder& r) {
  k.mem.write64(pte_pa, pte);
  charge(r, Step::pte_update);
}

// vmf_anon_prepare / __anon_vma_prepare: the VMA gets its anon_vma with its first
// private page. fork copies PTEs only of VMAs that have one.
void vmf_anon_prepare(VmFault& vmf) {
  if (!vmf.vma.anon_vma) vmf.vma.anon_vma = vmf.k.new_anon_vma();
}

// folio_add_new_anon_rmap(..., RMAP_EXCLUSIVE): the first mapping of a new page.
void folio_add_new_anon_rmap(KernelState& k, u64 pfn, Recorder& r) {
  Page& p = k.frames.page(pfn);
  p.anon = true;
  p.anon_exclusive = true;
  p.mapcount = 1;
  charge(r, Step::rmap_update);
}

// folio_prealloc: a frame for user data, charged as an allocation.
std::optional<u64> folio_prealloc(KernelState& k, Recorder& r) {
  auto pfn = k.frames.alloc();
  if (pfn) charge(r, Step::frame_alloc);
  return pfn;
}

// The PTE of vmf.address, allocating its table if needed; nothing if out of frames.
std::optional<u64> vmf_pte_alloc(VmFault& vmf, Recorder& r) {
  return pte_alloc(vmf.k, vmf.mm, vmf.pmd_pa, vmf.address, r);
}

namespace {

namespace pf = mmu::pf;
constexpr int SEGV_PKUERR = 4;

// vm_normal_page: the frame behind a PTE, or nothing for special mappings (the
// zero page).
std::optional<u64> vm_normal_page(u64 pte) {
  if (pte_special(pte)) return std::nullopt;
  return pte_pfn(pte);
}

// ---------------------------------------------------------------- anonymous

vm_fault_t do_anonymous_page(VmFault& vmf, Recorder& r) {
  KernelFunction f(r, "do_anonymous_page");
  KernelState& k = vmf.k;
  // A shared anonymous VMA without vm_ops: shmem_zero_setup gives every shared
  // anonymous mapping vm_ops, so this is only reachable by a kernel bug.
  if (vmf.vma.vm_flags & VM_SHARED) return VM_FAULT_SIGBUS;
  auto pte_pa = vmf_pte_alloc(vmf, r);
  if (!pte_pa) return VM_FAULT_OOM;
  const u64 prot = vm_get_page_prot(vmf.vma.vm_flags);

  if (!vmf.write()) {
    // Reads map the shared zero page: present, read-only (vm_page_prot of a
    // private mapping has no RW), special. No allocation, no rmap, no RSS.
    set_pte_at(k, *pte_pa, pte_mkspecial(pfn_pte(k.zero_pfn, prot)), r);
    vmf.res = Resolution::ZeroPage;
    return 0;
  }

  vmf_anon_prepare(vmf);
  // alloc_anon_folio → vma_alloc_zeroed_movable_folio: the 4 KiB clear is here.
  auto pfn = folio_prealloc(k, r);
  if (!pfn) return VM_FAULT_OOM;
  k.mem.zero_frame(*pfn);
  charge_bytes(r, Step::zero, kPageSize);
  u64 entry = pfn_pte(*pfn, prot);
  if (vmf.vma.vm_flags & VM_WRITE) entry = pte_mkwrite(pte_mkdirty(entry));
  folio_add_new_anon_rmap(k, *pfn, r);
  ++vmf.mm.rss_anon;
  set_pte_at(k, *pte_pa, entry, r);
  vmf.res = Resolution::AnonymousPage;
  return 0;
}

vm_fault_t do_pte_missing(VmFault& vmf, Recorder& r) {
  KernelFunction f(r, "do_pte_missing");
  return vmf.vma.is_anonymous() ? do_anonymous_page(vmf, r) : do_fault(vmf, r);
}

// ---------------------------------------------------------------- write-protect

// wp_page_reuse: the writer keeps the page. A permission upgrade needs no flush:
// a stale read-only entry elsewhere only costs a spurious fault (§1.1).
vm_fault_t wp_page_reuse(VmFault& vmf, u64 pte_pa, Recorder& r) {
  KernelFunction f(r, "wp_page_reuse");
  const u64 entry = maybe_mkwrite(pte_mkdirty(pte_mkyoung(vmf.orig_pte)), vmf.vma.vm_flags);
  set_pte_at(vmf.k, pte_pa, entry, r);  // ptep_set_access_flags
  vmf.res = Resolution::CowReuse;
  return 0;
}

// wp_page_shared: ->page_mkwrite tells the filesystem of the write (ext4 reserves
// blocks; shmem has no ->page_mkwrite), finish_mkwrite_fault reuses the page, and
// fault_dirty_shared_page marks the folio dirty. The filesystem's own work has no
// cost step: the fault is charged like a reuse.
vm_fault_t wp_page_shared(VmFault& vmf, u64 pte_pa, u64 pfn, Recorder& r) {
  KernelFunction f(r, "wp_page_shared");
  const vm_fault_t ret = wp_page_reuse(vmf, pte_pa, r);
  vmf.k.frames.page(pfn).dirty = true;
  return ret;
}

// wp_page_copy: a private copy for the writer (or a zeroed page instead of the
// zero page). The old PTE is cleared and flushed before the new one is set so no
// CPU can hold both translations; the old page's rmap goes only after the switch.
vm_fault_t wp_page_copy(VmFault& vmf, u64 pte_pa, Recorder& r) {
  KernelFunction f(r, "wp_page_copy");
  KernelState& k = vmf.k;
  vmf_anon_prepare(vmf);
  const std::optional<u64> old = vm_normal_page(vmf.orig_pte);
  const bool pfn_is_zero = pte_pfn(vmf.orig_pte) == k.zero_pfn;
  auto pfn = folio_prealloc(k, r);
  if (!pfn) return VM_FAULT_OOM;
  if (pfn_is_zero || !old) {
    k.mem.zero_frame(*pfn);
    charge_bytes(r, Step::zero, kPageSize);
  } else {
    k.mem.copy_frame(*pfn, *old);  // __wp_page_copy_user → copy_mc_user_highpage
    charge_bytes(r, Step::copy, kPageSize);
  }
  ++vmf.mm.rss_anon;  // the old page's counter drops below; the zero page had none
  const u64 entry =
      maybe_mkwrite(pte_mkdirty(pfn_pte(*pfn, vm_get_page_prot(vmf.vma.vm_flags))), vmf.vma.vm_flags);

  // ptep_clear_flush: the old entry was present, so it may be cached.
  k.mem.write64(pte_pa, 0);
  flush_tlb_page(k.tlb, vmf.mm, vmf.address, r);

  folio_add_new_anon_rmap(k, *pfn, r);
  set_pte_at(k, pte_pa, entry, r);

  if (old) {
    // folio_remove_rmap_pte, then folio_put: the old page is freed if the other
    // side had already copied away or exited.
    Page& p = k.frames.page(*old);
    folio_remove_rmap_pte(k, vmf.mm, *old);
    charge(r, Step::rmap_update);
    --mm_counter(vmf.mm, p);  // a page-cache page of a private file mapping, or anon
    k.frames.put(*old);
  }
  vmf.res = Resolution::CowCopy;
  return 0;
}

// wp_can_reuse_anon_folio: for a small folio, reuse iff this PTE holds the only
// reference (refcount == 1; the LRU-batch reference is drained first in Linux);
// a page of a THP split into PTEs asks __wp_can_reuse_large_anon_folio.
bool wp_can_reuse_anon_folio(const KernelState& k, u64 pfn) {
  if (k.frames.folio_test_large(pfn)) return wp_can_reuse_large_anon_folio(k, pfn);
  return k.frames.page(pfn).refcount == 1;
}

vm_fault_t do_wp_page(VmFault& vmf, u64 pte_pa, Recorder& r) {
  KernelFunction f(r, "do_wp_page");
  const std::optional<u64> page = vm_normal_page(vmf.orig_pte);
  if (vmf.vma.vm_flags & (VM_SHARED | VM_MAYSHARE)) {
    // A shared mapping never copies: write-notify on a clean file page (ext4), or
    // a page mprotect left read-only. Only the zero page has no struct page, and
    // it is never mapped shared.
    if (!page) {
      KernelFunction g(r, "wp_pfn_shared");
      return wp_page_reuse(vmf, pte_pa, r);
    }
    return wp_page_shared(vmf, pte_pa, *page, r);
  }
  if (page) {
    Page& p = vmf.k.frames.page(*page);
    if (p.anon && (p.anon_exclusive || wp_can_reuse_anon_folio(vmf.k, *page))) {
      if (!p.anon_exclusive) {
        // wp_can_reuse_anon_folio locks the folio and folio_move_anon_rmap moves it to
        // this VMA's anon_vma before SetPageAnonExclusive: the reuse fault's own work,
        // which makes it dearer than a zero-page read (§4.1: 673 against 585 ns).
        charge(r, Step::rmap_update);
        p.anon_exclusive = true;
      }
      return wp_page_reuse(vmf, pte_pa, r);
    }
  }
  return wp_page_copy(vmf, pte_pa, r);
}

// ---------------------------------------------------------------- dispatch

vm_fault_t handle_pte_fault(VmFault& vmf, Recorder& r) {
  KernelFunction f(r, "handle_pte_fault");
  KernelState& k = vmf.k;
  std::optional<u64> pte_pa;
  if (k.mem.read64(vmf.pmd_pa) & bit::P) {
    pte_pa = table_entry_pa(pte_pfn(k.mem.read64(vmf.pmd_pa)), vmf.address, mmu::Level::PTE);
    vmf.orig_pte = k.mem.read64(*pte_pa);
    if (pte_none(vmf.orig_pte)) pte_pa.reset();
  }
  if (!pte_pa) return do_pte_missing(vmf, r);
  // Swap, migration and marker entries are not modelled: nothing writes them.
  if (!pte_present(vmf.orig_pte)) return VM_FAULT_SIGBUS;
  if (pte_protnone(vmf.orig_pte) && vmf.vma.is_accessible()) {
    // do_numa_page: only NUMA hinting leaves PROTNONE in an accessible VMA, and it
    // is not modelled; restore the VMA's protection as its end result would.
    set_pte_at(k, *pte_pa, pte_modify(vmf.orig_pte, vma_page_prot(vmf.vma)), r);
    vmf.res = Resolution::Spurious;
    return 0;
  }
  if (vmf.write() && !pte_write(vmf.orig_pte)) return do_wp_page(vmf, *pte_pa, r);

  // The PTE already allows the access: another thread fixed it, or a stale TLB
  // entry faulted. Set A (and D for a write) as ptep_set_access_flags would; the
  // fault still counts.
  u64 entry = pte_mkyoung(vmf.orig_pte);
  if (vmf.write()) entry = pte_mkdirty(entry);
  if (entry != vmf.orig_pte) set_pte_at(k, *pte_pa, entry, r);
  vmf.res = Resolution::Spurious;
  return 0;
}

vm_fault_t __handle_mm_fault(KernelState& k, Task& task, Vma& vma, u64 address, u32 flags, Recorder& r,
                             Resolution& res) {
  KernelFunction f(r, "__handle_mm_fault");
  charge(r, Step::pgtable_walk);
  Mm& mm = *task.mm;
  const u64 addr = address & ~(kPageSize - 1);
  // p4d_alloc is folded (4-level); pud and pmd tables are allocated here, the PTE
  // table later by whoever installs the PTE.
  auto pud = pud_alloc(k, mm, pgd_offset(mm, addr), addr, r);
  if (!pud) return VM_FAULT_OOM;
  auto pmd = pmd_alloc(k, mm, *pud, addr, r);
  if (!pmd) return VM_FAULT_OOM;
  VmFault vmf{k, mm, vma, addr, vma.pgoff_of(addr), flags, *pmd, 0, res};
  // The PMD level (mm/huge_memory.c): a THP created, reused or split, or fallback.
  if (const vm_fault_t ret = huge_pmd_fault(vmf, r); !(ret & VM_FAULT_FALLBACK)) return ret;
  return handle_pte_fault(vmf, r);
}

// ---------------------------------------------------------------- arch entry

struct Outcome {
  Resolution res = Resolution::Spurious;
  int si_code = 0;
  bool kill = false;
};

// access_error (arch/x86/mm/fault.c).
bool access_error(u32 error_code, const Vma& vma) {
  if (error_code & pf::PK) return true;  // no pkeys are assigned, so any PK fault is foreign
  if (error_code & pf::W) return !(vma.vm_flags & VM_WRITE);
  // A read or fetch of a present page: PROT_NONE, or XD on a fetch. Instruction
  // fetches are not checked against VM_EXEC: NX lives in the PTE.
  if (error_code & pf::P) return true;
  return !vma.is_accessible();
}

// __bad_area_nosemaphore → force_sig_fault.
Outcome bad_area(Recorder& r, const char* function, int si_code) {
  KernelFunction f(r, function);
  charge(r, Step::signal_delivery);
  return {Resolution::Sigsegv, si_code, true};
}

// `spawn ... automap`: the page is mapped anonymous, private, rwx, as if the
// trace had done so, merged with automapped neighbours to keep the VMAs few.
Vma* automap_page(KernelState& k, Task& task, u64 address) {
  Mm& mm = *task.mm;
  const u64 start = address & ~(kPageSize - 1);
  Vma v;
  v.vm_start = start;
  v.vm_end = start + kPageSize;
  v.vm_flags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
  if (k.cfg.kernel.automap_exec) v.vm_flags |= VM_EXEC;
  v.vm_pgoff = start >> kPageShift;
  v.automapped = true;
  mm.insert_vma(std::move(v));
  mm.merge_at(start);
  mm.merge_at(start + kPageSize);
  ++k.counters[task.pid].automaps;
  return mm.vma_lookup(address);
}

Outcome do_user_addr_fault(KernelState& k, Task& task, u64 address, u32 error_code, Recorder& r) {
  KernelFunction f(r, "do_user_addr_fault");
  // The kernel executing user memory, or a reserved bit in our own tables: an oops
  // (page_fault_oops / pgtable_bad) that kills the task. Not a user signal.
  if ((error_code & (pf::U | pf::ID)) == pf::ID || (error_code & pf::RSVD))
    return {Resolution::Sigsegv, 0, true};

  u32 flags = 0;
  if (error_code & pf::W) flags |= FAULT_FLAG_WRITE;
  if (error_code & pf::ID) flags |= FAULT_FLAG_INSTRUCTION;
  if (error_code & pf::U) flags |= FAULT_FLAG_USER;

  // lock_vma_under_rcu / lock_mm_and_find_vma (no stack expansion: no VM_GROWSDOWN).
  charge(r, Step::vma_lookup);
  Vma* vma = task.mm->vma_lookup(address);
  if (!vma && task.mm->automap && address >= kMmapMinAddr) vma = automap_page(k, task, address);
  if (!vma) return bad_area(r, "bad_area_nosemaphore", SEGV_MAPERR);
  if (access_error(error_code, *vma))
    return bad_area(r, "bad_area_access_error", (error_code & pf::PK) ? SEGV_PKUERR : SEGV_ACCERR);

  Resolution res = Resolution::Spurious;
  const vm_fault_t ret = handle_mm_fault(k, task, *vma, address, flags, r, res);
  if (ret & VM_FAULT_OOM) return {Resolution::Oom, 0, true};  // pagefault_out_of_memory
  if (ret & VM_FAULT_SIGBUS) {
    charge(r, Step::signal_delivery);  // do_sigbus
    return {Resolution::Sigbus, BUS_ADRERR, true};
  }
  if (ret & VM_FAULT_SIGSEGV) {
    charge(r, Step::signal_delivery);
    return {Resolution::Sigsegv, SEGV_MAPERR, true};
  }
  return {res, 0, false};
}

// do_kern_addr_fault: no kernel mappings are modelled, so a fault above
// TASK_SIZE_MAX is a bad area (for a user access: SIGSEGV, SEGV_MAPERR).
Outcome do_kern_addr_fault(u32 error_code, Recorder& r) {
  KernelFunction f(r, "do_kern_addr_fault");
  return bad_area(r, "bad_area_nosemaphore", (error_code & pf::U) ? SEGV_MAPERR : 0);
}

}  // namespace

vm_fault_t handle_mm_fault(KernelState& k, Task& task, Vma& vma, u64 address, u32 flags, Recorder& r,
                           Resolution& res) {
  KernelFunction f(r, "handle_mm_fault");
  // sanitize_fault_flags: a write needs VM_MAYWRITE.
  if ((flags & FAULT_FLAG_WRITE) && !(vma.vm_flags & VM_MAYWRITE)) return VM_FAULT_SIGSEGV;
  const vm_fault_t ret = __handle_mm_fault(k, task, vma, address, flags, r, res);
  // mm_account_fault: errors are not counted; nothing here retries, so every
  // success is a minor fault of the task that took it (GUP faults included).
  if (!(ret & VM_FAULT_ERROR)) ++k.counters[task.pid].minflt;
  return ret;
}

void exc_page_fault(KernelState& k, Pid pid, u64 cr2, u32 error_code, FaultRecord& rec) {
  Task& task = k.task(pid, "page fault");
  rec.clear();
  rec.address = cr2;
  rec.error_code = error_code;
  Recorder r(k.cost, &rec);
  Outcome out;
  {
    KernelFunction f(r, "exc_page_fault");
    charge(r, Step::exception_entry);
    // fault_in_kernel_space: the kernel half, and the top user page.
    out = cr2 >= kTaskSizeMax ? do_kern_addr_fault(error_code, r)
                              : do_user_addr_fault(k, task, cr2, error_code, r);
    charge(r, Step::exception_exit);
  }
  rec.resolution = out.res;
  rec.si_code = out.si_code;
  TaskCounters& c = k.counters[pid];
  ++c.by_resolution[static_cast<unsigned>(out.res)];
  c.fault_cycles += rec.total_cycles;
  // No signal handlers are modelled: a fatal signal ends the whole thread group,
  // and the OOM killer picks the faulting task.
  if (out.kill) do_group_exit(k, pid);
}

}  // namespace mmusim::kernel
