// Anonymous transparent huge pages (mm/huge_memory.c) and the rmap counts of large
// folios (mm/rmap.c, include/linux/rmap.h). A THP is an order-9 folio: 512
// contiguous, 2 MiB-aligned frames mapped by one PDE leaf (PS=1). Every PMD
// mapping keeps a PTE table deposited with it (pgtable_trans_huge_deposit), so a
// split never has to allocate and cannot fail.
//
// Counts, as in Linux 6.18: the head's Page::refcount is the folio refcount (one
// per PMD mapping, one per PTE mapping after a split); LargeFolio holds
// _entire_mapcount (PMD mappings), _large_mapcount (all mappings) and the per-mm
// slots behind FOLIO_MM_IDS_SHARED; each Page's mapcount counts the PTEs mapping
// that 4 KiB page, and its anon_exclusive is PageAnonExclusive (the head's also
// speaks for a PMD mapping).
#include "kernel/huge_memory.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace mmusim::kernel {

using mmu::Level;

namespace {

constexpr u64 pmd_pfn(u64 pmd) { return pte_pfn(pmd); }  // 2 MiB-aligned: PAT (bit 12) is never set
constexpr u64 pmd_mkhuge(u64 pmd) { return pmd | bit::PS; }
// pmd_modify keeps _HPAGE_CHG_MASK: _PAGE_CHG_MASK and PSE.
constexpr u64 pmd_modify(u64 pmd, u64 newprot) { return pte_modify(pmd, newprot) | bit::PS; }

bool is_huge_zero_pmd(const KernelState& k, u64 pmd) {
  return k.huge_zero_pfn != 0 && pmd_pfn(pmd) == k.huge_zero_pfn;
}

// set_pmd_at + update_mmu_cache_pmd (a no-op on x86): one entry written.
void set_pmd_at(KernelState& k, u64 pmd_pa, u64 pmd, Recorder& r) {
  k.mem.write64(pmd_pa, pmd);
  charge(r, Step::pte_update);
}

// The fault was resolved at PMD level: FaultRecord::huge.
void mark_huge(Recorder& r) {
  if (FaultRecord* rec = r.record()) rec->huge = true;
}

// Calls fn(haddr, pmd_pa, pmd) for every trans-huge PMD meeting [start, end),
// skipping absent PGD and PUD entries as walk_ptes does. fn may rewrite the PMD.
template <class Fn>
void walk_huge_pmds(const hw::SparseMemory& mem, const Mm& mm, u64 start, u64 end, Fn&& fn) {
  constexpr u64 kPgdSpan = 1ull << 39, kPudSpan = 1ull << 30;
  u64 addr = start & HPAGE_PMD_MASK;
  while (addr < end) {
    const u64 pgde = mem.read64(pgd_offset(mm, addr));
    if (!(pgde & bit::P)) {
      addr = (addr & ~(kPgdSpan - 1)) + kPgdSpan;
      continue;
    }
    const u64 pude = mem.read64(table_entry_pa(pte_pfn(pgde), addr, Level::PDPTE));
    if (!(pude & bit::P)) {
      addr = (addr & ~(kPudSpan - 1)) + kPudSpan;
      continue;
    }
    const u64 pmd_pa = table_entry_pa(pte_pfn(pude), addr, Level::PDE);
    const u64 pmd = mem.read64(pmd_pa);
    if (pmd_trans_huge(pmd)) fn(addr, pmd_pa, pmd);
    addr += HPAGE_PMD_SIZE;
  }
}

// ---------------------------------------------------------------- deposits

// pte_alloc_one: the PTE table a THP mapping keeps for its split, zeroed.
std::optional<u64> pte_alloc_one(KernelState& k, Recorder& r) {
  auto pfn = k.frames.alloc();
  if (!pfn) return std::nullopt;
  k.frames.page(*pfn).pagetable = true;
  k.mem.zero_frame(*pfn);
  charge(r, Step::pgtable_alloc);
  return pfn;
}

// pgtable_trans_huge_deposit + mm_inc_nr_ptes.
void pgtable_trans_huge_deposit(Mm& mm, u64 haddr, u64 table) {
  mm.pmd_huge_pte[haddr] = table;
  ++mm.nr_pgtables;
}

// pgtable_trans_huge_withdraw: the table leaves the deposit (to be installed by a
// split, or freed by zap_deposited_table).
u64 pgtable_trans_huge_withdraw(Mm& mm, u64 haddr) {
  auto it = mm.pmd_huge_pte.find(haddr);
  if (it == mm.pmd_huge_pte.end())
    throw std::logic_error(fmt::format("kernel: THP at {:#x} of mm {} has no deposited page table", haddr, mm.id()));
  const u64 table = it->second;
  mm.pmd_huge_pte.erase(it);
  return table;
}

// zap_deposited_table: pte_free + mm_dec_nr_ptes. The table was never reachable by
// the hardware, so it needs no TLB flush before it is freed.
void zap_deposited_table(KernelState& k, Mm& mm, u64 haddr) {
  k.frames.put(pgtable_trans_huge_withdraw(mm, haddr));
  --mm.nr_pgtables;
}

// ---------------------------------------------------------------- large mapcounts

// folio_set_large_mapcount: the first mapping of a new folio, by `mm`.
void folio_set_large_mapcount(LargeFolio& f, u64 nr, u64 mm_id) {
  f.large_mapcount = static_cast<std::uint32_t>(nr);
  f.mm_id[0] = mm_id;
  f.mm_id_mapcount[0] = static_cast<std::int64_t>(nr);
  f.mm_id[1] = 0;
  f.mm_id_mapcount[1] = 0;
  f.mm_ids_shared = false;
}

// folio_add_return_large_mapcount: an mm with a slot counts there; a new mm takes a
// free slot, and the folio is then mapped by more than one (SHARED). With both
// slots taken, a third mm's mappings are only in the total; SHARED is already set.
void folio_add_large_mapcount(LargeFolio& f, u64 nr, u64 mm_id) {
  const auto diff = static_cast<std::int64_t>(nr);
  f.large_mapcount += static_cast<std::uint32_t>(nr);
  if (f.mm_id[0] == mm_id) {
    f.mm_id_mapcount[0] += diff;
  } else if (f.mm_id[1] == mm_id) {
    f.mm_id_mapcount[1] += diff;
  } else if (f.mm_id[0] == 0) {
    f.mm_id[0] = mm_id;
    f.mm_id_mapcount[0] = diff;
    if (f.large_mapcount != nr) f.mm_ids_shared = true;  // other mappings exist already
  } else if (f.mm_id[1] == 0) {
    f.mm_id[1] = mm_id;
    f.mm_id_mapcount[1] = diff;
    f.mm_ids_shared = true;  // slot 0 certainly has mappings as well
  }
}

// folio_sub_return_large_mapcount: a slot whose count drops to nothing is freed;
// the folio is exclusive again once one slot owns every mapping.
void folio_sub_large_mapcount(LargeFolio& f, u64 nr, u64 mm_id) {
  const auto diff = static_cast<std::int64_t>(nr);
  if (f.large_mapcount < nr) throw std::logic_error("kernel: large mapcount underflow");
  f.large_mapcount -= static_cast<std::uint32_t>(nr);
  for (int i = 0; i < 2; ++i) {
    if (f.mm_id[i] != mm_id) continue;
    f.mm_id_mapcount[i] -= diff;
    if (f.mm_id_mapcount[i] > 0) return;
    // Some of this mm's mappings may have been added while no slot was free.
    f.mm_id_mapcount[i] = 0;
    f.mm_id[i] = 0;
    break;
  }
  const auto total = static_cast<std::int64_t>(f.large_mapcount);
  if (f.mm_id_mapcount[0] == total || f.mm_id_mapcount[1] == total) f.mm_ids_shared = false;
}

// folio_add_new_anon_rmap for a PMD-mapped folio: entire mapcount 1, the head
// PageAnonExclusive. Every page answers folio_test_anon.
void folio_add_new_anon_rmap_pmd(KernelState& k, const Mm& mm, u64 head, Recorder& r) {
  for (u64 pfn = head; pfn < head + HPAGE_PMD_NR; ++pfn) k.frames.page(pfn).anon = true;
  k.frames.page(head).anon_exclusive = true;
  LargeFolio& f = k.frames.large_folio(head);
  f.entire_mapcount = 1;
  folio_set_large_mapcount(f, 1, mm.id());
  charge(r, Step::rmap_update);
}

// folio_remove_rmap_pmd.
void folio_remove_rmap_pmd(KernelState& k, const Mm& mm, u64 head, Recorder& r) {
  LargeFolio& f = k.frames.large_folio(head);
  if (f.entire_mapcount == 0) throw std::logic_error("kernel: entire mapcount underflow");
  --f.entire_mapcount;
  folio_sub_large_mapcount(f, 1, mm.id());
  charge(r, Step::rmap_update);
}

// ---------------------------------------------------------------- allocation

// mm_get_huge_zero_folio → get_huge_zero_folio: 512 zeroed frames, allocated at
// first use and kept for good (the model never frees it, as with
// CONFIG_PERSISTENT_HUGE_ZERO_FOLIO). Mappings take no reference on it.
std::optional<u64> mm_get_huge_zero_folio(KernelState& k, Recorder& r) {
  if (k.huge_zero_pfn != 0) return k.huge_zero_pfn;
  auto head = k.frames.alloc_folio(HPAGE_PMD_ORDER);
  if (!head) return std::nullopt;
  charge(r, Step::frame_alloc);
  charge_bytes(r, Step::zero, HPAGE_PMD_NR * kPageSize);  // __GFP_ZERO; free frames already read as zero
  for (u64 pfn = *head; pfn < *head + HPAGE_PMD_NR; ++pfn) k.frames.page(pfn).zero = true;
  k.huge_zero_pfn = *head;
  return head;
}

// vma_alloc_anon_folio_pmd: an order-9 folio, cleared (folio_zero_user: charged as
// 512 page clears; free frames already read as zero). Nothing if no aligned block
// is free: count_vm_event(THP_FAULT_FALLBACK), and the caller falls back to 4 KiB.
std::optional<u64> vma_alloc_anon_folio_pmd(KernelState& k, Recorder& r) {
  auto head = k.frames.alloc_folio(HPAGE_PMD_ORDER);
  if (!head) return std::nullopt;
  charge(r, Step::frame_alloc);
  charge_bytes(r, Step::zero, HPAGE_PMD_NR * kPageSize);
  return head;
}

// map_anon_folio_pmd: the PMD maps the new folio, dirty, writable if the VMA is.
void map_anon_folio_pmd(VmFault& vmf, u64 head, Recorder& r) {
  u64 entry = pmd_mkhuge(pfn_pte(head, vm_get_page_prot(vmf.vma.vm_flags)));
  entry = maybe_mkwrite(pte_mkdirty(entry), vmf.vma.vm_flags);
  folio_add_new_anon_rmap_pmd(vmf.k, vmf.mm, head, r);
  set_pmd_at(vmf.k, vmf.pmd_pa, entry, r);
  vmf.mm.rss_anon += HPAGE_PMD_NR;  // add_mm_counter(MM_ANONPAGES, HPAGE_PMD_NR)
}

// ---------------------------------------------------------------- split

// __split_huge_pmd → __split_huge_pmd_locked (or __split_huge_zero_page_pmd): the
// PMD leaf at haddr becomes its deposited PTE table, whose 512 entries map the
// same pages with the same rights, A and D. Only this mm's mapping is split; the
// folio stays whole. Cost: pte_update × 512 for set_ptes (one store per entry; the
// PMD writes are part of it), one tlb_flush_local for the flush of the old leaf,
// rmap_update × 2 for the PTE rmaps added and the PMD rmap removed.
void split_huge_pmd(KernelState& k, Mm& mm, const Vma& vma, u64 pmd_pa, u64 haddr, Recorder& r) {
  KernelFunction f(r, "__split_huge_pmd");
  const u64 old = k.mem.read64(pmd_pa);
  const u64 prot = vm_get_page_prot(vma.vm_flags);
  const u64 table = pgtable_trans_huge_withdraw(mm, haddr);
  const u64 pt_pa = table << kPageShift;
  // Both paths take the leaf away and flush it before the table is installed, so no
  // CPU ever holds a 2 MiB and a 4 KiB translation of one address (AMD erratum 383):
  // pmdp_huge_clear_flush for the zero page, pmdp_invalidate (not present, still
  // huge) otherwise. flush_pmd_tlb_range has a 2 MiB stride: one INVLPG.
  k.mem.write64(pmd_pa, is_huge_zero_pmd(k, old) ? 0 : old & ~(bit::P | _PAGE_PROTNONE));
  flush_pmd_tlb_range(k, mm, haddr, r);
  if (is_huge_zero_pmd(k, old)) {
    // __split_huge_zero_page_pmd: every PTE maps the 4 KiB zero page, special and
    // read-only; a write then takes the ordinary zero-page COW (wp_page_copy).
    for (u64 i = 0; i < HPAGE_PMD_NR; ++i) k.mem.write64(pt_pa + 8 * i, pte_mkspecial(pfn_pte(k.zero_pfn, prot)));
  } else {
    const u64 head = pmd_pfn(old);
    const bool anon_exclusive = k.frames.page(head).anon_exclusive;
    // folio_ref_add(HPAGE_PMD_NR - 1): one reference per PTE instead of one per PMD;
    // folio_add_anon_rmap_ptes(..., anon_exclusive ? RMAP_EXCLUSIVE : RMAP_NONE).
    k.frames.page(head).refcount += HPAGE_PMD_NR - 1;
    for (u64 i = 0; i < HPAGE_PMD_NR; ++i) {
      Page& p = k.frames.page(head + i);
      ++p.mapcount;
      if (anon_exclusive) p.anon_exclusive = true;
    }
    folio_add_large_mapcount(k.frames.large_folio(head), HPAGE_PMD_NR, mm.id());
    charge(r, Step::rmap_update);
    // mk_pte with vm_page_prot, plus the leaf's RW, A and D (NUMA-hinting PROT_NONE
    // is not carried over: the VMA's protection decides).
    for (u64 i = 0; i < HPAGE_PMD_NR; ++i) {
      u64 entry = pfn_pte(head + i, prot);
      if (pte_write(old)) entry = pte_mkwrite(entry);
      if (!pte_young(old)) entry = pte_mkold(entry);
      if (pte_dirty(old)) entry = pte_mkdirty(entry);
      k.mem.write64(pt_pa + 8 * i, entry);
    }
    folio_remove_rmap_pmd(k, mm, head, r);
  }
  charge(r, Step::pte_update, HPAGE_PMD_NR);
  k.mem.write64(pmd_pa, pfn_pte(table, _PAGE_TABLE));  // pmd_populate
}

// ---------------------------------------------------------------- faults

// set_huge_zero_folio via do_huge_pmd_anonymous_page's read branch.
vm_fault_t map_huge_zero_page(VmFault& vmf, u64 haddr, Recorder& r) {
  KernelState& k = vmf.k;
  auto pgtable = pte_alloc_one(k, r);
  if (!pgtable) return VM_FAULT_OOM;
  auto zero = mm_get_huge_zero_folio(k, r);
  if (!zero) {
    k.frames.put(*pgtable);
    return VM_FAULT_FALLBACK;
  }
  pgtable_trans_huge_deposit(vmf.mm, haddr, *pgtable);
  // Read-only (a private vm_page_prot has no RW), not dirty; special since 6.18,
  // so vm_normal_page_pmd finds no page behind it, like the 4 KiB zero page.
  set_pmd_at(k, vmf.pmd_pa, pte_mkspecial(pmd_mkhuge(pfn_pte(*zero, vm_get_page_prot(vmf.vma.vm_flags)))), r);
  vmf.res = Resolution::ZeroPage;
  mark_huge(r);
  return 0;
}

vm_fault_t __do_huge_pmd_anonymous_page(VmFault& vmf, u64 haddr, Recorder& r) {
  KernelFunction f(r, "__do_huge_pmd_anonymous_page");
  KernelState& k = vmf.k;
  auto folio = vma_alloc_anon_folio_pmd(k, r);
  if (!folio) return VM_FAULT_FALLBACK;
  auto pgtable = pte_alloc_one(k, r);
  if (!pgtable) {
    k.frames.put(*folio);
    return VM_FAULT_OOM;
  }
  pgtable_trans_huge_deposit(vmf.mm, haddr, *pgtable);
  map_anon_folio_pmd(vmf, *folio, r);
  vmf.res = Resolution::AnonymousPage;
  mark_huge(r);
  return 0;
}

// do_huge_pmd_anonymous_page (through create_huge_pmd): the first touch of a
// 2 MiB-aligned range. A read maps the huge zero page if use_zero_page allows;
// otherwise (and for writes) a new THP. The anon_vma is prepared first in both
// cases, so a region only ever read still has its PMDs copied by fork.
vm_fault_t do_huge_pmd_anonymous_page(VmFault& vmf, Recorder& r) {
  KernelFunction f(r, "do_huge_pmd_anonymous_page");
  const u64 haddr = vmf.address & HPAGE_PMD_MASK;
  vmf_anon_prepare(vmf);
  if (!vmf.write() && vmf.k.cfg.kernel.thp_use_zero_page) return map_huge_zero_page(vmf, haddr, r);
  return __do_huge_pmd_anonymous_page(vmf, haddr, r);
}

// do_huge_zero_wp_pmd: a write to the huge zero page gets a new THP at once (since
// 6.13; before, the PMD was split). Falls back to the split if no THP is free.
vm_fault_t do_huge_zero_wp_pmd(VmFault& vmf, u64 haddr, Recorder& r) {
  KernelFunction f(r, "do_huge_zero_wp_pmd");
  KernelState& k = vmf.k;
  auto folio = vma_alloc_anon_folio_pmd(k, r);
  if (!folio) return VM_FAULT_FALLBACK;
  // pmdp_huge_clear_flush: the zero PMD was present, so it may be cached. The
  // deposited table stays with the new mapping.
  k.mem.write64(vmf.pmd_pa, 0);
  flush_pmd_tlb_range(k, vmf.mm, haddr, r);
  map_anon_folio_pmd(vmf, *folio, r);
  vmf.res = Resolution::CowCopy;
  mark_huge(r);
  return 0;
}

// do_huge_pmd_wp_page (via wp_huge_pmd): a write to a read-only THP. Reuse the
// whole folio at PMD level if it is exclusive, or if this PMD holds its only
// reference (after the other side of a fork exited); otherwise split this mm's
// PMD and let do_wp_page copy the one 4 KiB page written.
vm_fault_t do_huge_pmd_wp_page(VmFault& vmf, u64 orig_pmd, Recorder& r) {
  KernelFunction f(r, "do_huge_pmd_wp_page");
  KernelState& k = vmf.k;
  const u64 haddr = vmf.address & HPAGE_PMD_MASK;
  if (is_huge_zero_pmd(k, orig_pmd)) {
    const vm_fault_t ret = do_huge_zero_wp_pmd(vmf, haddr, r);
    if (!(ret & VM_FAULT_FALLBACK)) return ret;
    split_huge_pmd(k, vmf.mm, vmf.vma, vmf.pmd_pa, haddr, r);
    return VM_FAULT_FALLBACK;
  }
  Page& head = k.frames.page(pmd_pfn(orig_pmd));
  if (!head.anon_exclusive) {
    // folio_ref_count > 1: another mm's PMD, or PTEs of a split elsewhere.
    if (head.refcount > 1) {
      split_huge_pmd(k, vmf.mm, vmf.vma, vmf.pmd_pa, haddr, r);
      return VM_FAULT_FALLBACK;
    }
    head.anon_exclusive = true;  // folio_move_anon_rmap + SetPageAnonExclusive
  }
  // reuse: pmdp_set_access_flags; a permission upgrade needs no flush.
  set_pmd_at(k, vmf.pmd_pa, maybe_mkwrite(pte_mkdirty(pte_mkyoung(orig_pmd)), vmf.vma.vm_flags), r);
  vmf.res = Resolution::CowReuse;
  mark_huge(r);
  return 0;
}

// huge_pmd_set_accessed: the THP already allows the access (a stale TLB entry):
// set A, and D for a write.
vm_fault_t huge_pmd_set_accessed(VmFault& vmf, u64 orig_pmd, Recorder& r) {
  KernelFunction f(r, "huge_pmd_set_accessed");
  u64 entry = pte_mkyoung(orig_pmd);
  if (vmf.write()) entry = pte_mkdirty(entry);
  if (entry != orig_pmd) set_pmd_at(vmf.k, vmf.pmd_pa, entry, r);
  vmf.res = Resolution::Spurious;
  mark_huge(r);
  return 0;
}

// can_change_pmd_writable for a private mapping: only an exclusive anonymous THP
// (never the huge zero page, never a PROT_NONE entry).
bool can_change_pmd_writable(const KernelState& k, u64 pmd) {
  if (pte_protnone(pmd) || is_huge_zero_pmd(k, pmd)) return false;
  const Page& head = k.frames.page(pmd_pfn(pmd));
  return head.anon && head.anon_exclusive;
}

}  // namespace

