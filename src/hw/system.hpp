// The simulated machine, wired from a configuration: physical memory and its timing
// (data caches or a fixed latency), one core with its MMU (TLBs, paging-structure
// caches and page walker), and the kernel model the core starts on
// demand. Elaborated once per process (SystemC cannot rebuild modules after
// sc_start), run once to the end of its event source.
#pragma once

#include <memory>

#include "config/config.hpp"
#include "hw/core.hpp"
#include "hw/event_source.hpp"
#include "hw/memory_timing.hpp"
#include "hw/phys_mem.hpp"
#include "hw/sparse_memory.hpp"
#include "mmu/mmu.hpp"

namespace mmusim::hw {

class System {
 public:
  System(const config::Config& cfg, EventSource& events, RunOptions outputs);

  // Simulates until the events run out (or an error stops the core).
  void run();

  const Core& core() const { return core_; }
  const mmu::Mmu& mmu() const { return mmu_; }
  const PhysMem& memory() const { return mem_; }
  const MemoryTiming& timing() const { return timing_; }
  const SparseMemory& store() const { return store_; }
  const config::Config& config() const { return cfg_; }

 private:
  const config::Config& cfg_;
  SparseMemory store_;
  MemoryTiming timing_;
  PhysMem mem_;
  mmu::Mmu mmu_;
  Core core_;
};

// Turns off SystemC's start-up banner, which would otherwise interleave with the
// program output; call before the first module is built.
void quiet_systemc();

}  // namespace mmusim::hw
