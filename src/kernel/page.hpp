// Physical frames and their metadata: the model's `struct page` (an order-0 folio,
// include/linux/mm_types.h) and a frame allocator standing in for the buddy
// allocator (mm/page_alloc.c). Frame contents live in hw::SparseMemory.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "hw/sparse_memory.hpp"

namespace mmusim::kernel {

using u64 = std::uint64_t;

struct Page {
  // folio_ref_count: one per mapping PTE, one for a shmem object's page cache, one
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
  bool shmem = false;           // in a shmem object's page cache at `index`
  u64 index = 0;                // page->index: offset in the shmem object, in pages
};

class FrameAllocator {
 public:
  // Frames are the 4 KiB pages of [0, size_bytes); pfn 0 is never handed out, so a
  // zero entry can never be mistaken for a mapping of it.
  FrameAllocator(hw::SparseMemory& mem, u64 size_bytes);

  // A free frame with refcount 1 and clear flags, or nothing if memory is full.
  // Its contents read as zero (freed frames are discarded).
  std::optional<u64> alloc();
  // folio_get / folio_put: a reference more or less; the last put frees the frame.
  void get(u64 pfn);
  bool put(u64 pfn);  // true if this freed the frame

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

  hw::SparseMemory& mem_;
  u64 limit_;                  // one past the highest pfn
  u64 next_ = 1;               // frames at or above it were never handed out
  std::vector<u64> free_list_; // freed frames, reused last-freed first (hot)
  std::vector<Page> pages_;    // indexed by pfn, grown as frames are first used
  std::vector<bool> allocated_;
  u64 in_use_ = 0, peak_ = 0, allocations_ = 0;
};

}  // namespace mmusim::kernel