std::optional<u64> huge_pmd_lookup(const hw::SparseMemory& mem, const Mm& mm, u64 addr) {
  auto pmd_pa = pmd_lookup(mem, mm, addr);
  if (!pmd_pa) return std::nullopt;
  const u64 pmd = mem.read64(*pmd_pa);
  if (!pmd_trans_huge(pmd)) return std::nullopt;
  return pmd;
}

bool thp_vma_allowable_order(const KernelState& k, const Vma& vma, u64 addr) {
  // vma_thp_disabled: MADV_NOHUGEPAGE (PR_SET_THP_DISABLE is not modelled).
  if (vma.vm_flags & VM_NOHUGEPAGE) return false;
  // Anonymous private memory only: shared anonymous memory is shmem, whose THP
  // setting (shmem_enabled) defaults to never; file THPs are not modelled.
  if (!vma.is_anonymous() || vma.is_shared()) return false;
  switch (k.cfg.kernel.thp) {
    case config::ThpPolicy::Never: return false;
    case config::ThpPolicy::Madvise: if (!(vma.vm_flags & VM_HUGEPAGE)) return false; break;
    case config::ThpPolicy::Always: break;
  }
  // thp_vma_suitable_order: the aligned 2 MiB around addr lies inside the VMA.
  const u64 haddr = addr & HPAGE_PMD_MASK;
  return haddr >= vma.vm_start && haddr + HPAGE_PMD_SIZE <= vma.vm_end;
}

