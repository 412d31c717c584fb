// The page cache between its two users: filemap.cpp keeps it (mm/filemap.c,
// mm/shmem.c) and do_fault.cpp maps it (mm/memory.c do_fault and its callees).
// Not part of the public interface; the rest of the kernel reaches files through
// internal.hpp.
//
// The model's page cache is warm, as in the measurements it follows
// (linux-fault-path.md §4.4: a file read before, still cached): every page of a
// named file below EOF is "in the cache". Its frame is allocated, zeroed, the
// first time anything needs it, at no cost to the fault (the read that cached it
// happened before the trace), and stays in the cache, which holds one reference,
// until the end of the run. No fault is ever major. The unnamed shmem inode of a
// shared anonymous mapping is different: a page exists only once written or read
// (shmem_fault allocates it, and that costs), and the inode dies with its last
// mapping.
#pragma once

#include <optional>

#include "kernel/internal.hpp"

namespace mmusim::kernel {

// A folio of the page cache: the pages [index, index + nr). Named ext4 files are
// cached in folios of kernel.file_folio_pages pages, naturally aligned, smaller
// towards EOF so that none reaches past it (page_cache_ra_order never allocates
// past EOF); tmpfs files and shmem use order-0 folios (huge=never, the default).
// The pages of a folio are separate order-0 frames here: the folio is the unit
// that is cached and mapped, not a compound page.
struct FolioRange {
  u64 index = 0;
  u64 nr = 1;
  u64 last() const { return index + nr - 1; }
};
FolioRange folio_range(const KernelState& k, const File& f, u64 index);

// The frame of page `index` of `f` if the page cache has it: for a named file,
// every page below EOF (its folio is brought in whole, see above); for shmem, only
// pages already allocated. Nothing past EOF, or when memory is full.
std::optional<u64> filemap_get_page(KernelState& k, File& f, u64 index);

// vm_ops->fault (filemap_fault, shmem_fault), called by __do_fault: the page at
// vmf.pgoff, or VM_FAULT_SIGBUS past EOF, VM_FAULT_OOM without a frame. shmem
// allocates and clears a missing page of shared anonymous memory here.
vm_fault_t filemap_fault(VmFault& vmf, u64& pfn, Recorder& r);

// vm_ops->map_pages (filemap_map_pages) over [start_pgoff, end_pgoff] of the
// VMA's file: maps every cached page of that range whose PTE is none, and each
// large folio overlapping it whole where the folio lies inside the VMA and one PTE
// table. True if vmf.address got mapped.
bool filemap_map_pages(VmFault& vmf, u64 start_pgoff, u64 end_pgoff, Recorder& r);

// set_pte_range (mm/memory.c) without its cost: maps page-cache page `pfn` at
// `addr` with vm_page_prot (made writable and dirty on a write), adding the file
// rmap, the reference and the RSS. Callers charge rmap_update and pte_update per
// page, once per batch.
void set_pte_range(VmFault& vmf, u64 pte_pa, u64 pfn, bool write);

}  // namespace mmusim::kernel
