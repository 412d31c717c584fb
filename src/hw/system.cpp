#include "hw/system.hpp"

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

namespace mmusim::hw {
namespace {
sc_core::sc_time clock_period(const config::Config& cfg) {
  return sc_core::sc_time(1.0 / cfg.core.frequency_ghz, sc_core::SC_NS);
}
}  // namespace

void quiet_systemc() { ::setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0); }

System::System(const config::Config& cfg, EventSource& events, RunOptions outputs)
    : cfg_(cfg),
      events_(events),
      out_(outputs),
      llc_(cfg.cache.llc.sets, cfg.cache.llc.ways, cfg.cache.llc.line_bytes),
      // Memory annotates no delay of its own: the initiators take every access's time
      // from their MemoryTiming, which knows the caches (a DMI pointer cannot carry a
      // per-access latency).
      mem_("phys_mem", store_, sc_core::SC_ZERO_TIME, cfg.mem.maxphyaddr) {
  for (unsigned i = 0; i < cfg.cores; ++i) {
    timings_.push_back(std::make_unique<MemoryTiming>(cfg, llc_));
    mmus_.push_back(std::make_unique<mmu::Mmu>(fmt::format("mmu{}", i).c_str(), cfg, clock_period(cfg), *timings_[i]));
    cores_.push_back(std::make_unique<Core>(fmt::format("core{}", i).c_str(), i, *this, *mmus_[i], *timings_[i]));
    mmus_[i]->walker.socket.bind(mem_.socket);
    cores_[i]->data_socket.bind(mem_.socket);
  }
  start_phase("", 1);
}

System::~System() = default;

void System::run() {
  sc_core::sc_start();
  close_phase();
}

kernel::Kernel& System::os() {
  if (!kernel_) {
    x86_tlb_ = std::make_unique<kernel::X86Tlb>(cfg_, *this);
    kernel_ = std::make_unique<kernel::Kernel>(store_, cfg_, *x86_tlb_);
    for (auto& c : cores_) c->enter_os_mode(cfg_.cr4.pcide);
  }
  return *kernel_;
}

void System::hand_over(unsigned cpu, std::uint64_t at_cycles) {
  running_ = cpu;
  hand_over_cycles_ = at_cycles;
  cores_[cpu]->wake_.notify(sc_core::SC_ZERO_TIME);
}

void System::finish(const std::optional<std::string>& error) {
  if (error && !error_) error_ = error;
  done_ = true;
  for (auto& c : cores_) c->wake_.notify(sc_core::SC_ZERO_TIME);
}

void System::check_kernel() {
  if (!kernel_) return;
  const std::vector<std::string> problems = kernel_->check_invariants();
  if (!problems.empty())
    throw std::logic_error(fmt::format("invariant violated after this line: {}", problems.front()));
}

std::uint64_t System::smp_call_function_many(const kernel::CpuMask& targets,
                                             const std::function<Handled(unsigned)>& func, std::uint64_t elapsed) {
  // The IPIs leave one after another, each ipi_send after the last; a target takes
  // its interrupt ipi_delivery later, flushes, and acknowledges, which the initiator
  // sees ipi_ack later. The initiator's time is its clock plus what the kernel has
  // spent so far in this operation. An interrupt is taken at an instruction boundary,
  // so promptly: the acknowledgement does not depend on where the target's own clock
  // stands, which decoupling (the quantum) would make it depend on. The handler's
  // cycles go on the target's clock (Core::interrupt).
  const config::KernelCostConfig& cost = cfg_.kernel.cost;
  Core& initiator = *cores_[running_];
  const std::uint64_t start = initiator.clock() + elapsed;
  std::uint64_t sent = start, last_ack = start;
  for (unsigned t = 0; t < cores_.size(); ++t) {
    if (!targets.test(t)) continue;
    Core& target = *cores_[t];
    sent += cost.ipi_send;
    const std::uint64_t lost_before = target.tlb_entries_invalidated();
    const Handled h = func(t);
    const std::uint64_t lost = target.tlb_entries_invalidated() - lost_before;
    const std::uint64_t arrival = sent + cost.ipi_delivery;
    target.interrupt(arrival, h.before_ack + h.after_ack);
    last_ack = std::max(last_ack, arrival + h.before_ack + cost.ipi_ack);
    target.count_shootdown(0, 0, lost, false);
    if (kernel_) kernel_->ipi_received(t, h.before_ack + h.after_ack, lost);
  }
  const unsigned n = static_cast<unsigned>(targets.count());
  initiator.count_shootdown(n, last_ack - start, 0, true);
  if (kernel_) kernel_->shootdown_sent(running_, n, last_ack - start);
  return last_ack - start;
}

stats::RunStats System::stats() const {
  stats::RunStats s;
  for (const auto& c : cores_) s += c->stats();
  s.phases = phases_;
  return s;
}

std::uint64_t System::elapsed_cycles() const {
  std::uint64_t t = 0;
  for (const auto& c : cores_) t = std::max(t, c->clock());
  return t;
}

void System::start_phase(const std::string& name, std::uint64_t line) {
  stats::Phase p;
  p.name = name;
  p.start_line = line;
  p.start = stats().phase_counters();
  phases_.push_back(std::move(p));
  // `expect PID minflt=N` and the phase report count from this snapshot; a task
  // born later starts from zero.
  mark_counters_.clear();
  if (kernel_)
    for (std::uint32_t pid : known_pids_) mark_counters_[pid] = kernel_->counters(pid);
}

void System::close_phase() {
  if (phases_.empty()) return;
  stats::Phase& p = phases_.back();
  stats::RunStats sum;
  for (const auto& c : cores_) sum += c->stats();
  const stats::PhaseCounters now = sum.phase_counters();
  p.counters.accesses = now.accesses - p.start.accesses;
  p.counters.translations = now.translations - p.start.translations;
  p.counters.tlb_hits = now.tlb_hits - p.start.tlb_hits;
  p.counters.page_faults = now.page_faults - p.start.page_faults;
  for (size_t i = 0; i < now.cycles.size(); ++i) p.counters.cycles[i] = now.cycles[i] - p.start.cycles[i];
  if (!kernel_) return;
  for (std::uint32_t pid : known_pids_) {
    const auto it = mark_counters_.find(pid);
    p.tasks[pid] = stats::subtract(kernel_->counters(pid),
                                   it == mark_counters_.end() ? kernel::TaskCounters{} : it->second);
  }
}

}  // namespace mmusim::hw