vm_fault_t huge_pmd_fault(VmFault& vmf, Recorder& r) {
  KernelState& k = vmf.k;
  const u64 pmd = k.mem.read64(vmf.pmd_pa);
  if (pmd == 0) {  // pmd_none
    if (!thp_vma_allowable_order(k, vmf.vma, vmf.address)) return VM_FAULT_FALLBACK;
    return do_huge_pmd_anonymous_page(vmf, r);  // create_huge_pmd
  }
  if (!pmd_trans_huge(pmd)) return VM_FAULT_FALLBACK;
  if (pte_protnone(pmd) && vmf.vma.is_accessible()) {
    // do_huge_pmd_numa_page: only NUMA hinting leaves PROT_NONE in an accessible
    // VMA, and it is not modelled; restore the VMA's protection as its end result.
    set_pmd_at(k, vmf.pmd_pa, pmd_modify(pmd, vm_get_page_prot(vmf.vma.vm_flags)), r);
    vmf.res = Resolution::Spurious;
    mark_huge(r);
    return 0;
  }
  if (vmf.write() && !pte_write(pmd)) return do_huge_pmd_wp_page(vmf, pmd, r);  // wp_huge_pmd
  return huge_pmd_set_accessed(vmf, pmd, r);
}

void split_huge_pmd_if_needed(KernelState& k, Mm& mm, u64 addr, Recorder& r) {
  // An aligned boundary cannot cut a THP.
  if ((addr & ~HPAGE_PMD_MASK) == 0) return;
  auto pmd_pa = pmd_lookup(k.mem, mm, addr);
  if (!pmd_pa || !pmd_trans_huge(k.mem.read64(*pmd_pa))) return;
  const Vma* vma = mm.vma_lookup(addr);
  if (!vma) throw std::logic_error(fmt::format("kernel: THP at {:#x} outside every VMA", addr));
  split_huge_pmd(k, mm, *vma, *pmd_pa, addr & HPAGE_PMD_MASK, r);
}

