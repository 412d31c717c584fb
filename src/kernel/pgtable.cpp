#include "kernel/pgtable.hpp"

#include <stdexcept>

#include "kernel/internal.hpp"

namespace mmusim::kernel {

using mmu::Level;

namespace {

constexpr u64 kPgdSpan = 1ull << 39;  // what one PML4E maps
constexpr u64 kPudSpan = 1ull << 30;  // one PDPTE
constexpr u64 kPmdSpan = 1ull << 21;  // one PDE

// A zeroed page-table page owned by `mm` (pte_alloc_one / pmd_alloc_one /
// pud_alloc_one: __GFP_ZERO).
std::optional<u64> alloc_pgtable_page(KernelState& k, Mm& mm, Recorder& r) {
  auto pfn = k.frames.alloc();
  if (!pfn) return std::nullopt;
  k.frames.page(*pfn).pagetable = true;
  k.mem.zero_frame(*pfn);
  ++mm.nr_pgtables;
  charge(r, Step::pgtable_alloc);
  return pfn;
}

// The common shape of __pud_alloc / __pmd_alloc / __pte_alloc: populate the upper
// entry with a fresh table if it is none, then index into it.
std::optional<u64> next_level(KernelState& k, Mm& mm, u64 upper_pa, u64 addr, Level level, Recorder& r) {
  u64 entry = k.mem.read64(upper_pa);
  if (!(entry & bit::P)) {
    auto pfn = alloc_pgtable_page(k, mm, r);
    if (!pfn) return std::nullopt;
    entry = pfn_pte(*pfn, _PAGE_TABLE);
    k.mem.write64(upper_pa, entry);
  }
  return table_entry_pa(pte_pfn(entry), addr, level);
}

void free_table_page(KernelState& k, Mm& mm, u64 upper_pa) {
  const u64 pfn = pte_pfn(k.mem.read64(upper_pa));
  // A table spanning no VMA can hold no entry: every mapping lies inside a VMA and
  // removing a VMA zaps its range first. Anything else is a kernel bug.
  for (unsigned i = 0; i < mmu::kEntriesPerTable; ++i)
    if (k.mem.read64((pfn << 12) + 8ull * i) != 0)
      throw std::logic_error("kernel: freeing a page table that still has entries");
  k.mem.write64(upper_pa, 0);
  k.frames.put(pfn);
  --mm.nr_pgtables;
}

u64 span_start(u64 addr, u64 span) { return addr & ~(span - 1); }

}  // namespace

u64 mm_pgd_pfn(const Mm& mm) { return mm.pgd_pfn(); }

u64 maybe_mkwrite(u64 pte, u64 vm_flags) { return (vm_flags & VM_WRITE) ? pte_mkwrite(pte) : pte; }

u64 vm_get_page_prot(u64 vm_flags) {
  const u64 rwx = vm_flags & VM_ACCESS_FLAGS;
  if (rwx == 0) return _PAGE_PROTNONE | bit::A;  // PAGE_NONE
  u64 prot = bit::P | bit::US | bit::A;
  // Only a shared mapping may carry RW in vm_page_prot (PAGE_SHARED*); a private
  // one (PAGE_COPY*) gets RW per PTE, once the page is exclusively its own.
  if ((vm_flags & VM_SHARED) && (vm_flags & VM_WRITE)) prot |= bit::RW;
  // x86 cannot express write-only or exec-only without pkeys: both are readable.
  if (!(vm_flags & VM_EXEC)) prot |= bit::XD;
  return prot;
}

bool pte_flags_need_flush(u64 oldpte, u64 newpte) {
  // pte_needs_flush: a non-present entry cannot be cached.
  if (!(oldpte & bit::P)) return false;
  if (pte_pfn(oldpte) != pte_pfn(newpte)) return true;
  const u64 flush_on_clear = bit::D | bit::P;  // A is ignored (ignore_access)
  const u64 flush_on_change = bit::RW | bit::US | bit::PWT | bit::PCD | bit::PAT4K | bit::G |
                              mmu::kPkeyMask | bit::XD;
  const u64 diff = oldpte ^ newpte;
  return (diff & oldpte & flush_on_clear) != 0 || (diff & flush_on_change) != 0;
}

u64 pgd_offset(const Mm& mm, u64 addr) { return table_entry_pa(mm.pgd_pfn(), addr, Level::PML4E); }

std::optional<u64> pud_alloc(KernelState& k, Mm& mm, u64 pgd_pa, u64 addr, Recorder& r) {
  return next_level(k, mm, pgd_pa, addr, Level::PDPTE, r);
}

std::optional<u64> pmd_alloc(KernelState& k, Mm& mm, u64 pud_pa, u64 addr, Recorder& r) {
  return next_level(k, mm, pud_pa, addr, Level::PDE, r);
}

std::optional<u64> pte_alloc(KernelState& k, Mm& mm, u64 pmd_pa, u64 addr, Recorder& r) {
  return next_level(k, mm, pmd_pa, addr, Level::PTE, r);
}

std::optional<u64> pte_alloc_walk(KernelState& k, Mm& mm, u64 addr, Recorder& r) {
  auto pud = pud_alloc(k, mm, pgd_offset(mm, addr), addr, r);
  if (!pud) return std::nullopt;
  auto pmd = pmd_alloc(k, mm, *pud, addr, r);
  if (!pmd) return std::nullopt;
  return pte_alloc(k, mm, *pmd, addr, r);
}

std::optional<u64> pmd_lookup(const hw::SparseMemory& mem, const Mm& mm, u64 addr) {
  const u64 pgde = mem.read64(pgd_offset(mm, addr));
  if (!(pgde & bit::P)) return std::nullopt;
  const u64 pude = mem.read64(table_entry_pa(pte_pfn(pgde), addr, Level::PDPTE));
  if (!(pude & bit::P)) return std::nullopt;
  return table_entry_pa(pte_pfn(pude), addr, Level::PDE);
}

std::optional<u64> pte_lookup(const hw::SparseMemory& mem, const Mm& mm, u64 addr) {
  auto pmd = pmd_lookup(mem, mm, addr);
  if (!pmd) return std::nullopt;
  const u64 pmde = mem.read64(*pmd);
  if (!(pmde & bit::P) || (pmde & bit::PS)) return std::nullopt;
  return table_entry_pa(pte_pfn(pmde), addr, Level::PTE);
}

u64 free_pgtables(KernelState& k, Mm& mm, u64 start, u64 end) {
  if (start >= end) return 0;
  u64 freed = 0;
  // Bottom-up within each upper table, so a PMD table is judged after its PTE
  // tables went. A span is freed only if no VMA meets it: what free_pgd_range's
  // floor/ceiling (the neighbouring VMAs) amount to.
  for (u64 a1 = span_start(start, kPgdSpan); a1 < end; a1 += kPgdSpan) {
    const u64 pgd_pa = pgd_offset(mm, a1);
    const u64 pgde = k.mem.read64(pgd_pa);
    if (pgde & bit::P) {
      const u64 e1 = a1 + kPgdSpan < end ? a1 + kPgdSpan : end;
      for (u64 a2 = span_start(a1 > start ? a1 : start, kPudSpan); a2 < e1; a2 += kPudSpan) {
        const u64 pud_pa = table_entry_pa(pte_pfn(pgde), a2, Level::PDPTE);
        const u64 pude = k.mem.read64(pud_pa);
        if (!(pude & bit::P)) continue;
        const u64 e2 = a2 + kPudSpan < end ? a2 + kPudSpan : end;
        for (u64 a3 = span_start(a2 > start ? a2 : start, kPmdSpan); a3 < e2; a3 += kPmdSpan) {
          const u64 pmd_pa = table_entry_pa(pte_pfn(pude), a3, Level::PDE);
          if (!(k.mem.read64(pmd_pa) & bit::P)) continue;
          if (mm.intersects(a3, a3 + kPmdSpan)) continue;
          free_table_page(k, mm, pmd_pa);
          ++freed;
        }
        if (mm.intersects(a2, a2 + kPudSpan)) continue;
        free_table_page(k, mm, pud_pa);
        ++freed;
      }
    }
    if ((k.mem.read64(pgd_pa) & bit::P) && !mm.intersects(a1, a1 + kPgdSpan)) {
      free_table_page(k, mm, pgd_pa);
      ++freed;
    }
  }
  return freed;
}

void free_all_pgtables(KernelState& k, Mm& mm) {
  const u64 pgd = mm.pgd_pfn();
  for (unsigned i = 0; i < mmu::kEntriesPerTable; ++i) {
    const u64 pgde = k.mem.read64((pgd << 12) + 8ull * i);
    if (!(pgde & bit::P)) continue;
    const u64 pud = pte_pfn(pgde);
    for (unsigned j = 0; j < mmu::kEntriesPerTable; ++j) {
      const u64 pude = k.mem.read64((pud << 12) + 8ull * j);
      if (!(pude & bit::P)) continue;
      const u64 pmd = pte_pfn(pude);
      for (unsigned l = 0; l < mmu::kEntriesPerTable; ++l) {
        const u64 pmde = k.mem.read64((pmd << 12) + 8ull * l);
        if (pmde & bit::P) k.frames.put(pte_pfn(pmde));
      }
      k.frames.put(pmd);
    }
    k.frames.put(pud);
  }
  k.frames.put(pgd);
  mm.nr_pgtables = 0;
}

}  // namespace mmusim::kernel
