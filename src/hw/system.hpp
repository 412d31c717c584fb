// The simulated machine, wired from a configuration: physical memory and the shared
// last-level cache, `cores` CPUs each with its own MMU (TLBs, paging-structure caches,
// page walker), L1D and L2, and the kernel model, booted at the trace's first OS
// event. Elaborated once per process (SystemC cannot rebuild modules after sc_start),
// run once to the end of its event source.
//
// The trace is one stream of events for every CPU: the System hands it from core to
// core as `cpu N` lines say (one core runs at a time, so events take effect in the
// trace's order), and carries what the cores share: the kernel, the run's phases, the
// first fault of each kind, the error that ended the run. It is also the machine as
// the kernel's TLB code sees it (kernel::Cpus): CR3 writes and INVLPG on any CPU, and
// the IPIs of a TLB shootdown, each target charged on its own clock.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "hw/cache.hpp"
#include "hw/core.hpp"
#include "hw/event_source.hpp"
#include "hw/memory_timing.hpp"
#include "hw/phys_mem.hpp"
#include "hw/sparse_memory.hpp"
#include "kernel/tlb.hpp"
#include "mmu/mmu.hpp"
#include "stats/run_stats.hpp"

namespace mmusim::hw {

class System : public kernel::Cpus {
 public:
  System(const config::Config& cfg, EventSource& events, RunOptions outputs);
  ~System() override;

  // Simulates until the events run out (or an error stops the run).
  void run();

  unsigned cores() const { return static_cast<unsigned>(cores_.size()); }
  const Core& core(unsigned cpu = 0) const { return *cores_.at(cpu); }
  const mmu::Mmu& mmu(unsigned cpu = 0) const { return *mmus_.at(cpu); }
  const MemoryTiming& timing(unsigned cpu = 0) const { return *timings_.at(cpu); }
  const PhysMem& memory() const { return mem_; }
  const SparseMemory& store() const { return store_; }
  const config::Config& config() const { return cfg_; }

  // Set when the run stopped on an error (malformed trace, refused event); the
  // message names file and line. A run with an error has not finished its trace.
  const std::optional<std::string>& error() const { return error_; }
  // Every core's counters added up, and the run's phases.
  stats::RunStats stats() const;
  // The time the run took: the latest core clock, in cycles.
  std::uint64_t elapsed_cycles() const;
  const kernel::Kernel* kernel() const { return kernel_.get(); }
  kernel::Kernel* kernel() { return kernel_.get(); }
  // The CPU the trace ran on last (where a run that stopped early would go on).
  unsigned running_cpu() const { return running_; }
  Core& core(unsigned cpu) { return *cores_.at(cpu); }
  mmu::Mmu& mmu(unsigned cpu) { return *mmus_.at(cpu); }
  const kernel::X86Tlb* kernel_tlb() const { return x86_tlb_.get(); }
  bool bare_mode() const { return bare_; }
  const std::map<kernel::Resolution, FaultExample>& fault_examples() const { return examples_; }
  const std::set<std::uint32_t>& known_pids() const { return known_pids_; }

  // kernel::Cpus.
  unsigned smp_processor_id() const override { return running_; }
  void write_cr3(unsigned cpu, std::uint64_t cr3) override { cores_.at(cpu)->write_cr3(cr3); }
  void invlpg(unsigned cpu, std::uint64_t va) override { cores_.at(cpu)->invlpg(va); }
  std::uint64_t smp_call_function_many(const kernel::CpuMask& targets,
                                       const std::function<Handled(unsigned)>& func,
                                       std::uint64_t elapsed) override;

 private:
  friend class Core;

  // For the cores: the kernel (booted at the first OS event), the trace, the phases.
  kernel::Kernel& os();
  bool next_event(traces::Event& ev) { return events_.next(ev); }
  const std::string& trace_name() const { return events_.name(); }
  // The trace moves from the running core to `cpu`, at SystemC time `at_cycles`.
  void hand_over(unsigned cpu, std::uint64_t at_cycles);
  // The run ends: every core leaves its thread.
  void finish(const std::optional<std::string>& error);
  bool done() const { return done_; }
  unsigned running() const { return running_; }
  std::uint64_t hand_over_cycles() const { return hand_over_cycles_; }
  void start_phase(const std::string& name, std::uint64_t line);
  void close_phase();
  void check_kernel();

  const config::Config& cfg_;
  EventSource& events_;
  RunOptions out_;
  SparseMemory store_;
  Cache llc_;  // shared by every core's MemoryTiming
  PhysMem mem_;
  std::vector<std::unique_ptr<MemoryTiming>> timings_;
  std::vector<std::unique_ptr<mmu::Mmu>> mmus_;
  std::vector<std::unique_ptr<Core>> cores_;
  std::unique_ptr<kernel::X86Tlb> x86_tlb_;
  std::unique_ptr<kernel::Kernel> kernel_;

  bool bare_ = false;
  bool started_ = false;              // first event seen (`mode bare` must be first)
  unsigned running_ = 0;              // the core the trace runs on
  std::uint64_t hand_over_cycles_ = 0;
  bool done_ = false;
  std::optional<std::string> error_;
  std::vector<stats::Phase> phases_;
  std::set<std::uint32_t> known_pids_;   // every task the trace created, in PID order
  std::map<std::uint32_t, kernel::TaskCounters> mark_counters_;  // at the last `mark`
  std::map<kernel::Resolution, FaultExample> examples_;
};

// Turns off SystemC's start-up banner, which would otherwise interleave with the
// program output; call before the first module is built.
void quiet_systemc();

}  // namespace mmusim::hw
