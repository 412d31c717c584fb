// The hardware page walker: runs the pure walk (mmu/walk.hpp) with every paging-
// structure entry read from physical memory through a TLM-2.0 initiator socket,
// and each A/D update done as a locked read-modify-write of the entry (SDM §4.8).
// The time of a walk is the time the memory hierarchy (hw::MemoryTiming: the data
// caches, or a fixed latency) gives each of its entry accesses, plus any delay its
// transactions annotate (none, as System wires memory: timing is MemoryTiming's).
#pragma once

#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>

#include "hw/memory_timing.hpp"
#include "mmu/walk.hpp"

namespace mmusim::mmu {

struct WalkStats {
  std::uint64_t walks = 0;
  std::uint64_t loads = 0;        // entry reads
  std::uint64_t ad_writes = 0;    // A/D read-modify-writes that changed an entry
  std::uint64_t dmi_loads = 0;    // entry loads served through DMI
  std::uint64_t cycles = 0;
  std::uint64_t faults = 0;
  std::uint64_t levels_skipped = 0;  // levels not read because a walk started part-way (PSC hit)
  std::uint64_t partial_walks = 0;   // walks that started part-way
  // Where each entry access (load or A/D write) was served, indexed by hw::ServedBy.
  std::uint64_t served[hw::kServedByCount] = {};
};

// Entry loads go through DMI where memory grants it (one 4 KiB frame per grant,
// remembered in a small direct-mapped table), and through b_transport otherwise;
// either way an access costs what MemoryTiming says, so timing does not depend on
// the path. Memory revokes a grant before it frees the frame.
class PageWalker : public sc_core::sc_module, private PagingMemory {
 public:
  tlm_utils::simple_initiator_socket<PageWalker> socket;

  PageWalker(sc_core::sc_module_name name, sc_core::sc_time clock_period, hw::MemoryTiming& timing);

  struct Outcome {
    WalkResult result;
    std::uint64_t cycles = 0;
  };
  Outcome walk(const Access& a, const ControlRegs& cr);
  // The walk from `start` (a paging-structure cache hit): the levels above it are not
  // read, so they cost no memory transactions (SDM §4.10.3.2).
  Outcome walk(const Access& a, const ControlRegs& cr, const WalkStart& start);

  const WalkStats& stats() const { return stats_; }

 private:
  u64 load64(u64 pa) override;
  bool cmpxchg64(u64 pa, u64 expected, u64 desired) override;
  void transact(tlm::tlm_command cmd, u64 pa, u64& data);
  // The bytes of the frame holding `pa` through DMI, or nullptr (then b_transport).
  unsigned char* dmi_frame(u64 pa);
  void invalidate_direct_mem_ptr(sc_dt::uint64 start, sc_dt::uint64 end);
  // The time of one entry access, from the memory hierarchy.
  void charge(u64 pa, bool write) {
    const hw::Served s = timing_.access(pa, write, hw::Requester::PageWalk);
    cycles_ += s.cycles;
    ++stats_.served[static_cast<unsigned>(s.level)];
  }

  struct DmiSlot {
    u64 frame = ~0ull;             // pa >> 12, or none
    unsigned char* bytes = nullptr;
  };
  // Direct-mapped by frame number: 65,536 slots (1 MiB) hold the page tables of 128 GiB
  // of 4 KiB mappings (512 PTE pages map 1 GiB), so a walk over a large footprint
  // seldom asks memory again; asking costs a TLM call and a hash lookup in memory.
  static constexpr unsigned kDmiSlots = 65536;
  std::vector<DmiSlot> dmi_ = std::vector<DmiSlot>(kDmiSlots);
  sc_core::sc_time dmi_read_latency_;
  sc_core::sc_time dmi_write_latency_;
  hw::MemoryTiming& timing_;
  std::uint64_t cycles_ = 0;       // of the current walk, from timing_
  bool dmi_hinted_ = false;        // memory marked a transaction DMI-allowed: worth asking

  sc_core::sc_time period_;
  sc_core::sc_time delay_;
  tlm::tlm_generic_payload tx_;
  tlm::tlm_generic_payload dmi_tx_;
  WalkStats stats_;
};

}  // namespace mmusim::mmu
