// Cost accounting of the modelled kernel. Every cycle the kernel charges is one
// field of config::KernelCostConfig, named by a Step whose name is that field's
// name, so a fault's breakdown can be read against the configuration directly
// (DESIGN.md principle 4). KernelFunction frames reproduce the stack a kernel
// profiler would show (bpftrace kstack in the seed scenario).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "kernel/fault_record.hpp"

namespace mmusim::kernel {

// One per KernelCostConfig cycle field, in declaration order; then the steps priced
// from other values.
enum class Step : unsigned char {
  exception_entry,
  exception_exit,
  vma_lookup,
  pgtable_walk,
  pgtable_alloc,
  frame_alloc,
  pte_update,
  rmap_update,
  tlb_flush_local,
  fork_per_pte,
  signal_delivery,
  context_switch,
  ipi_send,
  ipi_delivery,
  ipi_entry,
  ipi_exit,
  ipi_ack,
  // Bytes over a bandwidth (charge_bytes): kernel.cost.zero_bandwidth, copy_bandwidth.
  zero,
  copy,
  // Derived steps: their cycles follow from other values (charge_cycles).
  ipi_wait,   // a shootdown's initiator spinning for the last acknowledgement
  cr3_write,  // MOV to CR3 in switch_mm: core.cr3_write_cycles
};
// Steps with a KernelCostConfig cycle field of their own: the ones before zero.
inline constexpr unsigned kStepCount = 17;
inline constexpr unsigned kAllStepCount = 21;

// The name of `s` in reports, its KernelCostConfig field name where it has one
// ("pte_update", ...): static storage.
std::string_view step_name(Step s);
u64 step_cycles(const config::KernelCostConfig& cost, Step s);

// Collects the cycles of one kernel operation. With a FaultRecord it also keeps
// the named steps and the call path; without one (fork, munmap, ...) only the total.
class Recorder {
 public:
  explicit Recorder(const config::KernelCostConfig& cost, FaultRecord* rec = nullptr)
      : cost_(cost), rec_(rec) {}
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Charges `times` × the configured cost of `s` as one step. Consecutive charges of
  // the same step are merged, so fault-around's sixteen PTE writes stay one line.
  void charge(Step s, u64 times = 1);
  // Charges `cycles` as a derived step (ipi_wait, cr3_write): one whose time is not a
  // configured constant.
  void charge_cycles(Step s, u64 cycles);
  // Charges clearing (Step::zero) or copying (Step::copy) `bytes` at the configured bandwidth.
  void charge_bytes(Step s, u64 bytes);
  u64 total() const { return total_; }
  FaultRecord* record() { return rec_; }

 private:
  friend class KernelFunction;
  void add(Step s, u64 cycles);
  const config::KernelCostConfig& cost_;
  FaultRecord* rec_;
  u64 total_ = 0;
  unsigned depth_ = 0;
  std::vector<unsigned> path_depth_;  // depth of each rec_->path entry
};

// RAII frame of a Linux function: `KernelFunction f(r, "do_wp_page");`. When it
// returns it records its inclusive cycles. The record's path is the chain of the
// last completed call at each depth, innermost first: a frame whose most recent
// completed callee is on the path extends it, any other frame starts it afresh.
// So only functions of the resolving chain should be frames; helpers (pte_alloc,
// the allocator) charge steps without a frame of their own.
class KernelFunction {
 public:
  KernelFunction(Recorder& r, std::string_view function);
  ~KernelFunction();
  KernelFunction(const KernelFunction&) = delete;
  KernelFunction& operator=(const KernelFunction&) = delete;

 private:
  Recorder& r_;
  std::string_view function_;
  u64 start_;
  unsigned depth_;
};

inline void charge(Recorder& r, Step s, u64 times = 1) { r.charge(s, times); }
inline void charge_bytes(Recorder& r, Step s, u64 bytes) { r.charge_bytes(s, bytes); }

}  // namespace mmusim::kernel