void zap_huge_pmds(KernelState& k, Mm& mm, u64 start, u64 end, MmuGather& tlb, Recorder& r) {
  walk_huge_pmds(k.mem, mm, start, end, [&](u64 haddr, u64 pmd_pa, u64 pmd) {
    if (haddr < start || haddr + HPAGE_PMD_SIZE > end) {
      // Part of the THP only (madvise DONTNEED): split, and the PTE walk zaps the part.
      const Vma* vma = mm.vma_lookup(haddr < start ? start : haddr);
      if (!vma) throw std::logic_error(fmt::format("kernel: zap of part of a THP at {:#x} without its VMA", haddr));
      split_huge_pmd(k, mm, *vma, pmd_pa, haddr, r);
      return;
    }
    // zap_huge_pmd: pmdp_huge_get_and_clear_full, tlb_remove_pmd_tlb_entry (one
    // INVLPG drops a 2 MiB entry), then the rmap, the RSS and the deposited table;
    // the folio is put only after the flush.
    k.mem.write64(pmd_pa, 0);
    charge(r, Step::pte_update);
    if (pmd & bit::P) tlb.track(haddr);
    zap_deposited_table(k, mm, haddr);
    if (is_huge_zero_pmd(k, pmd)) return;
    folio_remove_rmap_pmd(k, mm, pmd_pfn(pmd), r);
    mm.rss_anon -= HPAGE_PMD_NR;
    tlb.pages.push_back(pmd_pfn(pmd));
  });
}

