// Kernel: the public face of the modelled OS. It boots the frame allocator and
// the zero page and forwards each trace event to the Linux-shaped code in the
// other files of this folder.
#include "kernel/kernel.hpp"

#include <fmt/format.h>

#include "kernel/internal.hpp"

namespace mmusim::kernel {

KernelState::KernelState(hw::SparseMemory& m, const config::Config& c, TlbFlusher& t)
    : mem(m), cfg(c), cost(c.kernel.cost), tlb(t), frames(m, c.mem.size_bytes), current(c.cores, 0) {
  // Every frame must be addressable by a PTE: a frame above MAXPHYADDR would set
  // reserved bits and the walker would raise #PF with RSVD.
  if (c.mem.maxphyaddr < 64 && c.mem.size_bytes > (1ull << c.mem.maxphyaddr))
    throw KernelError(fmt::format("memory of {:#x} bytes does not fit MAXPHYADDR {}", c.mem.size_bytes,
                                  c.mem.maxphyaddr));
  // empty_zero_page: one frame, all zeros, mapped read-only by every read fault on
  // anonymous memory. Its boot reference is never dropped.
  auto z = frames.alloc();
  if (!z) throw KernelError("memory too small: no frame for the zero page");
  zero_pfn = *z;
  frames.page(zero_pfn).zero = true;
  mem.zero_frame(zero_pfn);
}

struct Kernel::Impl {
  Impl(hw::SparseMemory& mem, const config::Config& cfg, TlbFlusher& tlb) : k(mem, cfg, tlb) {}
  KernelState k;
};

Kernel::Kernel(hw::SparseMemory& mem, const config::Config& cfg, TlbFlusher& tlb)
    : impl_(std::make_unique<Impl>(mem, cfg, tlb)) {}

Kernel::~Kernel() = default;

u64 Kernel::spawn(Pid pid, const std::string& name, bool automap) { return do_spawn(impl_->k, pid, name, automap); }
u64 Kernel::mmap(Pid pid, const MmapRequest& req) { return do_mmap(impl_->k, pid, req); }
u64 Kernel::mprotect(Pid pid, std::uint64_t addr, std::uint64_t len, const traces::Prot& prot) {
  return do_mprotect(impl_->k, pid, addr, len, prot);
}
u64 Kernel::munmap(Pid pid, std::uint64_t addr, std::uint64_t len) { return do_munmap_event(impl_->k, pid, addr, len); }
u64 Kernel::madvise(Pid pid, std::uint64_t addr, std::uint64_t len, traces::Advice advice) {
  return do_madvise(impl_->k, pid, addr, len, advice);
}
u64 Kernel::file(const std::string& name, std::uint64_t size, bool tmpfs) {
  file_declare(impl_->k, name, size, tmpfs);
  return 0;  // no I/O: the page cache is warm
}
u64 Kernel::fork(Pid parent, Pid child) { return do_fork(impl_->k, parent, child); }
u64 Kernel::thread(Pid pid, Pid tid) { return do_thread(impl_->k, pid, tid); }
u64 Kernel::exec(Pid pid, const std::string& name) { return do_exec(impl_->k, pid, name); }
u64 Kernel::exit(Pid pid) { return do_exit_event(impl_->k, pid); }
u64 Kernel::kill(Pid pid) {
  impl_->k.task(pid, "kill");
  return do_group_exit(impl_->k, pid);
}

u64 Kernel::context_switch(unsigned cpu, Pid pid, bool scheduled) {
  if (cpu >= impl_->k.current.size()) throw KernelError(fmt::format("switch: no CPU {}", cpu));
  return kernel::context_switch(impl_->k, cpu, pid, scheduled);
}

Pid Kernel::current(unsigned cpu) const { return impl_->k.current.at(cpu); }

namespace {
// The counters of the task `cpu` runs; nullptr when it runs none.
TaskCounters* running(KernelState& k, unsigned cpu) {
  const Pid pid = k.current.at(cpu);
  return pid ? &k.counters[pid] : nullptr;
}
}  // namespace

void Kernel::ipi_received(unsigned cpu, u64 cycles, u64 tlb_entries_lost) {
  if (TaskCounters* c = running(impl_->k, cpu)) {
    ++c->ipis_received;
    c->ipi_handler_cycles += cycles;
    c->tlb_entries_shot += tlb_entries_lost;
  }
}

void Kernel::shootdown_sent(unsigned cpu, unsigned targets, u64 wait_cycles) {
  if (TaskCounters* c = running(impl_->k, cpu)) {
    ++c->shootdowns;
    c->ipis_sent += targets;
    c->ipi_wait_cycles += wait_cycles;
  }
}

void Kernel::exc_page_fault(Pid pid, std::uint64_t cr2, std::uint32_t error_code, FaultRecord& rec) {
  kernel::exc_page_fault(impl_->k, pid, cr2, error_code, rec);
}

bool Kernel::exists(Pid pid) const { return impl_->k.tasks.count(pid) != 0; }

std::uint64_t Kernel::cr3(Pid pid) const { return impl_->k.task(pid, "cr3").mm->cr3(); }

const Mm& Kernel::mm_of(Pid pid) const { return *impl_->k.task(pid, "mm").mm; }

const TaskCounters& Kernel::counters(Pid pid) const {
  auto it = impl_->k.counters.find(pid);
  if (it == impl_->k.counters.end()) throw KernelError(fmt::format("counters: unknown PID {}", pid));
  return it->second;
}

Pid Kernel::first_spawned() const { return impl_->k.first_spawned; }

const FrameAllocator& Kernel::frames() const { return impl_->k.frames; }

std::uint64_t Kernel::page_cache_frames() const { return kernel::page_cache_frames(impl_->k); }

std::uint64_t Kernel::zero_pfn() const { return impl_->k.zero_pfn; }

std::vector<std::string> Kernel::check_invariants() const { return kernel::check_invariants(impl_->k); }

}  // namespace mmusim::kernel
