// The contents of simulated physical memory: 4 KiB frames that exist only where
// something was written. Reads of never-written memory return zero, as the trace
// contract requires up to 2^MAXPHYADDR. Plain C++ (no SystemC), so the kernel model
// and the pure paging rules can be tested without an elaborated simulation;
// hw::PhysMem exposes it to initiators as a TLM-2.0 target.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

namespace mmusim::hw {

class SparseMemory {
 public:
  static constexpr std::uint64_t kFrameBytes = 4096;
  static constexpr unsigned kFrameShift = 12;

  // Copies `len` bytes out of memory; bytes never written read as zero.
  // An access may span frames.
  void read(std::uint64_t pa, void* dst, std::size_t len) const;
  void write(std::uint64_t pa, const void* src, std::size_t len);

  std::uint64_t read64(std::uint64_t pa) const;
  void write64(std::uint64_t pa, std::uint64_t value);
  // Locked compare-and-exchange of an aligned quadword, as the walker's A/D update
  // (SDM §4.8: the processor sets A/D with a locked operation). Returns true if the
  // value was `expected` and has been replaced by `desired`.
  bool cmpxchg64(std::uint64_t pa, std::uint64_t expected, std::uint64_t desired);

  // Whole-frame operations, as the kernel's clear_page / copy_page.
  void zero_frame(std::uint64_t pfn);
  void copy_frame(std::uint64_t dst_pfn, std::uint64_t src_pfn);
  // Forgets the contents of a frame (it reads as zero again) and returns its storage.
  void discard_frame(std::uint64_t pfn);

  // Pointer to the bytes of a frame, creating it (zeroed) if needed: used for DMI.
  std::uint8_t* frame_data(std::uint64_t pfn);
  // Pointer to the bytes of a frame if it exists, else nullptr.
  const std::uint8_t* find_frame(std::uint64_t pfn) const;

  // Frames that currently hold stored contents (for memory-use reports).
  std::size_t resident_frames() const { return frames_.size(); }

  // Called before a frame's storage is released, so that whoever handed out a direct
  // pointer to it (PhysMem's DMI) can revoke it first.
  void set_discard_hook(std::function<void(std::uint64_t pfn)> hook) { on_discard_ = std::move(hook); }

 private:
  struct Frame {
    alignas(64) std::uint8_t bytes[kFrameBytes];
  };
  std::unordered_map<std::uint64_t, std::unique_ptr<Frame>> frames_;
  std::function<void(std::uint64_t)> on_discard_;
};

}  // namespace mmusim::hw
