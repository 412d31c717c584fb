// Address-space system calls: mmap (mm/mmap.c do_mmap, mm/vma.c mmap_region),
// MAP_POPULATE (mm/gup.c populate_vma_page_range), munmap (do_vmi_munmap,
// zap_pte_range, free_pgtables), mprotect (mm/mprotect.c) and madvise
// (mm/madvise.c), with x86's TLB-flush policy (arch/x86/mm/tlb.c).
#include <fmt/format.h>

#include "kernel/huge_memory.hpp"
#include "kernel/internal.hpp"

namespace mmusim::kernel {

namespace {

bool page_aligned(u64 v) { return (v & (kPageSize - 1)) == 0; }

// The checks every address-range event shares; the message names the event.
void check_range(const char* event, u64 addr, u64 len) {
  if (!page_aligned(addr) || !page_aligned(len))
    throw KernelError(fmt::format("{}: address {:#x} and length {:#x} must be page aligned (EINVAL)", event,
                                  addr, len));
  if (len == 0) throw KernelError(fmt::format("{}: zero length (EINVAL)", event));
  if (addr + len < addr || addr + len > kTaskSizeMax)
    throw KernelError(fmt::format("{}: [{:#x}, {:#x}) is beyond the user address space (TASK_SIZE {:#x})",
                                  event, addr, addr + len, kTaskSizeMax));
}

// calc_vm_prot_bits. A *_WRITECOPY protection is a private writable mapping.
u64 calc_vm_prot_bits(const traces::Prot& prot) {
  u64 f = 0;
  if (prot.read) f |= VM_READ;
  if (prot.write || prot.writecopy) f |= VM_WRITE;
  if (prot.exec) f |= VM_EXEC;
  return f;
}

// follow_page_pte's test: does the present PTE already give GUP what it needs?
bool gup_pte_ok(const KernelState& k, const Mm& mm, u64 addr, bool write) {
  // follow_huge_pmd: a THP or the huge zero page serves the whole 2 MiB.
  if (auto pmd = huge_pmd_lookup(k.mem, mm, addr)) return (*pmd & bit::P) && (!write || pte_write(*pmd));
  auto pte_pa = pte_lookup(k.mem, mm, addr);
  if (!pte_pa) return false;
  const u64 pte = k.mem.read64(*pte_pa);
  if (!(pte & bit::P)) return false;
  return !write || pte_write(pte);
}

// populate_vma_page_range → __get_user_pages → faultin_page → handle_mm_fault:
// each page not yet mapped as needed takes one fault, counted in min_flt like any
// other (mm_account_fault counts GUP faults for the calling task).
u64 populate_range(KernelState& k, Task& task, u64 start, u64 end) {
  u64 cycles = 0;
  for (u64 addr = start; addr < end; addr += kPageSize) {
    Vma* vma = task.mm->vma_lookup(addr);
    // check_vma_flags: GUP refuses PROT_NONE.
    if (!vma || !vma->is_accessible()) {
      if (vma) addr = vma->vm_end - kPageSize;
      continue;
    }
    // Writable private mappings are touched with a write fault to break COW now;
    // shared ones with a read fault (FOLL_FORCE), so they are not dirtied for
    // nothing.
    const bool write = (vma->vm_flags & (VM_WRITE | VM_SHARED)) == VM_WRITE;
    if (gup_pte_ok(k, *task.mm, addr, write)) continue;
    FaultRecord rec;
    rec.address = addr;
    Recorder r(k.cost, &rec);
    Resolution res = Resolution::Spurious;
    const vm_fault_t ret = handle_mm_fault(k, task, *vma, addr, write ? FAULT_FLAG_WRITE : 0, r, res);
    TaskCounters& c = k.counters[task.pid];
    c.fault_cycles += r.total();
    cycles += r.total();
    // __mm_populate ignores errors: mmap itself succeeds, the rest stays unpopulated.
    if (ret & VM_FAULT_ERROR) break;
    ++c.by_resolution[static_cast<unsigned>(res)];
  }
  return cycles;
}

// tlb_flush (arch/x86/include/asm/tlb.h): one request for the whole gathered range,
// so each other CPU gets one IPI for it, and flush_tlb_mm_range picks INVLPGs or a
// full flush. INVLPG also drops the PCID's paging-structure-cache entries (SDM
// §4.10.4.1), so freed page tables need no wider flush; without a gathered range (only
// tables freed) the whole mm goes.
void flush_gathered(KernelState& k, Mm& mm, const MmuGather& tlb, Recorder& r) {
  const bool any = tlb.end > tlb.start;
  if (!any && !tlb.freed_tables && !tlb.fullmm) return;
  if (tlb.fullmm || !any) k.tlb.flush_tlb_mm_range(mm, 0, TLB_FLUSH_ALL, kPageShift, tlb.freed_tables, r);
  else k.tlb.flush_tlb_mm_range(mm, tlb.start, tlb.end, kPageShift, tlb.freed_tables, r);
}

// can_change_pte_writable (mm/mprotect.c): may mprotect make this PTE writable
// without waiting for a write fault?
bool can_change_pte_writable(const KernelState& k, const Vma& vma, u64 pte) {
  if (pte_protnone(pte)) return false;
  if (!(vma.vm_flags & VM_SHARED)) {
    // Private: only an exclusive anonymous page. COW-shared pages, the zero page
    // and page-cache pages stay read-only until do_wp_page decides.
    if (pte_special(pte)) return false;
    const Page& p = k.frames.page(pte_pfn(pte));
    return p.anon && p.anon_exclusive;
  }
  return pte_dirty(pte);
}

// change_pte_range over one VMA whose vm_flags were just updated.
void change_protection(KernelState& k, Mm& mm, const Vma& vma, MmuGather& tlb, Recorder& r) {
  const u64 newprot = vma_page_prot(vma);
  // vma_wants_manual_pte_write_upgrade: private writable VMAs upgrade per PTE, and
  // so do shared ones that want write-notify (ext4: dirty PTEs only). Shared tmpfs
  // and shmem have no write-notify: their vm_page_prot already carries RW.
  const bool try_change_writable =
      (vma.vm_flags & VM_WRITE) && (!(vma.vm_flags & VM_SHARED) || vma_wants_writenotify(vma));
  change_huge_pmds(k, mm, vma, tlb, r);  // change_pmd_range: THP leaves first
  walk_ptes(k.mem, mm, vma.vm_start, vma.vm_end, [&](u64 addr, u64 pte_pa, u64 oldpte) {
    if (!pte_present(oldpte)) return;
    u64 ptent = pte_modify(oldpte, newprot);
    if (try_change_writable && !pte_write(ptent) && can_change_pte_writable(k, vma, ptent))
      ptent = pte_mkwrite(ptent);
    if (ptent == oldpte) return;
    k.mem.write64(pte_pa, ptent);
    charge(r, Step::pte_update);
    // tlb_flush_pte_range when pte_needs_flush: RW or NX changed either way, or P/D
    // cleared.
    if (pte_flags_need_flush(oldpte, ptent)) tlb.track(addr);
  });
}

}  // namespace

void zap_pte_range(KernelState& k, Mm& mm, u64 start, u64 end, MmuGather& tlb, Recorder& r) {
  zap_huge_pmds(k, mm, start, end, tlb, r);  // zap_pmd_range: THP leaves first
  walk_ptes(k.mem, mm, start, end, [&](u64 addr, u64 pte_pa, u64 pte) {
    k.mem.write64(pte_pa, 0);  // ptep_get_and_clear_full
    charge(r, Step::pte_update);
    if (!pte_present(pte)) return;
    tlb.track(addr);  // tlb_remove_tlb_entry
    if (pte_special(pte)) return;  // the zero page: no rmap, no reference
    const u64 pfn = pte_pfn(pte);
    Page& p = k.frames.page(pfn);
    // zap_present_folio_ptes: a page-cache page keeps the dirt its PTE gathered
    // (a tmpfs page written without a fault) for writeback.
    if (!p.anon && pte_dirty(pte)) p.dirty = true;
    folio_remove_rmap_pte(k, mm, pfn);  // folio_remove_rmap_ptes
    charge(r, Step::rmap_update);
    --mm_counter(mm, p);
    tlb.pages.push_back(pfn);  // __tlb_remove_folio_pages: put after the flush
  });
}

void tlb_finish_mmu(KernelState& k, Mm& mm, MmuGather& tlb, Recorder& r) {
  flush_gathered(k, mm, tlb, r);
  for (u64 pfn : tlb.pages) k.frames.put(pfn);
  tlb.pages.clear();
}

void remove_vma(KernelState& k, Vma&& vma) {
  std::shared_ptr<File> obj = std::move(vma.vm_file);
  // A named file is also held by the file table (KernelState::files): its page
  // cache stays for later mappings, until the end of the run.
  if (!obj || obj.use_count() > 1) return;
  // The last mapping of an anonymous shmem object is gone and nothing else can
  // name it: the inode is evicted with its page cache.
  for (auto& [index, pfn] : obj->pages) k.frames.put(pfn);
  obj->pages.clear();
}

void do_munmap(KernelState& k, Mm& mm, u64 start, u64 end, Recorder& r) {
  if (!mm.intersects(start, end)) return;
  split_huge_pmd_if_needed(k, mm, start, r);  // __split_vma cuts no THP in two
  split_huge_pmd_if_needed(k, mm, end, r);
  std::vector<Vma> vmas = mm.detach_range(start, end);
  MmuGather tlb;
  for (const Vma& v : vmas) zap_pte_range(k, mm, v.vm_start, v.vm_end, tlb, r);
  // free_pgtables over the whole unmapped range at once, with the surviving
  // neighbours as floor and ceiling. Per VMA would judge an upper table empty of
  // VMAs while a later VMA's lower table still hangs off it.
  if (!vmas.empty() && free_pgtables(k, mm, vmas.front().vm_start, vmas.back().vm_end) > 0)
    tlb.freed_tables = true;
  tlb_finish_mmu(k, mm, tlb, r);
  for (Vma& v : vmas) remove_vma(k, std::move(v));
}

u64 do_mmap(KernelState& k, Pid pid, const MmapRequest& req) {
  Task& task = k.task(pid, "mmap");
  check_range("mmap", req.addr, req.len);
  if (!req.file.empty() && !page_aligned(req.offset))
    throw KernelError(fmt::format("mmap: offset {:#x} must be page aligned (EINVAL)", req.offset));
  if (!req.file.empty() && (req.offset >> kPageShift) + (req.len >> kPageShift) < (req.offset >> kPageShift))
    throw KernelError(fmt::format("mmap: offset {:#x} + length {:#x} overflow (EOVERFLOW)", req.offset, req.len));
  Mm& mm = *task.mm;
  const u64 start = req.addr, end = req.addr + req.len;
  if (!req.fixed && mm.intersects(start, end)) {
    const Vma* v = mm.find_vma(start);
    throw KernelError(fmt::format("mmap: [{:#x}, {:#x}) overlaps the mapping [{:#x}, {:#x}); add `fixed` to "
                                  "replace it (MAP_FIXED)",
                                  start, end, v->vm_start, v->vm_end));
  }
  Recorder r(k.cost);
  // MAP_FIXED: whatever was there is unmapped first (mmap_region → vms_gather_munmap_vmas).
  if (req.fixed) do_munmap(k, mm, start, end, r);

  const bool shared = req.shared && !req.prot.writecopy;
  Vma v;
  v.vm_start = start;
  v.vm_end = end;
  v.vm_flags = calc_vm_prot_bits(req.prot) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
  if (req.huge) v.vm_flags |= VM_HUGEPAGE;
  v.name = req.name;
  const bool file = !req.file.empty();
  if (shared) v.vm_flags |= VM_SHARED | VM_MAYSHARE;
  if (file) {
    // The file is opened read-write (the trace has no open modes), so VM_MAYWRITE
    // stays: a shared mapping may be made writable by mprotect.
    v.vm_file = file_get(k, req.file);
    v.vm_pgoff = req.offset >> kPageShift;
  } else if (shared) {
    // shmem_zero_setup: a new tmpfs object, offset 0 at vm_start.
    v.vm_file = k.new_shmem();
    v.vm_pgoff = 0;
  } else {
    v.vm_pgoff = start >> kPageShift;
  }
  mm.insert_vma(std::move(v));
  // vma_merge_new_range: a private anonymous or a file mapping joins compatible
  // neighbours (same file, continuing offsets). A shmem object is new, so never.
  if (!shared || file) {
    mm.merge_at(start);
    mm.merge_at(end);
  }
  u64 cycles = r.total();
  // kernel.cow=eager: a private writable file mapping is copied whole now.
  if (file && !shared && (req.prot.write || req.prot.writecopy) && k.cfg.kernel.cow == config::CowPolicy::Eager)
    cycles += cow_eager_populate(k, mm, start, end);
  if (req.populate) cycles += populate_range(k, task, start, end);
  return cycles;
}

u64 do_munmap_event(KernelState& k, Pid pid, u64 addr, u64 len) {
  Task& task = k.task(pid, "munmap");
  check_range("munmap", addr, len);
  Recorder r(k.cost);
  do_munmap(k, *task.mm, addr, addr + len, r);
  return r.total();
}

u64 do_mprotect(KernelState& k, Pid pid, u64 addr, u64 len, const traces::Prot& prot) {
  Task& task = k.task(pid, "mprotect");
  check_range("mprotect", addr, len);
  Mm& mm = *task.mm;
  const u64 start = addr, end = addr + len;
  // do_mprotect_pkey fails with ENOMEM on a hole; Linux would have changed the
  // VMAs before it, the model refuses the whole event instead.
  if (!mm.fully_mapped(start, end))
    throw KernelError(fmt::format("mprotect: [{:#x}, {:#x}) is not entirely mapped (ENOMEM)", start, end));
  const u64 newbits = calc_vm_prot_bits(prot);
  Recorder r(k.cost);
  MmuGather tlb;
  // mprotect_fixup cuts a VMA only where its flags change, and __split_vma first
  // splits a THP the cut would cross.
  for (const u64 b : {start, end})
    if (const Vma* v = mm.vma_lookup(b); v && ((v->vm_flags & ~VM_ACCESS_FLAGS) | newbits) != v->vm_flags)
      split_huge_pmd_if_needed(k, mm, b, r);
  for (Vma* v : mm.vmas_in(start, end)) {
    const u64 newflags = (v->vm_flags & ~VM_ACCESS_FLAGS) | newbits;
    if ((newflags & VM_WRITE) && !(v->vm_flags & VM_MAYWRITE))
      throw KernelError(fmt::format("mprotect: [{:#x}, {:#x}) may not become writable (EACCES)", v->vm_start,
                                    v->vm_end));
    if (newflags == v->vm_flags) continue;
    v->vm_flags = newflags;
    change_protection(k, mm, *v, tlb, r);
  }
  // vma_modify_flags merges the pieces back with equal neighbours.
  std::vector<u64> boundaries;
  for (auto it = mm.vmas().lower_bound(start); it != mm.vmas().end() && it->first <= end; ++it)
    boundaries.push_back(it->first);
  for (u64 b : boundaries) mm.merge_at(b);
  tlb_finish_mmu(k, mm, tlb, r);
  return r.total();
}

u64 do_madvise(KernelState& k, Pid pid, u64 addr, u64 len, traces::Advice advice) {
  Task& task = k.task(pid, "madvise");
  check_range("madvise", addr, len);
  Mm& mm = *task.mm;
  const u64 start = addr, end = addr + len;
  Recorder r(k.cost);
  if (advice == traces::Advice::DontNeed) {
    // madvise_dontneed_single_vma → zap_page_range_single: the VMAs stay (no
    // split), their pages go; the next touch faults afresh (private: zero-fill or
    // zero page; shmem: the object's page again). Page tables are kept.
    MmuGather tlb;
    for (auto it = mm.vmas().begin(); it != mm.vmas().end(); ++it) {
      const Vma& v = it->second;
      if (v.vm_end <= start || v.vm_start >= end) continue;
      zap_pte_range(k, mm, std::max(start, v.vm_start), std::min(end, v.vm_end), tlb, r);
    }
    tlb_finish_mmu(k, mm, tlb, r);
    return r.total();
  }
  // MADV_HUGEPAGE / MADV_NOHUGEPAGE (hugepage_madvise) only set vm_flags, cutting
  // the VMAs as madvise_update_vma does (and so splitting a THP a cut crosses).
  // THPs already mapped stay; later faults follow the new flags.
  const u64 set = advice == traces::Advice::HugePage ? VM_HUGEPAGE : VM_NOHUGEPAGE;
  const u64 clear = advice == traces::Advice::HugePage ? VM_NOHUGEPAGE : VM_HUGEPAGE;
  for (const u64 b : {start, end})
    if (const Vma* v = mm.vma_lookup(b); v && ((v->vm_flags & ~clear) | set) != v->vm_flags)
      split_huge_pmd_if_needed(k, mm, b, r);
  for (Vma* v : mm.vmas_in(start, end)) v->vm_flags = (v->vm_flags & ~clear) | set;
  std::vector<u64> boundaries;
  for (auto it = mm.vmas().lower_bound(start); it != mm.vmas().end() && it->first <= end; ++it)
    boundaries.push_back(it->first);
  for (u64 b : boundaries) mm.merge_at(b);
  return r.total();
}

}  // namespace mmusim::kernel
