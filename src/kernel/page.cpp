#include "kernel/page.hpp"

#include <stdexcept>
#include <string>

namespace mmusim::kernel {

FrameAllocator::FrameAllocator(hw::SparseMemory& mem, u64 size_bytes)
    : mem_(mem), limit_(size_bytes >> hw::SparseMemory::kFrameShift) {}

namespace {
// alloc_folio's blocks: PMD-sized (HPAGE_PMD_ORDER), the only large order modelled.
constexpr unsigned kBlockOrder = 9;
constexpr u64 kBlock = 1ull << kBlockOrder;
}  // namespace

std::optional<u64> FrameAllocator::alloc() {
  u64 pfn = 0;
  while (pfn == 0 && !free_list_.empty()) {
    const u64 f = free_list_.back();
    free_list_.pop_back();
    listed_[f] = false;
    if (!allocated_[f]) pfn = f;  // else alloc_folio took it since it was freed
  }
  if (pfn == 0) {
    if (next_ >= limit_) return std::nullopt;
    pfn = next_++;
    grow(pfn + 1);
  }
  pages_[pfn] = Page{};
  pages_[pfn].refcount = 1;
  mark(pfn, true);
  ++allocations_;
  if (++in_use_ > peak_) peak_ = in_use_;
  return pfn;
}

std::optional<u64> FrameAllocator::alloc_folio(unsigned order) {
  if (order != kBlockOrder)
    throw std::invalid_argument("kernel: alloc_folio supports order 9 only, not " + std::to_string(order));
  // A free aligned block among the frames handed out before, lowest first (block 0
  // holds pfn 0, never free); else fresh frames, aligned up.
  u64 head = 0;
  for (u64 b = 1; b < next_ / kBlock; ++b)
    if (block_used_[b] == 0) {
      head = b * kBlock;
      break;
    }
  if (head == 0) {
    const u64 aligned = (next_ + kBlock - 1) & ~(kBlock - 1);
    if (aligned + kBlock > limit_) return std::nullopt;
    grow(aligned + kBlock);
    // The frames skipped to reach the alignment become ordinary free frames.
    for (u64 f = next_; f < aligned; ++f) {
      free_list_.push_back(f);
      listed_[f] = true;
    }
    next_ = aligned + kBlock;
    head = aligned;
  }
  // Free frames were discarded when freed (or never written): they read as zero.
  for (u64 f = head; f < head + kBlock; ++f) {
    pages_[f] = Page{};
    pages_[f].compound = true;
    mark(f, true);
  }
  pages_[head].refcount = 1;
  large_[head] = LargeFolio{order};
  ++allocations_;
  in_use_ += kBlock;
  if (in_use_ > peak_) peak_ = in_use_;
  return head;
}

void FrameAllocator::grow(u64 pfns) {
  // Metadata grows with the footprint, not with the configured memory size.
  if (pages_.size() >= pfns) return;
  pages_.resize(pfns);
  allocated_.resize(pfns, false);
  listed_.resize(pfns, false);
  block_used_.resize((pfns + kBlock - 1) / kBlock, 0);
}

void FrameAllocator::mark(u64 pfn, bool used) {
  allocated_[pfn] = used;
  if (used) ++block_used_[pfn / kBlock];
  else --block_used_[pfn / kBlock];
}

u64 FrameAllocator::folio_head(u64 pfn) const {
  // Large folios are naturally aligned, so the head is the block's first frame.
  return folio_test_large(pfn) ? pfn & ~(kBlock - 1) : pfn;
}

LargeFolio& FrameAllocator::large_folio(u64 pfn) {
  return const_cast<LargeFolio&>(static_cast<const FrameAllocator&>(*this).large_folio(pfn));
}

const LargeFolio& FrameAllocator::large_folio(u64 pfn) const {
  auto it = large_.find(folio_head(pfn));
  if (it == large_.end()) throw std::logic_error("kernel: frame " + std::to_string(pfn) + " is not in a large folio");
  return it->second;
}

Page& FrameAllocator::page(u64 pfn) {
  if (!allocated(pfn)) throw std::logic_error("kernel: metadata of free frame " + std::to_string(pfn));
  return pages_[pfn];
}

const Page& FrameAllocator::page(u64 pfn) const {
  if (!allocated(pfn)) throw std::logic_error("kernel: metadata of free frame " + std::to_string(pfn));
  return pages_[pfn];
}

void FrameAllocator::get(u64 pfn) { ++page(folio_head(pfn)).refcount; }

bool FrameAllocator::put(u64 pfn) {
  const u64 head = folio_head(pfn);
  Page& p = page(head);
  if (p.refcount == 0) throw std::logic_error("kernel: refcount underflow on frame " + std::to_string(head));
  if (--p.refcount > 0) return false;
  if (!p.compound) {
    release(head);
    return true;
  }
  // The last reference to a large folio frees all of it (free_frozen_pages of the
  // whole order), whatever parts are still unmapped.
  large_.erase(head);
  for (u64 f = head; f < head + kBlock; ++f) release(f);
  return true;
}

void FrameAllocator::release(u64 pfn) {
  // Discarding the contents both returns the host memory and makes the frame read
  // as zero, so a stale translation to it cannot leak the previous owner's data.
  mem_.discard_frame(pfn);
  pages_[pfn] = Page{};
  mark(pfn, false);
  if (!listed_[pfn]) {
    free_list_.push_back(pfn);
    listed_[pfn] = true;
  }
  --in_use_;
}

}  // namespace mmusim::kernel