void change_huge_pmds(KernelState& k, Mm& mm, const Vma& vma, MmuGather& tlb, Recorder& r) {
  const u64 newprot = vm_get_page_prot(vma.vm_flags);
  const bool try_change_writable = (vma.vm_flags & VM_WRITE) && !(vma.vm_flags & VM_SHARED);
  walk_huge_pmds(k.mem, mm, vma.vm_start, vma.vm_end, [&](u64 haddr, u64 pmd_pa, u64 oldpmd) {
    if (haddr < vma.vm_start || haddr + HPAGE_PMD_SIZE > vma.vm_end) {
      // split_huge_pmd_if_needed split it already when the VMA was cut; as
      // change_pmd_range does, split what is left and let the PTE walk change it.
      split_huge_pmd(k, mm, vma, pmd_pa, haddr, r);
      return;
    }
    // change_huge_pmd: pmd_modify, writable again only where can_change_pmd_writable.
    u64 entry = pmd_modify(oldpmd, newprot);
    if (try_change_writable && !pte_write(entry) && can_change_pmd_writable(k, entry)) entry = pte_mkwrite(entry);
    if (entry == oldpmd) return;
    k.mem.write64(pmd_pa, entry);
    charge(r, Step::pte_update);
    if (pte_flags_need_flush(oldpmd, entry)) tlb.track(haddr);  // huge_pmd_needs_flush
  });
}

