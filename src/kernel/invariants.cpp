// The consistency checker of DESIGN.md principle 5: page tables against VMAs,
// frames' refcount/mapcount against the PTEs that map them, no frame leaked. It
// states the invariants the Linux code relies on (e.g. a writable PTE of a
// private mapping maps an exclusive anonymous page) so tests can assert them
// after every event.
#include <fmt/format.h>

#include <set>
#include <unordered_map>

#include "kernel/huge_memory.hpp"
#include "kernel/internal.hpp"

namespace mmusim::kernel {

namespace {

struct Checker {
  const KernelState& k;
  std::vector<std::string> errors;
  std::unordered_map<u64, u64> mappings;   // pfn → PTEs mapping it
  std::unordered_map<u64, u64> tables;     // pfn → times seen as a page table
  std::set<const File*> objects;         // every live page cache: mapped, or named
  ThpChecker thp{k};                       // THP leaves and large folios (huge_memory_check.cpp)

  // The processes whose address space `mm` is, for a report a user can act on.
  std::string who(const Mm& mm) const {
    std::string pids;
    for (const auto& [pid, t] : k.tasks)
      if (t.mm == &mm) pids += fmt::format("{}{}", pids.empty() ? "" : ",", pid);
    return pids.empty() ? fmt::format("mm {} (no live task)", mm.id()) : fmt::format("pid {}", pids);
  }

  template <class... Args>
  void fail(fmt::format_string<Args...> f, Args&&... args) {
    errors.push_back(fmt::format(f, std::forward<Args>(args)...));
  }

  void table(u64 pfn, const Mm& mm) {
    ++tables[pfn];
    if (!k.frames.allocated(pfn)) return fail("{}: page table {:#x} is a free frame", who(mm), pfn);
    if (!k.frames.page(pfn).pagetable) fail("{}: page table {:#x} lacks PageTable", who(mm), pfn);
  }

  void leaf(const Mm& mm, u64 va, u64 pte, u64& anon, u64& shmem, u64& file) {
    const Vma* vma = mm.vma_lookup(va);
    if (!vma) return fail("{}: PTE {:#x} at {:#x} outside every VMA", who(mm), pte, va);
    if (!pte_present(pte)) return fail("{}: non-present, non-none PTE {:#x} at {:#x}", who(mm), pte, va);
    if (pte_protnone(pte) != !vma->is_accessible())
      fail("{}: PTE {:#x} at {:#x}: PROT_NONE disagrees with the VMA", who(mm), pte, va);
    if ((pte & bit::P) && pte_exec(pte) != ((vma->vm_flags & VM_EXEC) != 0))
      fail("{}: PTE {:#x} at {:#x}: XD disagrees with VM_EXEC", who(mm), pte, va);
    if (pte_write(pte) && !(vma->vm_flags & VM_WRITE))
      fail("{}: PTE {:#x} at {:#x} writable in a VMA without VM_WRITE", who(mm), pte, va);
    if ((pte & bit::P) && !(pte & bit::US)) fail("{}: user PTE {:#x} at {:#x} lacks US", who(mm), pte, va);
    const u64 pfn = pte_pfn(pte);
    if (pte_special(pte)) {
      if (pfn != k.zero_pfn) fail("{}: special PTE at {:#x} is not the zero page", who(mm), va);
      if (pte_write(pte)) fail("{}: zero page writable at {:#x}", who(mm), va);
      if (vma->is_shared()) fail("{}: zero page in a shared mapping at {:#x}", who(mm), va);
      return;
    }
    ++mappings[pfn];
    if (!k.frames.allocated(pfn)) return fail("{}: {:#x} maps free frame {:#x}", who(mm), va, pfn);
    const Page& p = k.frames.page(pfn);
    if (p.pagetable || p.zero) return fail("{}: {:#x} maps kernel frame {:#x}", who(mm), va, pfn);
    if (p.compound) thp.pte(mm, pfn);
    if (!p.anon) {
      // A page-cache page: the VMA's file's page at this offset, in private file
      // mappings only until written (never writable: a write copies it), in
      // write-notify mappings writable only once dirtied by the write fault.
      ++(p.swapbacked ? shmem : file);
      const File* f = vma->vm_file.get();
      auto it = f ? f->pages.find(vma->pgoff_of(va)) : std::map<u64, u64>::const_iterator{};
      if (!p.pagecache || !f || it == f->pages.end() || it->second != pfn)
        fail("{}: {:#x} maps {:#x}, not its page-cache page", who(mm), va, pfn);
      if (pte_write(pte) && !vma->is_shared())
        fail("{}: page-cache page {:#x} writable in the private mapping at {:#x}", who(mm), pfn, va);
      if (pte_write(pte) && !pte_dirty(pte) && vma_wants_writenotify(*vma))
        fail("{}: clean writable PTE at {:#x} in a write-notify mapping", who(mm), va);
    } else {
      ++anon;
      if (vma->is_shared()) fail("{}: anonymous page {:#x} in the shared mapping at {:#x}", who(mm), pfn, va);
      if (!p.anon) fail("{}: private {:#x} maps non-anonymous frame {:#x}", who(mm), va, pfn);
      if (pte_write(pte) && !p.anon_exclusive)
        fail("{}: writable PTE at {:#x} maps a non-exclusive page {:#x}", who(mm), va, pfn);
      if (!vma->anon_vma) fail("{}: anonymous page at {:#x} in a VMA without anon_vma", who(mm), va);
    }
  }

