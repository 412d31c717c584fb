#include "kernel/fault_record.hpp"

#include "kernel/recorder.hpp"

namespace mmusim::kernel {

std::string_view to_string(Resolution r) {
  switch (r) {
    case Resolution::AnonymousPage: return "anonymous_page";
    case Resolution::ZeroPage: return "zero_page";
    case Resolution::CowCopy: return "cow_copy";
    case Resolution::CowReuse: return "cow_reuse";
    case Resolution::Spurious: return "spurious";
    case Resolution::Sigsegv: return "sigsegv";
    case Resolution::Sigbus: return "sigbus";
    case Resolution::Oom: return "oom";
    case Resolution::PageCache: return "page_cache";
  }
  return "unknown";
}

std::string_view step_name(Step s) {
  // Must spell the KernelCostConfig field names: reports and the configuration
  // key (`kernel.cost.pte_update`) meet through this string; "zero" and "copy" are
  // priced by kernel.cost.zero_bandwidth and copy_bandwidth.
  switch (s) {
    case Step::exception_entry: return "exception_entry";
    case Step::exception_exit: return "exception_exit";
    case Step::vma_lookup: return "vma_lookup";
    case Step::pgtable_walk: return "pgtable_walk";
    case Step::pgtable_alloc: return "pgtable_alloc";
    case Step::frame_alloc: return "frame_alloc";
    case Step::pte_update: return "pte_update";
    case Step::rmap_update: return "rmap_update";
    case Step::tlb_flush_local: return "tlb_flush_local";
    case Step::fork_per_pte: return "fork_per_pte";
    case Step::signal_delivery: return "signal_delivery";
    case Step::context_switch: return "context_switch";
    case Step::ipi_send: return "ipi_send";
    case Step::ipi_delivery: return "ipi_delivery";
    case Step::ipi_entry: return "ipi_entry";
    case Step::ipi_exit: return "ipi_exit";
    case Step::ipi_ack: return "ipi_ack";
    case Step::zero: return "zero";
    case Step::copy: return "copy";
    case Step::ipi_wait: return "ipi_wait";
    case Step::cr3_write: return "cr3_write";
  }
  return "unknown";
}

u64 step_cycles(const config::KernelCostConfig& c, Step s) {
  switch (s) {
    case Step::exception_entry: return c.exception_entry;
    case Step::exception_exit: return c.exception_exit;
    case Step::vma_lookup: return c.vma_lookup;
    case Step::pgtable_walk: return c.pgtable_walk;
    case Step::pgtable_alloc: return c.pgtable_alloc;
    case Step::frame_alloc: return c.frame_alloc;
    case Step::pte_update: return c.pte_update;
    case Step::rmap_update: return c.rmap_update;
    case Step::tlb_flush_local: return c.tlb_flush_local;
    case Step::fork_per_pte: return c.fork_per_pte;
    case Step::signal_delivery: return c.signal_delivery;
    case Step::context_switch: return c.context_switch;
    case Step::ipi_send: return c.ipi_send;
    case Step::ipi_delivery: return c.ipi_delivery;
    case Step::ipi_entry: return c.ipi_entry;
    case Step::ipi_exit: return c.ipi_exit;
    case Step::ipi_ack: return c.ipi_ack;
    case Step::zero: return c.zero_cycles(4096);  // per 4 KiB page
    case Step::copy: return c.copy_cycles(4096);
    case Step::ipi_wait: case Step::cr3_write: return 0;  // derived: charge_cycles
  }
  return 0;
}

void Recorder::charge(Step s, u64 times) {
  if (times == 0) return;
  add(s, step_cycles(cost_, s) * times);
}

void Recorder::charge_bytes(Step s, u64 bytes) {
  add(s, s == Step::zero ? cost_.zero_cycles(bytes) : cost_.copy_cycles(bytes));
}

void Recorder::charge_cycles(Step s, u64 cycles) {
  if (cycles != 0) add(s, cycles);
}

void Recorder::add(Step s, u64 cycles) {
  total_ += cycles;
  if (!rec_) return;
  rec_->total_cycles += cycles;
  const std::string_view name = step_name(s);
  if (!rec_->steps.empty() && rec_->steps.back().name == name)
    rec_->steps.back().cycles += cycles;
  else
    rec_->steps.push_back({name, cycles});
}

KernelFunction::KernelFunction(Recorder& r, std::string_view function)
    : r_(r), function_(function), start_(r.total_), depth_(r.depth_++) {}

KernelFunction::~KernelFunction() {
  --r_.depth_;
  FaultRecord* rec = r_.rec_;
  if (!rec) return;
  const KernelFrame frame{function_, r_.total_ - start_};
  // Our callee completed last and is on the path: we are its caller, so the chain
  // grows outward. Otherwise the path so far belongs to an earlier sibling call
  // (or is empty) and this frame is the new innermost one.
  if (!r_.path_depth_.empty() && r_.path_depth_.back() == depth_ + 1) {
    rec->path.push_back(frame);
    r_.path_depth_.push_back(depth_);
  } else {
    rec->path.assign(1, frame);
    r_.path_depth_.assign(1, depth_);
  }
}

}  // namespace mmusim::kernel