bool copy_huge_pmds(KernelState& k, Mm& src_mm, Mm& dst_mm, const Vma& vma, Recorder& r) {
  bool ok = true;
  walk_huge_pmds(k.mem, src_mm, vma.vm_start, vma.vm_end, [&](u64 haddr, u64 src_pmd_pa, u64 pmd) {
    if (!ok) return;
    auto pud = pud_alloc(k, dst_mm, pgd_offset(dst_mm, haddr), haddr, r);
    auto dst_pmd_pa = pud ? pmd_alloc(k, dst_mm, *pud, haddr, r) : std::nullopt;
    auto pgtable = dst_pmd_pa ? pte_alloc_one(k, r) : std::nullopt;
    if (!pgtable) {
      ok = false;
      return;
    }
    // copy_huge_pmd. The huge zero page takes no reference; a THP gains one
    // (folio_get) and a PMD mapping in the child (folio_try_dup_anon_rmap_pmd: no
    // page is ever pinned, so never -EBUSY), and stops being exclusive.
    if (!is_huge_zero_pmd(k, pmd)) {
      const u64 head = pmd_pfn(pmd);
      k.frames.get(head);
      LargeFolio& f = k.frames.large_folio(head);
      ++f.entire_mapcount;
      folio_add_large_mapcount(f, 1, dst_mm.id());
      k.frames.page(head).anon_exclusive = false;
      dst_mm.rss_anon += HPAGE_PMD_NR;
    }
    pgtable_trans_huge_deposit(dst_mm, haddr, *pgtable);
    // pmdp_set_wrprotect on the parent (its writable TLB entries go with
    // dup_mmap's flush_tlb_mm); the child's copy read-only and old.
    k.mem.write64(src_pmd_pa, pte_wrprotect(pmd));
    k.mem.write64(*dst_pmd_pa, pte_mkold(pte_wrprotect(pmd)));
    charge(r, Step::fork_per_pte);
  });
  return ok;
}

