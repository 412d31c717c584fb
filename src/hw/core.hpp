// A trace-driven CPU: one SC_THREAD that executes the trace's events while the trace
// runs on it (`cpu N`), against its own MMU, holding the architectural state that
// translation reads (CR0, CR3, CR4, EFER, PKRU, RFLAGS.AC, CPL). In OS mode a #PF
// enters the kernel model and the access is retried, as the faulting instruction is
// restarted.
//
// Time (TLM-2.0 loosely timed): the core keeps its own clock in cycles, advanced by
// what its events cost, and synchronises with SystemC (waits until SystemC time
// reaches its clock) once it has run core.quantum_cycles past its last
// synchronisation, or before every event with core.strict_timing. Events run in the
// trace's order; when the trace moves to another CPU, that core's clock first catches
// up with the SystemC time of the hand-over (the time is idle). So with strict timing
// no event starts before the event above it in the trace started, and with a quantum
// it may start up to a quantum earlier (docs/multicore.md). On one core the two modes
// give the same cycles.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>

#include "config/config.hpp"
#include "hw/event_source.hpp"
#include "hw/memory_timing.hpp"
#include "kernel/kernel.hpp"
#include "mmu/mmu.hpp"
#include "stats/run_stats.hpp"
#include "stats/timeline.hpp"
#include "traces/event.hpp"

namespace mmusim::hw {

// How a run behaves and where its outputs go; null streams are off.
struct RunOptions {
  bool keep_going = false;             // skip malformed lines and refused events, with a warning
  bool check = false;                  // run the kernel's invariant checker after every OS event and fault
  std::ostream* out = nullptr;         // `print` lines and signal reports
  std::ostream* diag = nullptr;        // failed expectations, --keep-going warnings
  std::ostream* access_log = nullptr;  // JSON Lines, one object per access
  std::ostream* fault_log = nullptr;   // JSON Lines, one object per kernel-handled fault
  stats::Timeline* timeline = nullptr; // walks, faults, interrupts, switches per CPU (Perfetto)
};

// The first fault of each kind, kept with its breakdown for the summary.
struct FaultExample {
  std::uint64_t line = 0;
  std::uint32_t pid = 0;
  kernel::FaultRecord record;
};

class System;

class Core : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(Core);
  tlm_utils::simple_initiator_socket<Core> data_socket;

  Core(sc_core::sc_module_name name, unsigned id, System& system, mmu::Mmu& mmu, MemoryTiming& timing);
  ~Core() override;

  unsigned id() const { return id_; }
  // This core's counters; System::stats() adds up every core's, with the phases.
  const stats::RunStats& stats() const { return stats_; }
  const mmu::ControlRegs& regs() const { return regs_; }
  const mmu::Mmu& mmu() const { return mmu_; }
  const MemoryTiming& timing() const { return timing_; }
  std::uint64_t clock() const { return clock_; }  // cycles: busy (stats().cycles) + idle

  // What the System does to this core for the kernel (kernel::Cpus): MOV to CR3 and
  // INVLPG, and an interrupt that arrives at `arrival` (cycles) and runs `cycles` in
  // its handler.
  void write_cr3(std::uint64_t value);
  void invlpg(std::uint64_t va);
  void interrupt(std::uint64_t arrival, std::uint64_t cycles);
  // TLB entries invalidated so far, every level and cause.
  std::uint64_t tlb_entries_invalidated() const;
  void count_shootdown(unsigned targets, std::uint64_t wait_cycles, std::uint64_t entries_lost, bool sent);
  // The register state Linux runs user code with; at the kernel's boot.
  void enter_os_mode(bool pcide);

 private:
  void run();
  // Runs events while the trace stays on this CPU; false when the run is over.
  bool run_events();
  void sync();
  void execute(const traces::Event& ev);
  void execute_os_event(const traces::Event& ev);
  void execute_bare_event(const traces::Event& ev);
  void access(const traces::Event& ev);
  void set_register(const std::string& name, std::uint64_t value);

  // Access path pieces (core_access.cpp).
  struct Piece {
    std::uint64_t la = 0, pa = 0;
    unsigned len = 0;
  };
  bool handle_fault(const traces::Event& ev, const mmu::Fault& f, bool& retry);
  // Counts, keeps and logs the fault in record_, now complete.
  void record_fault(const traces::Event& ev);
  void data_transfer(tlm::tlm_command cmd, const Piece& p, unsigned char* bytes);
  void check_access_expectations(const traces::Event& ev, const Piece* pieces, unsigned n,
                                 std::uint64_t value, const mmu::Fault* fault);
  void fail(const traces::Event& ev, const std::string& what);
  void log_access(const traces::Event& ev, const Piece* pieces, unsigned n, const mmu::Fault* fault,
                  unsigned faults, std::uint64_t cycles);
  void log_fault(const traces::Event& ev, const kernel::FaultRecord& rec);

  // The task this CPU runs (OS mode).
  std::uint32_t current_pid(const traces::Event& ev);
  void mov_to_cr3(std::uint64_t value);

  // Charges cycles to a kind: the core's clock advances by them.
  void advance(stats::CycleKind kind, std::uint64_t cycles) {
    stats_.cycles[static_cast<size_t>(kind)] += cycles;
    clock_ += cycles;
  }

  const unsigned id_;
  System& sys_;
  const config::Config& cfg_;
  mmu::Mmu& mmu_;
  MemoryTiming& timing_;
  const RunOptions& out_;

  mmu::ControlRegs regs_;
  std::uint32_t pid_ = 0;                // the task of the access being executed; 0 once killed
  bool switched_ = false;                // a `switch` has run on this CPU

  std::uint64_t clock_ = 0;              // cycles
  std::uint64_t synced_ = 0;             // the clock at the last synchronisation
  std::uint64_t next_sync_ = 0;          // synchronise once the clock reaches this
  sc_core::sc_event wake_;               // the trace moved to this CPU, or the run ended
  tlm::tlm_generic_payload tx_;
  stats::RunStats stats_;
  kernel::FaultRecord record_;
  // record_ holds a fault whose access is being restarted: its retry_walk step, the
  // restarted translation's cycles, is added before it is counted and logged.
  bool fault_open_ = false;
  std::uint32_t fault_pid_ = 0;
  std::uint64_t fault_start_ = 0;  // the clock when the fault's exception began

  friend class System;
};

}  // namespace mmusim::hw
