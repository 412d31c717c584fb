// A trace-driven CPU: one SC_THREAD that pulls events from a trace and executes
// them against its MMU, holding the architectural state translation reads (CR0,
// CR3, CR4, EFER, PKRU, RFLAGS.AC, CPL). Time is loosely timed: each access adds
// its cycles to a TLM quantum keeper, which yields to the SystemC kernel once per
// quantum (or at every access in strict mode). In OS mode a #PF enters the kernel
// model and the access is retried, as the faulting instruction is restarted.
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
#include <tlm_utils/tlm_quantumkeeper.h>

#include "config/config.hpp"
#include "hw/event_source.hpp"
#include "hw/memory_timing.hpp"
#include "kernel/kernel.hpp"
#include "mmu/mmu.hpp"
#include "stats/run_stats.hpp"
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
};

// The first fault of each kind, kept with its breakdown for the summary.
struct FaultExample {
  std::uint64_t line = 0;
  std::uint32_t pid = 0;
  kernel::FaultRecord record;
};

class Core : public sc_core::sc_module, public kernel::TlbFlusher {
 public:
  SC_HAS_PROCESS(Core);
  tlm_utils::simple_initiator_socket<Core> data_socket;

  Core(sc_core::sc_module_name name, const config::Config& cfg, EventSource& events, mmu::Mmu& mmu,
       MemoryTiming& timing, SparseMemory& memory, RunOptions outputs);
  ~Core() override;

  // Set when the run stopped on an error (malformed trace, refused event); the
  // message names file and line. A run with an error has not finished its trace.
  const std::optional<std::string>& error() const { return error_; }
  const stats::RunStats& stats() const { return stats_; }
  const mmu::ControlRegs& regs() const { return regs_; }
  const kernel::Kernel* kernel() const { return kernel_.get(); }
  bool bare_mode() const { return bare_; }
  const std::map<kernel::Resolution, FaultExample>& fault_examples() const { return examples_; }
  const std::set<std::uint32_t>& known_pids() const { return known_pids_; }

  // kernel::TlbFlusher: this core is the only CPU, so an mm is cached here iff it is
  // the one loaded in CR3.
  void flush_tlb_page(const kernel::Mm& mm, std::uint64_t va) override;
  void flush_tlb_mm(const kernel::Mm& mm) override;

 private:
  void run();
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
  void data_transfer(tlm::tlm_command cmd, const Piece& p, unsigned char* bytes);
  void check_access_expectations(const traces::Event& ev, const Piece* pieces, unsigned n,
                                 std::uint64_t value, const mmu::Fault* fault);
  void fail(const traces::Event& ev, const std::string& what);
  void log_access(const traces::Event& ev, const Piece* pieces, unsigned n, const mmu::Fault* fault,
                  unsigned faults, std::uint64_t cycles);
  void log_fault(const traces::Event& ev, const kernel::FaultRecord& rec);

  // Processes on this CPU.
  kernel::Kernel& os();
  std::uint32_t current_pid(const traces::Event& ev);
  void load_task(std::uint32_t pid);
  void task_gone(std::uint32_t pid);
  void check_kernel();

  // Charges cycles to a kind; commit_time() then advances local time by everything
  // charged since the last commit and synchronises when the quantum is used up.
  void advance(stats::CycleKind kind, std::uint64_t cycles);
  void commit_time();
  void start_phase(const std::string& name, std::uint64_t line);
  void close_phase();

  const config::Config& cfg_;
  EventSource& events_;
  mmu::Mmu& mmu_;
  MemoryTiming& timing_;
  SparseMemory& memory_;
  RunOptions out_;
  std::unique_ptr<kernel::Kernel> kernel_;

  mmu::ControlRegs regs_;
  bool bare_ = false;
  bool started_ = false;                 // first event seen (`mode bare` must be first)
  std::uint32_t pid_ = 0;                // task running on this CPU; 0 = none
  const kernel::Mm* loaded_mm_ = nullptr;
  bool switched_ = false;                // a `switch` has run on this CPU
  std::uint64_t line_ = 0;               // line being executed, for kernel callbacks

  tlm_utils::tlm_quantumkeeper qk_;
  std::uint64_t pending_cycles_ = 0;
  sc_core::sc_time period_;
  tlm::tlm_generic_payload tx_;
  stats::RunStats stats_;
  std::set<std::uint32_t> known_pids_;   // every task the trace created, in PID order
  std::map<std::uint32_t, kernel::TaskCounters> mark_counters_;  // at the last `mark`
  std::map<kernel::Resolution, FaultExample> examples_;
  kernel::FaultRecord record_;
  std::optional<std::string> error_;
};

}  // namespace mmusim::hw
