#include "kernel/page.hpp"

#include <stdexcept>
#include <string>

namespace mmusim::kernel {

FrameAllocator::FrameAllocator(hw::SparseMemory& mem, u64 size_bytes)
    : mem_(mem), limit_(size_bytes >> hw::SparseMemory::kFrameShift) {}

std::optional<u64> FrameAllocator::alloc() {
  u64 pfn;
  if (!free_list_.empty()) {
    pfn = free_list_.back();
    free_list_.pop_back();
  } else if (next_ < limit_) {
    pfn = next_++;
    // Metadata grows with the footprint, not with the configured memory size.
    if (pages_.size() <= pfn) {
      pages_.resize(pfn + 1);
      allocated_.resize(pfn + 1, false);
    }
  } else {
    return std::nullopt;
  }
  pages_[pfn] = Page{};
  pages_[pfn].refcount = 1;
  allocated_[pfn] = true;
  ++allocations_;
  if (++in_use_ > peak_) peak_ = in_use_;
  return pfn;
}

Page& FrameAllocator::page(u64 pfn) {
  if (!allocated(pfn)) throw std::logic_error("kernel: metadata of free frame " + std::to_string(pfn));
  return pages_[pfn];
}

const Page& FrameAllocator::page(u64 pfn) const {
  if (!allocated(pfn)) throw std::logic_error("kernel: metadata of free frame " + std::to_string(pfn));
  return pages_[pfn];
}

void FrameAllocator::get(u64 pfn) { ++page(pfn).refcount; }

bool FrameAllocator::put(u64 pfn) {
  Page& p = page(pfn);
  if (p.refcount == 0) throw std::logic_error("kernel: refcount underflow on frame " + std::to_string(pfn));
  if (--p.refcount > 0) return false;
  release(pfn);
  return true;
}

void FrameAllocator::release(u64 pfn) {
  // Discarding the contents both returns the host memory and makes the frame read
  // as zero, so a stale translation to it cannot leak the previous owner's data.
  mem_.discard_frame(pfn);
  pages_[pfn] = Page{};
  allocated_[pfn] = false;
  free_list_.push_back(pfn);
  --in_use_;
}

}  // namespace mmusim::kernel
