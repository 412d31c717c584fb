// The modelled operating system, Linux-shaped: processes and their mm, the frame
// allocator, page tables as real x86 entries in simulated physical memory, and the
// page-fault path (arch/x86/mm/fault.c, mm/memory.c) that the hardware raises into.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "hw/sparse_memory.hpp"
#include "kernel/fault_record.hpp"
#include "kernel/tlb.hpp"
#include "traces/event.hpp"

namespace mmusim::kernel {

using Pid = std::uint32_t;

class Mm;
class FrameAllocator;

// A trace event the kernel refuses (unknown PID, overlap without `fixed`, bad
// alignment, ...). The message says why; the caller adds file and line.
struct KernelError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Fault counts of one task, as getrusage() reports them plus a breakdown by kind.
struct TaskCounters {
  u64 minflt = 0;             // ru_minflt: faults resolved without I/O (signals excluded)
  u64 majflt = 0;
  u64 by_resolution[kResolutionCount] = {};
  u64 automaps = 0;           // pages mapped by `spawn ... automap`
  u64 fault_cycles = 0;       // cycles spent in the fault path
  // Scheduling and TLB shootdowns (multi-core).
  u64 context_switches = 0;   // times a CPU switched to this task
  u64 shootdowns = 0;         // flushes on its behalf that interrupted other CPUs
  u64 ipis_sent = 0;
  u64 ipi_wait_cycles = 0;    // from the first IPI sent to the last acknowledgement
  u64 ipis_received = 0;      // interrupts its CPU took while running it
  u64 ipi_handler_cycles = 0; // cycles those interrupts took from it
  u64 tlb_entries_shot = 0;   // TLB entries its CPU lost to them
};

struct MmapRequest {
  std::uint64_t addr = 0, len = 0;
  traces::Prot prot;
  bool shared = false, populate = false, huge = false, fixed = false;
  std::string file;           // empty: anonymous
  std::uint64_t offset = 0;
  std::string name;
};

class Kernel {
 public:
  // `tlb` carries out TLB maintenance on the CPUs (an X86Tlb on a machine); the kernel
  // schedules tasks on cfg.cores CPUs.
  Kernel(hw::SparseMemory& mem, const config::Config& cfg, TlbFlusher& tlb);
  ~Kernel();
  Kernel(const Kernel&) = delete;
  Kernel& operator=(const Kernel&) = delete;

  // OS events of the trace. Each returns the cycles it cost and throws KernelError
  // if the kernel refuses it.
  u64 spawn(Pid pid, const std::string& name, bool automap);
  u64 mmap(Pid pid, const MmapRequest& req);
  u64 mprotect(Pid pid, std::uint64_t addr, std::uint64_t len, const traces::Prot& prot);
  u64 munmap(Pid pid, std::uint64_t addr, std::uint64_t len);
  u64 fork(Pid parent, Pid child);
  u64 thread(Pid pid, Pid tid);
  u64 exec(Pid pid, const std::string& name);
  u64 exit(Pid pid);
  // A fatal signal outside the #PF path (a user #GP or #SS): do_group_exit, so every
  // thread of the process dies with it, as a SIGSEGV from exc_page_fault does.
  u64 kill(Pid pid);
  // context_switch on `cpu` to task `pid` (`switch PID`): the scheduler's cost, and a
  // CR3 load (switch_mm) when the address space changes. `scheduled = false` is a CPU
  // starting its first task at boot: the CR3 load without the scheduler.
  u64 context_switch(unsigned cpu, Pid pid, bool scheduled = true);
  // The task `cpu` runs; 0 when it runs none (its task exited: idle, lazy TLB).
  Pid current(unsigned cpu) const;
  // A TLB-shootdown IPI `cpu` handled: charged to the task it was running, if any.
  void ipi_received(unsigned cpu, u64 cycles, u64 tlb_entries_lost);
  // A shootdown sent from `cpu`: charged to the task it was running, if any.
  void shootdown_sent(unsigned cpu, unsigned targets, u64 wait_cycles);
  // madvise DONTNEED drops the range's pages (the next touch faults afresh);
  // HUGEPAGE / NOHUGEPAGE mark the VMAs: later first touches may map 2 MiB THPs or not.
  u64 madvise(Pid pid, std::uint64_t addr, std::uint64_t len, traces::Advice advice);
  // `file "NAME" SIZE [fs=tmpfs]`: declares a file before its first mmap; its
  // page cache is warm (every page below EOF cached, no major faults). An access
  // to a page wholly past SIZE raises SIGBUS. tmpfs has no write-notify. A file
  // never declared is large enough, ext4.
  u64 file(const std::string& name, std::uint64_t size, bool tmpfs);

  // The #PF entry point (exc_page_fault): handle a fault that task `pid` took at
  // `cr2` with `error_code`, filling `rec`. A fault that ends in a signal kills the
  // task (no handler is modelled), after which alive(pid) is false.
  void exc_page_fault(Pid pid, std::uint64_t cr2, std::uint32_t error_code, FaultRecord& rec);

  bool exists(Pid pid) const;               // spawned (or forked/threaded) and not exited
  bool alive(Pid pid) const { return exists(pid); }
  std::uint64_t cr3(Pid pid) const;         // physical address of the task's PML4
  const Mm& mm_of(Pid pid) const;           // threads of one process share it; valid
                                            // until its last task exits or execs
  const TaskCounters& counters(Pid pid) const;  // also valid after the task exited
  Pid first_spawned() const;                // 0 if none
  const FrameAllocator& frames() const;      // frames().in_use(): memory in use, in frames
  std::uint64_t page_cache_frames() const;    // of which held by page caches (files, shmem)
  std::uint64_t zero_pfn() const;           // the shared zero page's frame

  // Cross-checks every page table against the VMAs and every frame's refcount and
  // mapcount against the PTEs that map it (DESIGN.md principle 5). Returns one
  // message per violation; empty when consistent. Walks everything: for tests and
  // debugging, not per event.
  std::vector<std::string> check_invariants() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mmusim::kernel
