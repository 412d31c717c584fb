// Files and their page cache, after mm/filemap.c (filemap_fault,
// filemap_map_pages), mm/shmem.c (shmem_fault) and mm/mmap.c
// (vma_wants_writenotify, vma_set_page_prot); plus the map-time copy of
// kernel.cow=eager (Windows 98). See filemap.hpp for the warm-cache model.
#include "kernel/filemap.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "mmu/types.hpp"

namespace mmusim::kernel {

namespace {

constexpr u64 kPmdSize = 1ull << 21;  // what one PTE table maps

// filemap_add_folio: the new, zeroed frame `pfn` becomes page `index` of f's page
// cache, which keeps the frame's first reference.
void add_to_page_cache(KernelState& k, File& f, u64 index, u64 pfn) {
  k.mem.zero_frame(pfn);
  Page& p = k.frames.page(pfn);
  p.pagecache = true;
  p.swapbacked = f.shmem;
  p.index = index;
  f.pages.emplace(index, pfn);
}

}  // namespace

// ---------------------------------------------------------------- the file table

void file_declare(KernelState& k, const std::string& name, u64 size, bool tmpfs) {
  if (name.empty()) throw KernelError("file: the name must not be empty");
  if (k.files.count(name))
    throw KernelError(fmt::format("file \"{}\": already declared or mapped; declare a file once, before its first "
                                  "mmap",
                                  name));
  auto f = std::make_shared<File>();
  f->id = k.next_file_id++;
  f->name = name;
  f->size = size;
  f->shmem = tmpfs;
  k.files.emplace(name, std::move(f));
}

std::shared_ptr<File> file_get(KernelState& k, const std::string& name) {
  auto it = k.files.find(name);
  if (it != k.files.end()) return it->second;
  // An undeclared file: large enough, ext4 (TRACE_FORMAT.md).
  auto f = std::make_shared<File>();
  f->id = k.next_file_id++;
  f->name = name;
  f->shmem = false;
  k.files.emplace(name, f);
  return f;
}

u64 page_cache_frames(const KernelState& k) {
  u64 n = 0;
  k.frames.for_each_allocated([&](u64, const Page& p) { n += p.pagecache; });
  return n;
}

// ---------------------------------------------------------------- the page cache

FolioRange folio_range(const KernelState& k, const File& f, u64 index) {
  if (f.shmem) return {index, 1};
  const u64 end = f.nr_pages();
  u64 nr = k.cfg.kernel.file_folio_pages;  // a power of two (config::validate)
  while (nr > 1 && (index & ~(nr - 1)) + nr > end) nr >>= 1;
  return {index & ~(nr - 1), nr};
}

std::optional<u64> filemap_get_page(KernelState& k, File& f, u64 index) {
  if (auto it = f.pages.find(index); it != f.pages.end()) return it->second;
  if (f.anonymous() || index >= f.nr_pages()) return std::nullopt;
  // A named file's page is cached: bring in its whole folio. All or nothing, so a
  // folio is never half cached.
  const FolioRange folio = folio_range(k, f, index);
  std::vector<u64> added;
  for (u64 i = folio.index; i <= folio.last(); ++i) {
    if (f.pages.count(i)) continue;
    auto pfn = k.frames.alloc();  // no cost: the page was cached before the trace began
    if (!pfn) {
      for (u64 a : added) {
        f.pages.erase(k.frames.page(a).index);
        k.frames.put(a);
      }
      return std::nullopt;
    }
    add_to_page_cache(k, f, i, *pfn);
    added.push_back(*pfn);
  }
  return f.pages.at(index);
}

vm_fault_t filemap_fault(VmFault& vmf, u64& pfn, Recorder& r) {
  KernelState& k = vmf.k;
  File& f = *vmf.vma.vm_file;
  KernelFunction fn(r, f.shmem ? "shmem_fault" : "filemap_fault");
  // filemap_fault: index >= DIV_ROUND_UP(i_size, PAGE_SIZE) is SIGBUS; shmem_fault
  // → shmem_get_folio_gfp refuses it too (-EINVAL → VM_FAULT_SIGBUS).
  if (vmf.pgoff >= f.nr_pages()) return VM_FAULT_SIGBUS;
  if (auto page = filemap_get_page(k, f, vmf.pgoff)) {
    pfn = *page;
    return 0;
  }
  if (!f.anonymous()) return VM_FAULT_OOM;
  // shmem_get_folio_gfp(SGP_CACHE) on a hole of shared anonymous memory: shmem
  // allocates even for a read (it has no zero-page mapping) and clears the page.
  auto page = folio_prealloc(k, r);
  if (!page) return VM_FAULT_OOM;
  add_to_page_cache(k, f, vmf.pgoff, *page);
  charge_bytes(r, Step::zero, kPageSize);
  pfn = *page;
  return 0;
}

bool filemap_map_pages(VmFault& vmf, u64 start_pgoff, u64 end_pgoff, Recorder& r) {
  KernelFunction fn(r, "filemap_map_pages");
  KernelState& k = vmf.k;
  const Vma& vma = vmf.vma;
  File& f = *vma.vm_file;
  // Nothing is mapped past EOF: SIGBUS must stay possible there.
  if (f.nr_pages() == 0) return false;
  end_pgoff = std::min(end_pgoff, f.nr_pages() - 1);
  const u64 pt_pfn = pte_pfn(k.mem.read64(vmf.pmd_pa));
  const u64 vma_last = vma.vm_pgoff + vma.pages() - 1;
  bool mapped_target = false;
  u64 mapped = 0;
  u64 index = start_pgoff;
  while (index <= end_pgoff) {
    if (f.anonymous()) {
      // shmem: only the pages that exist; holes are left to shmem_fault.
      auto it = f.pages.lower_bound(index);
      if (it == f.pages.end() || it->first > end_pgoff) break;
      index = it->first;
    }
    if (!filemap_get_page(k, f, index)) break;  // out of frames: map what we have
    const FolioRange folio = folio_range(k, f, index);
    // filemap_map_folio_range: the part of the folio inside the window, or the
    // whole folio when it lies inside the VMA and does not cross a PMD boundary
    // (357b92761d94 "map entire large folio faultaround", 6.18). A model folio
    // never reaches past EOF, so the i_size rule of 74207de2ba10 always allows it.
    u64 from = index, to = std::min(folio.last(), end_pgoff);
    const u64 addr0 = vma.vm_start + ((folio.index - vma.vm_pgoff) << kPageShift);
    if (folio.nr > 1 && folio.index >= vma.vm_pgoff && folio.last() <= vma_last &&
        addr0 / kPmdSize == (addr0 + (folio.nr << kPageShift) - 1) / kPmdSize) {
      from = folio.index;
      to = folio.last();
    }
    for (u64 i = from; i <= to; ++i) {
      const u64 addr = vma.vm_start + ((i - vma.vm_pgoff) << kPageShift);
      const u64 pte_pa = table_entry_pa(pt_pfn, addr, mmu::Level::PTE);
      if (!pte_none(k.mem.read64(pte_pa))) continue;  // mapped already (or a private copy)
      set_pte_range(vmf, pte_pa, f.pages.at(i), false);
      ++mapped;
      if (addr == vmf.address) mapped_target = true;
    }
    index = folio.last() + 1;
  }
  charge(r, Step::rmap_update, mapped);
  charge(r, Step::pte_update, mapped);
  return mapped_target;
}

// ---------------------------------------------------------------- write-notify

bool vma_wants_writenotify(const Vma& vma) {
  // Only a shared writable mapping can be written without a COW fault.
  if ((vma.vm_flags & (VM_WRITE | VM_SHARED)) != (VM_WRITE | VM_SHARED)) return false;
  // ->page_mkwrite, and dirty accounting (mapping_can_writeback): ext4 has both,
  // shmem neither.
  return vma.vm_file && !vma.vm_file->shmem;
}

u64 vma_page_prot(const Vma& vma) {
  // vma_set_page_prot: vm_page_prot of the flags without VM_SHARED is the
  // read-only PAGE_COPY family, so the first write to each page faults.
  return vm_get_page_prot(vma_wants_writenotify(vma) ? vma.vm_flags & ~VM_SHARED : vma.vm_flags);
}

// ---------------------------------------------------------------- kernel.cow=eager

u64 cow_eager_populate(KernelState& k, Mm& mm, u64 start, u64 end) {
  // Windows 98 had no copy-on-write: mapping an image with a *_WRITECOPY
  // protection copied it at once (seeds/004). So every page below EOF of a
  // private writable file mapping gets its private anonymous copy now, as
  // wp_page_copy would make it at the first write: later writes do not fault.
  // These copies are no page faults: min_flt does not count them. Their cost
  // (frame_alloc and a 4 KiB copy per page, with the rmap and PTE updates and any page
  // table) is charged to the mmap that makes them.
  Recorder r(k.cost);
  for (u64 addr = start; addr < end; addr += kPageSize) {
    Vma* vma = mm.vma_lookup(addr);
    if (!vma || !vma->vm_file) break;
    File& f = *vma->vm_file;
    const u64 index = vma->pgoff_of(addr);
    if (index >= f.nr_pages()) break;  // past EOF: left to SIGBUS
    auto pte_pa = pte_alloc_walk(k, mm, addr, r);
    if (!pte_pa || !pte_none(k.mem.read64(*pte_pa))) continue;
    // Out of memory, the rest stays lazy (copied at its first write), rather than
    // failing an mmap that Linux would not fail.
    auto src = filemap_get_page(k, f, index);
    if (!src) break;
    auto dst = folio_prealloc(k, r);
    if (!dst) break;
    k.mem.copy_frame(*dst, *src);
    charge_bytes(r, Step::copy, kPageSize);
    if (!vma->anon_vma) vma->anon_vma = k.new_anon_vma();
    folio_add_new_anon_rmap(k, *dst, r);
    ++mm.rss_anon;
    const u64 entry = maybe_mkwrite(pte_mkdirty(pfn_pte(*dst, vma_page_prot(*vma))), vma->vm_flags);
    set_pte_at(k, *pte_pa, entry, r);
  }
  return r.total();
}

}  // namespace mmusim::kernel