  void mm(const Mm& mm) {
    table(mm.pgd_pfn(), mm);
    u64 anon = 0, shmem = 0, file = 0;
    for (const auto& [start, v] : mm.vmas())
      if (v.vm_file) objects.insert(v.vm_file.get());
    const hw::SparseMemory& mem = k.mem;
    for (u64 i = 0; i < 512; ++i) {
      const u64 e4 = mem.read64((mm.pgd_pfn() << 12) + 8 * i);
      if (!e4) continue;
      if (e4 != pfn_pte(pte_pfn(e4), _PAGE_TABLE)) fail("{}: PML4E {} = {:#x}", who(mm), i, e4);
      table(pte_pfn(e4), mm);
      for (u64 j = 0; j < 512; ++j) {
        const u64 e3 = mem.read64((pte_pfn(e4) << 12) + 8 * j);
        if (!e3) continue;
        if (e3 != pfn_pte(pte_pfn(e3), _PAGE_TABLE)) fail("{}: PDPTE {}/{} = {:#x}", who(mm), i, j, e3);
        table(pte_pfn(e3), mm);
        for (u64 l = 0; l < 512; ++l) {
          const u64 e2 = mem.read64((pte_pfn(e3) << 12) + 8 * l);
          if (!e2) continue;
          if (pmd_trans_huge(e2)) {
            thp.pmd(mm, (i << 39) | (j << 30) | (l << 21), e2, anon, errors);
            continue;
          }
          if (e2 != pfn_pte(pte_pfn(e2), _PAGE_TABLE)) fail("{}: PDE {}/{}/{} = {:#x}", who(mm), i, j, l, e2);
          table(pte_pfn(e2), mm);
          for (u64 n = 0; n < 512; ++n) {
            const u64 pte = mem.read64((pte_pfn(e2) << 12) + 8 * n);
            if (pte) leaf(mm, (i << 39) | (j << 30) | (l << 21) | (n << 12), pte, anon, shmem, file);
          }
        }
      }
    }
    for (const auto& [haddr, pt] : mm.pmd_huge_pte) table(pt, mm);  // deposited with THPs
    thp.deposits(mm, errors);
    if (anon != mm.rss_anon) fail("{}: rss_anon {} but {} anonymous PTEs", who(mm), mm.rss_anon, anon);
    if (shmem != mm.rss_shmem) fail("{}: rss_shmem {} but {} shmem PTEs", who(mm), mm.rss_shmem, shmem);
    if (file != mm.rss_file) fail("{}: rss_file {} but {} file PTEs", who(mm), mm.rss_file, file);
    unsigned users = 0;
    for (const auto& [pid, t] : k.tasks) users += t.mm == &mm;
    if (users != mm.users) fail("{}: mm_users {} but {} tasks", who(mm), mm.users, users);
  }

  void frames() {
    for (const auto& [name, f] : k.files) {
      objects.insert(f.get());
      if (f->name != name) fail("file table: \"{}\" holds the file \"{}\"", name, f->name);
    }
    std::unordered_map<u64, const File*> cached;
    for (const File* o : objects)
      for (const auto& [index, pfn] : o->pages) {
        if (!cached.emplace(pfn, o).second) fail("frame {:#x} cached by two files", pfn);
        if (!k.frames.allocated(pfn) || !k.frames.page(pfn).pagecache || k.frames.page(pfn).index != index ||
            k.frames.page(pfn).swapbacked != o->shmem)
          fail("file {} \"{}\": page {} → bad frame {:#x}", o->id, o->name, index, pfn);
        if (index >= o->nr_pages()) fail("file {} \"{}\": page {} cached past EOF", o->id, o->name, index);
      }
    k.frames.for_each_allocated([&](u64 pfn, const Page& p) {
      const u64 maps = mappings.count(pfn) ? mappings.at(pfn) : 0;
      if (thp.frame(pfn, p, maps, errors)) return;
      if (p.zero) {
        if (pfn != k.zero_pfn) fail("frame {:#x}: a second zero page", pfn);
      } else if (p.pagetable) {
        const u64 seen = tables.count(pfn) ? tables.at(pfn) : 0;
        if (seen != 1) fail("page table {:#x} referenced {} times", pfn, seen);
      } else if (p.anon) {
        if (p.mapcount != maps) fail("anon frame {:#x}: mapcount {} but {} PTEs", pfn, p.mapcount, maps);
        if (p.refcount != p.mapcount) fail("anon frame {:#x}: refcount {} mapcount {}", pfn, p.refcount, p.mapcount);
        if (maps == 0) fail("anon frame {:#x} leaked: no PTE maps it", pfn);
      } else if (p.pagecache) {
        // One reference per mapping PTE, one for the page cache.
        if (p.mapcount != maps) fail("page-cache frame {:#x}: mapcount {} but {} PTEs", pfn, p.mapcount, maps);
        if (p.refcount != p.mapcount + 1)
          fail("page-cache frame {:#x}: refcount {} mapcount {}", pfn, p.refcount, p.mapcount);
        if (!cached.count(pfn)) fail("page-cache frame {:#x} leaked: in no live file", pfn);
      } else {
        fail("frame {:#x} allocated but owned by nothing (refcount {})", pfn, p.refcount);
      }
    });
  }
};

}  // namespace

std::vector<std::string> check_invariants(const KernelState& k) {
  Checker c{k, {}, {}, {}, {}};
  for (const auto& [id, mm] : k.mms) c.mm(*mm);
  for (const auto& [pid, t] : k.tasks)
    if (!k.mms.count(t.mm->id())) c.fail("task {}: its mm {} is gone", pid, t.mm->id());
  c.frames();
  // With every process gone, only the zero page and the page caches of files may
  // hold frames: anything else is a leak.
  if (k.mms.empty())
    k.frames.for_each_allocated([&](u64 pfn, const Page& p) {
      if (!p.zero && !p.pagecache) c.fail("no process is left, yet frame {:#x} is in use", pfn);
    });
  return c.errors;
}

}  // namespace mmusim::kernel