void folio_add_rmap_pte(KernelState& k, const Mm& mm, u64 pfn) {
  Page& p = k.frames.page(pfn);
  ++p.mapcount;
  if (p.compound) folio_add_large_mapcount(k.frames.large_folio(pfn), 1, mm.id());
}

void folio_remove_rmap_pte(KernelState& k, const Mm& mm, u64 pfn) {
  Page& p = k.frames.page(pfn);
  if (p.mapcount == 0) throw std::logic_error(fmt::format("kernel: mapcount underflow on frame {:#x}", pfn));
  --p.mapcount;
  if (p.compound) folio_sub_large_mapcount(k.frames.large_folio(pfn), 1, mm.id());
}

bool wp_can_reuse_large_anon_folio(const KernelState& k, u64 pfn) {
  const LargeFolio& f = k.frames.large_folio(pfn);
  // The last PTE of a large folio is copied, so the rest of it can be freed.
  if (f.large_mapcount <= 1) return false;
  // Mapped by more than one mm (FOLIO_MM_IDS_SHARED): never reuse.
  if (f.mm_ids_shared) return false;
  // Every reference is a mapping in this mm.
  return f.large_mapcount == k.frames.page(k.frames.folio_head(pfn)).refcount;
}

}  // namespace mmusim::kernel
