#include "hw/sparse_memory.hpp"

#include <algorithm>
#include <cstring>

namespace mmusim::hw {

const std::uint8_t* SparseMemory::find_frame(std::uint64_t pfn) const {
  auto it = frames_.find(pfn);
  return it == frames_.end() ? nullptr : it->second->bytes;
}

std::uint8_t* SparseMemory::frame_data(std::uint64_t pfn) {
  auto& slot = frames_[pfn];
  if (!slot) {
    slot = std::make_unique<Frame>();
    std::memset(slot->bytes, 0, kFrameBytes);
  }
  return slot->bytes;
}

void SparseMemory::read(std::uint64_t pa, void* dst, std::size_t len) const {
  auto* out = static_cast<std::uint8_t*>(dst);
  while (len > 0) {
    const std::uint64_t off = pa & (kFrameBytes - 1);
    const std::size_t chunk = std::min<std::size_t>(len, kFrameBytes - off);
    if (const std::uint8_t* f = find_frame(pa >> kFrameShift))
      std::memcpy(out, f + off, chunk);
    else
      std::memset(out, 0, chunk);
    out += chunk;
    pa += chunk;
    len -= chunk;
  }
}

void SparseMemory::write(std::uint64_t pa, const void* src, std::size_t len) {
  const auto* in = static_cast<const std::uint8_t*>(src);
  while (len > 0) {
    const std::uint64_t off = pa & (kFrameBytes - 1);
    const std::size_t chunk = std::min<std::size_t>(len, kFrameBytes - off);
    std::memcpy(frame_data(pa >> kFrameShift) + off, in, chunk);
    in += chunk;
    pa += chunk;
    len -= chunk;
  }
}

std::uint64_t SparseMemory::read64(std::uint64_t pa) const {
  std::uint64_t v = 0;
  read(pa, &v, sizeof v);
  return v;
}

void SparseMemory::write64(std::uint64_t pa, std::uint64_t value) { write(pa, &value, sizeof value); }

bool SparseMemory::cmpxchg64(std::uint64_t pa, std::uint64_t expected, std::uint64_t desired) {
  // One simulation thread owns memory at a time, so the read and the write cannot
  // interleave with another initiator's; the comparison still matters for callers
  // that read the entry earlier (a walker racing a kernel store in a later issue).
  if (read64(pa) != expected) return false;
  write64(pa, desired);
  return true;
}

void SparseMemory::zero_frame(std::uint64_t pfn) { discard_frame(pfn); }

void SparseMemory::copy_frame(std::uint64_t dst_pfn, std::uint64_t src_pfn) {
  const std::uint8_t* src = find_frame(src_pfn);
  if (!src) {
    discard_frame(dst_pfn);
    return;
  }
  std::memcpy(frame_data(dst_pfn), src, kFrameBytes);
}

void SparseMemory::discard_frame(std::uint64_t pfn) {
  auto it = frames_.find(pfn);
  if (it == frames_.end()) return;
  if (on_discard_) on_discard_(pfn);
  frames_.erase(it);
}

}  // namespace mmusim::hw
