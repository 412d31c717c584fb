// Physical frames and their metadata: the model's `struct page` (an order-0 folio,
// or one page of a PMD-sized large folio, a THP; include/linux/mm_types.h) and a
// frame allocator standing in for the buddy allocator (mm/page_alloc.c). Frame
// contents live in hw::SparseMemory.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "hw/sparse_memory.hpp"

namespace mmusim::kernel {

using u64 = std::uint64_t;

struct Page {
  // folio_ref_count: one per mapping PTE, one for the page cache holding it, one
  // for a page-table page's owner. The page is freed when it drops to zero
  // (folio_put).
  std::uint32_t refcount = 0;
  // folio_mapcount: PTEs that map the page. Linux stores _mapcount off by one
  // (-1 = unmapped); here 0 means unmapped.
  std::uint32_t mapcount = 0;
  bool anon = false;            // PageAnon: mapping is an anon_vma
  // PageAnonExclusive (include/linux/page-flags.h): this process's PTE is the only
  // one, so a write may reuse the page without a copy. Cleared when fork shares it.
  bool anon_exclusive = false;
  bool pagetable = false;       // PageTable: a paging-structure page
  bool zero = false;            // the shared zero page (is_zero_pfn)
  bool pagecache = false;       // in a File's page cache at `index` (mapping is an address_space)
  // PG_swapbacked of a page-cache page: a shmem/tmpfs page, counted in MM_SHMEMPAGES
  // rather than MM_FILEPAGES (mm_counter_file).
  bool swapbacked = false;
  bool dirty = false;           // PG_dirty: written through a shared mapping (folio_mark_dirty)
  u64 index = 0;                // page->index: offset in the file, in pages
  // A page of a large folio (FrameAllocator::alloc_folio, a THP): its refcount and
  // the folio-wide mapcounts live with the head (LargeFolio); mapcount and
  // anon_exclusive above stay per page (_mapcount, PageAnonExclusive).
  bool compound = false;
};

// The folio-wide fields of a large folio (the head's and the second and third
// struct page's: include/linux/mm_types.h struct folio). The refcount is the
// head's Page::refcount; tails keep 0, as Linux's do.
struct LargeFolio {
  unsigned order = 0;                  // folio_order
  std::uint32_t entire_mapcount = 0;   // _entire_mapcount: PMD mappings of the whole folio
  std::uint32_t large_mapcount = 0;    // _large_mapcount: every PMD and PTE mapping
  // _mm_id[2], _mm_id_mapcount[2] and FOLIO_MM_IDS_SHARED_BIT (CONFIG_MM_ID,
  // include/linux/rmap.h): the mappings of up to two mms are counted per mm, and
  // `mm_ids_shared` says the folio may be mapped by more than one. Counts are
  // natural here (0 = none; Linux stores them off by one); mm id 0 is MM_ID_DUMMY.
  u64 mm_id[2] = {0, 0};
  std::int64_t mm_id_mapcount[2] = {0, 0};
  bool mm_ids_shared = false;
};

class FrameAllocator {
 public:
  // Frames are the 4 KiB pages of [0, size_bytes); pfn 0 is never handed out, so a
  // zero entry can never be mistaken for a mapping of it.
  FrameAllocator(hw::SparseMemory& mem, u64 size_bytes);

  // A free frame with refcount 1 and clear flags, or nothing if memory is full.
  // Its contents read as zero (freed frames are discarded).
  std::optional<u64> alloc();
  // 2^order free frames, physically contiguous and aligned to their size, as one
  // large folio: the head (returned) has refcount 1, every page is `compound` and
  // reads as zero. Only PMD-sized folios (order 9, a THP) are supported. Nothing if
  // no such block is free: there is no compaction, so the caller falls back to
  // order-0 pages as Linux does when __folio_alloc fails (THP_FAULT_FALLBACK).
  std::optional<u64> alloc_folio(unsigned order);
  // folio_get / folio_put: a reference more or less on the frame's folio (its head
  // for a page of a large folio); the last put frees the frame, or every frame of
  // the large folio.
  void get(u64 pfn);
  bool put(u64 pfn);  // true if this freed the folio
  // page_folio: the head of the frame's folio (the frame itself if order-0).
  u64 folio_head(u64 pfn) const;
  // folio_test_large: the frame belongs to a large folio.
  bool folio_test_large(u64 pfn) const { return allocated(pfn) && pages_[pfn].compound; }
  // The folio-wide fields of the large folio holding `pfn`.
  LargeFolio& large_folio(u64 pfn);
  const LargeFolio& large_folio(u64 pfn) const;

  bool allocated(u64 pfn) const { return pfn < allocated_.size() && allocated_[pfn]; }
  Page& page(u64 pfn);
  const Page& page(u64 pfn) const;

  u64 in_use() const { return in_use_; }
  u64 peak_in_use() const { return peak_; }
  u64 capacity() const { return limit_ > 0 ? limit_ - 1 : 0; }
  u64 available() const { return capacity() - in_use_; }
  u64 allocations() const { return allocations_; }

  // Calls fn(pfn, page) for every allocated frame, in pfn order.
  template <class Fn>
  void for_each_allocated(Fn&& fn) const {
    for (u64 pfn = 1; pfn < allocated_.size(); ++pfn)
      if (allocated_[pfn]) fn(pfn, pages_[pfn]);
  }

 private:
  void release(u64 pfn);
  void grow(u64 pfns);         // metadata for every pfn below `pfns`
  void mark(u64 pfn, bool used);

  hw::SparseMemory& mem_;
  u64 limit_;                  // one past the highest pfn
  u64 next_ = 1;               // frames at or above it were never handed out
  std::vector<u64> free_list_; // freed frames, reused last-freed first (hot)
  std::vector<Page> pages_;    // indexed by pfn, grown as frames are first used
  std::vector<bool> allocated_;
  std::vector<bool> listed_;   // the pfn has an entry in free_list_ (stale if a folio took it)
  // Allocated frames per naturally aligned 512-frame block: a block at 0 is free
  // for alloc_folio (the buddy allocator's free order-9 pages).
  std::vector<std::uint16_t> block_used_;
  std::unordered_map<u64, LargeFolio> large_;  // by head pfn
  u64 in_use_ = 0, peak_ = 0, allocations_ = 0;
};

}  // namespace mmusim::kernel
