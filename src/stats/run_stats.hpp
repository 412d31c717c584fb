// The counters a run keeps on its hot path, and where its cycles went. Every cycle
// the core advances is charged to exactly one CycleKind, so the kinds add up to the
// run's total (DESIGN.md principle 4).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "kernel/kernel.hpp"

namespace mmusim::stats {

using u64 = std::uint64_t;

enum class CycleKind : unsigned char {
  Tlb,            // TLB lookups and miss handling before the walk
  Walk,           // page-walk memory accesses (entry loads, A/D updates)
  Data,           // the accesses' own memory latency
  Kernel,         // the kernel fault path (exception entry to return)
  OsEvents,       // fork, mmap, munmap ... as the trace issues them
  ContextSwitch,  // CR3 loads
  Count
};
inline constexpr std::array<std::string_view, static_cast<size_t>(CycleKind::Count)> kCycleKindNames = {
    "tlb", "walk", "data", "kernel", "os_events", "context_switch"};

struct FaultKindStats {
  u64 count = 0;
  u64 cycles = 0;
  u64 max_cycles = 0;
};

// A task's counters over an interval: `now - base`, field by field.
inline kernel::TaskCounters subtract(const kernel::TaskCounters& now, const kernel::TaskCounters& base) {
  kernel::TaskCounters d;
  d.minflt = now.minflt - base.minflt;
  d.majflt = now.majflt - base.majflt;
  for (unsigned i = 0; i < kernel::kResolutionCount; ++i) d.by_resolution[i] = now.by_resolution[i] - base.by_resolution[i];
  d.automaps = now.automaps - base.automaps;
  d.fault_cycles = now.fault_cycles - base.fault_cycles;
  return d;
}

// The run-wide counters a phase reports as differences.
struct PhaseCounters {
  u64 accesses = 0;
  u64 translations = 0;
  u64 tlb_hits = 0;
  u64 page_faults = 0;
  std::array<u64, static_cast<size_t>(CycleKind::Count)> cycles{};
};

// One phase of the run, from a `mark` to the next (the first starts at line 1):
// every counter of the run and of each task, over the phase.
struct Phase {
  std::string name;
  u64 start_line = 0;
  PhaseCounters start;                            // the run's counters when it began
  PhaseCounters counters;                         // what happened during it (set when it ends)
  std::map<std::uint32_t, kernel::TaskCounters> tasks;  // per PID, during it
};

struct RunStats {
  u64 events = 0;
  u64 skipped = 0;                 // lines skipped by --keep-going
  u64 accesses = 0;
  u64 reads = 0, writes = 0, fetches = 0;
  u64 page_splits = 0;             // accesses that crossed a 4 KiB boundary
  u64 translations = 0;
  u64 tlb_hits = 0;
  u64 page_faults = 0;             // #PF raised by the hardware (OS and bare mode)
  u64 huge_faults = 0;             // of those, resolved at PMD level (a THP or the huge zero page)
  u64 gp_faults = 0, ss_faults = 0;
  u64 context_switches = 0;
  u64 cr3_loads = 0;
  u64 expectations = 0;
  u64 expectations_failed = 0;
  u64 signals = 0;
  std::array<u64, static_cast<size_t>(CycleKind::Count)> cycles{};
  std::array<FaultKindStats, kernel::kResolutionCount> faults{};  // by kernel::Resolution
  std::vector<Phase> phases;

  PhaseCounters phase_counters() const {
    return {accesses, translations, tlb_hits, page_faults, cycles};
  }

  u64 total_cycles() const {
    u64 t = 0;
    for (u64 c : cycles) t += c;
    return t;
  }
};

}  // namespace mmusim::stats
