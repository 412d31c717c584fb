// The invariant checker's part for transparent huge pages (huge_memory.hpp
// ThpChecker): every trans-huge PMD against its VMA and its deposited table, and
// every large folio's counts against the PMDs and PTEs that map it: refcount ==
// _large_mapcount == _entire_mapcount + the pages' _mapcounts, and the per-mm
// slots that decide __wp_can_reuse_large_anon_folio.
#include <fmt/format.h>

#include "kernel/huge_memory.hpp"

namespace mmusim::kernel {

void ThpChecker::pmd(const Mm& mm, u64 haddr, u64 pmd, u64& anon, std::vector<std::string>& errors) {
  auto fail = [&](const std::string& what) {
    errors.push_back(fmt::format("mm {}: THP PMD {:#x} at {:#x}: {}", mm.id(), pmd, haddr, what));
  };
  const Vma* vma = mm.vma_lookup(haddr);
  if (!vma || haddr + HPAGE_PMD_SIZE > vma->vm_end) return fail("not inside one VMA");
  if (!vma->is_anonymous() || vma->is_shared()) fail("in a VMA that is not anonymous and private");
  if (!mm.pmd_huge_pte.count(haddr)) fail("no deposited page table");
  if (pte_protnone(pmd) != !vma->is_accessible()) fail("PROT_NONE disagrees with the VMA");
  if ((pmd & bit::P) && pte_exec(pmd) != ((vma->vm_flags & VM_EXEC) != 0)) fail("XD disagrees with VM_EXEC");
  if (pte_write(pmd) && !(vma->vm_flags & VM_WRITE)) fail("writable in a VMA without VM_WRITE");
  if ((pmd & bit::P) && !(pmd & bit::US)) fail("lacks US");
  const u64 head = pte_pfn(pmd);
  if (head % HPAGE_PMD_NR != 0) return fail("frame not 2 MiB-aligned");
  if (pte_special(pmd)) {
    if (head != k_.huge_zero_pfn) fail("special, but not the huge zero page");
    if (pte_write(pmd)) fail("the huge zero page writable");
    return;
  }
  if (!k_.frames.folio_test_large(head) || k_.frames.folio_head(head) != head)
    return fail(fmt::format("maps {:#x}, not the head of a large folio", head));
  const Page& p = k_.frames.page(head);
  if (p.zero) return fail("maps the huge zero page without the special bit");
  if (!p.anon) fail("maps a non-anonymous folio");
  if (pte_write(pmd) && !p.anon_exclusive) fail("writable, but the folio is not exclusive");
  if (!vma->anon_vma) fail("in a VMA without anon_vma");
  anon += HPAGE_PMD_NR;
  Seen& s = seen_[head];
  ++s.pmds;
  ++s.by_mm[mm.id()];
}

void ThpChecker::pte(const Mm& mm, u64 pfn) {
  Seen& s = seen_[k_.frames.folio_head(pfn)];
  ++s.ptes;
  ++s.by_mm[mm.id()];
}

bool ThpChecker::frame(u64 pfn, const Page& p, u64 pte_maps, std::vector<std::string>& errors) {
  if (!p.compound) return false;
  auto fail = [&](const std::string& what) { errors.push_back(fmt::format("large folio frame {:#x}: {}", pfn, what)); };
  const u64 head = k_.frames.folio_head(pfn);
  if (p.zero) {
    // The huge zero folio: never PTE-mapped, never counted, one boot-like reference.
    if (head != k_.huge_zero_pfn) fail("a second huge zero page");
    if (pte_maps != 0 || p.mapcount != 0) fail("the huge zero page mapped by a PTE");
    if (p.refcount != (pfn == head ? 1u : 0u)) fail(fmt::format("huge zero page refcount {}", p.refcount));
    return true;
  }
  if (!p.anon) fail("not anonymous");
  if (p.mapcount != pte_maps) fail(fmt::format("mapcount {} but {} PTEs", p.mapcount, pte_maps));
  if (pfn != head) {
    if (p.refcount != 0) fail(fmt::format("tail page with refcount {}", p.refcount));
    return true;
  }
  const LargeFolio& f = k_.frames.large_folio(head);
  const auto it = seen_.find(head);
  const Seen s = it == seen_.end() ? Seen{} : it->second;
  if (f.entire_mapcount != s.pmds) fail(fmt::format("entire mapcount {} but {} PMDs", f.entire_mapcount, s.pmds));
  if (f.large_mapcount != s.pmds + s.ptes)
    fail(fmt::format("large mapcount {} but {} PMDs and {} PTEs", f.large_mapcount, s.pmds, s.ptes));
  // Anonymous folios are never pinned here: every reference is a mapping.
  if (p.refcount != f.large_mapcount)
    fail(fmt::format("refcount {} but large mapcount {}", p.refcount, f.large_mapcount));
  if (s.pmds + s.ptes == 0) fail("leaked: nothing maps it");
  // The per-mm slots may undercount an mm whose mappings were added while both
  // slots were taken, never overcount; and the folio is marked shared whenever more
  // than one mm maps it, which is what keeps a writer from reusing it.
  for (int i = 0; i < 2; ++i) {
    if (f.mm_id[i] == 0) {
      if (f.mm_id_mapcount[i] != 0) fail(fmt::format("free mm slot {} with count {}", i, f.mm_id_mapcount[i]));
      continue;
    }
    const auto m = s.by_mm.find(f.mm_id[i]);
    const std::int64_t actual = m == s.by_mm.end() ? 0 : static_cast<std::int64_t>(m->second);
    if (f.mm_id_mapcount[i] <= 0 || f.mm_id_mapcount[i] > actual)
      fail(fmt::format("mm slot {} (mm {}) counts {} of its {} mappings", i, f.mm_id[i], f.mm_id_mapcount[i], actual));
  }
  if (s.by_mm.size() > 1 && !f.mm_ids_shared) fail(fmt::format("mapped by {} mms but not shared", s.by_mm.size()));
  if (!f.mm_ids_shared && f.large_mapcount != 0 &&
      f.mm_id_mapcount[0] != static_cast<std::int64_t>(f.large_mapcount) &&
      f.mm_id_mapcount[1] != static_cast<std::int64_t>(f.large_mapcount))
    fail("exclusive, but no mm slot owns every mapping");
  return true;
}

void ThpChecker::deposits(const Mm& mm, std::vector<std::string>& errors) {
  for (const auto& [haddr, table] : mm.pmd_huge_pte) {
    if (!huge_pmd_lookup(k_.mem, mm, haddr))
      errors.push_back(
          fmt::format("mm {}: table {:#x} deposited at {:#x}, where no THP is mapped", mm.id(), table, haddr));
    for (u64 i = 0; i < mmu::kEntriesPerTable; ++i)
      if (k_.frames.allocated(table) && k_.mem.read64((table << kPageShift) + 8 * i) != 0) {
        errors.push_back(fmt::format("mm {}: deposited table {:#x} is not empty", mm.id(), table));
        break;
      }
  }
}

}  // namespace mmusim::kernel
