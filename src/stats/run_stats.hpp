// The counters a run keeps on its hot path, and where its cycles went. Every cycle
// a core is busy is charged to exactly one CycleKind, so the kinds add up to its busy
// time (DESIGN.md principle 4); a core's clock is its busy time plus the idle time it
// spent waiting for the trace to reach it (hw/core.hpp).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "kernel/kernel.hpp"
#include "stats/latency_histogram.hpp"

namespace mmusim::stats {

using u64 = std::uint64_t;

enum class CycleKind : unsigned char {
  Tlb,            // TLB lookups and miss handling before the walk
  Walk,           // page-walk memory accesses (entry loads, A/D updates)
  Data,           // the accesses' own memory latency
  Kernel,         // the kernel fault path (exception entry to return)
  OsEvents,       // fork, mmap, munmap ... as the trace issues them
  ContextSwitch,  // the scheduler and CR3 loads
  Ipi,            // TLB-shootdown interrupts this core took (the initiator's wait is Kernel
                  // or OsEvents: part of the fault or event that flushed)
  Count
};
inline constexpr std::array<std::string_view, static_cast<size_t>(CycleKind::Count)> kCycleKindNames = {
    "tlb", "walk", "data", "kernel", "os_events", "context_switch", "ipi"};

struct FaultKindStats {
  u64 count = 0;
  u64 cycles = 0;
  u64 max_cycles = 0;
  LatencyHistogram latency;  // of each fault's total, in cycles
};

// A task's counters over an interval: `now - base`, field by field.
inline kernel::TaskCounters subtract(const kernel::TaskCounters& now, const kernel::TaskCounters& base) {
  kernel::TaskCounters d;
  d.minflt = now.minflt - base.minflt;
  d.majflt = now.majflt - base.majflt;
  for (unsigned i = 0; i < kernel::kResolutionCount; ++i) d.by_resolution[i] = now.by_resolution[i] - base.by_resolution[i];
  d.automaps = now.automaps - base.automaps;
  d.fault_cycles = now.fault_cycles - base.fault_cycles;
  d.context_switches = now.context_switches - base.context_switches;
  d.shootdowns = now.shootdowns - base.shootdowns;
  d.ipis_sent = now.ipis_sent - base.ipis_sent;
  d.ipi_wait_cycles = now.ipi_wait_cycles - base.ipi_wait_cycles;
  d.ipis_received = now.ipis_received - base.ipis_received;
  d.ipi_handler_cycles = now.ipi_handler_cycles - base.ipi_handler_cycles;
  d.tlb_entries_shot = now.tlb_entries_shot - base.tlb_entries_shot;
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
  u64 context_switches = 0;        // `switch` events run
  u64 cr3_loads = 0;               // MOV to CR3, by the kernel or the trace
  u64 cr3_flushes = 0;             // of those, the ones that flushed their PCID
  u64 switch_tlb_entries_lost = 0; // TLB entries context switches' CR3 loads dropped
  u64 shootdowns_sent = 0;         // flushes that interrupted other cores
  u64 ipis_sent = 0;
  u64 ipi_wait_cycles = 0;         // initiator: first IPI sent to the last acknowledgement
  u64 ipis_received = 0;
  u64 tlb_entries_shot = 0;        // entries this core's TLBs lost to shootdowns
  u64 idle_cycles = 0;             // waiting for the trace (a core's clock = busy + idle)
  u64 expectations = 0;
  u64 expectations_failed = 0;
  u64 signals = 0;
  std::array<u64, static_cast<size_t>(CycleKind::Count)> cycles{};
  std::array<FaultKindStats, kernel::kResolutionCount> faults{};  // by kernel::Resolution
  std::vector<Phase> phases;

  PhaseCounters phase_counters() const {
    return {accesses, translations, tlb_hits, page_faults, cycles};
  }

  // Busy cycles: what the kinds add up to.
  u64 total_cycles() const {
    u64 t = 0;
    for (u64 c : cycles) t += c;
    return t;
  }

  // Adds another core's counters (phases are the run's, kept apart).
  RunStats& operator+=(const RunStats& o);
};

inline RunStats& RunStats::operator+=(const RunStats& o) {
  for (auto [mine, theirs] : {std::pair{&events, o.events}, {&skipped, o.skipped}, {&accesses, o.accesses},
                              {&reads, o.reads}, {&writes, o.writes}, {&fetches, o.fetches},
                              {&page_splits, o.page_splits}, {&translations, o.translations},
                              {&tlb_hits, o.tlb_hits}, {&page_faults, o.page_faults}, {&huge_faults, o.huge_faults},
                              {&gp_faults, o.gp_faults}, {&ss_faults, o.ss_faults},
                              {&context_switches, o.context_switches}, {&cr3_loads, o.cr3_loads},
                              {&cr3_flushes, o.cr3_flushes}, {&switch_tlb_entries_lost, o.switch_tlb_entries_lost}, {&shootdowns_sent, o.shootdowns_sent},
                              {&ipis_sent, o.ipis_sent}, {&ipi_wait_cycles, o.ipi_wait_cycles},
                              {&ipis_received, o.ipis_received}, {&tlb_entries_shot, o.tlb_entries_shot},
                              {&idle_cycles, o.idle_cycles}, {&expectations, o.expectations},
                              {&expectations_failed, o.expectations_failed}, {&signals, o.signals}})
    *mine += theirs;
  for (size_t i = 0; i < cycles.size(); ++i) cycles[i] += o.cycles[i];
  for (size_t i = 0; i < faults.size(); ++i) {
    faults[i].count += o.faults[i].count;
    faults[i].cycles += o.faults[i].cycles;
    faults[i].max_cycles = std::max(faults[i].max_cycles, o.faults[i].max_cycles);
    faults[i].latency += o.faults[i].latency;
  }
  return *this;
}

}  // namespace mmusim::stats
