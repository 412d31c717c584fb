// The kernel's shared state and the functions its files call in one another. Not
// part of the public interface (kernel.hpp); each group is implemented in the
// file named above it, with the Linux file it follows.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "hw/sparse_memory.hpp"
#include "kernel/kernel.hpp"
#include "kernel/mm.hpp"
#include "kernel/page.hpp"
#include "kernel/pgtable.hpp"
#include "kernel/recorder.hpp"

namespace mmusim::kernel {

using u32 = std::uint32_t;

// A task_struct: a process or a thread. Threads of one process share `mm`.
struct Task {
  Pid pid = 0;
  Pid tgid = 0;       // thread-group leader (the process)
  Mm* mm = nullptr;
  std::string comm;
};

struct KernelState {
  KernelState(hw::SparseMemory& mem, const config::Config& cfg, TlbFlusher& tlb);

  hw::SparseMemory& mem;
  const config::Config& cfg;
  const config::KernelCostConfig& cost;
  TlbFlusher& tlb;
  FrameAllocator frames;
  u64 zero_pfn = 0;   // empty_zero_page: allocated at boot, never freed

  std::map<Pid, Task> tasks;             // alive tasks
  std::map<Pid, TaskCounters> counters;  // every task ever created (last one per PID)
  std::map<u64, std::unique_ptr<Mm>> mms;
  u64 next_mm_id = 1, next_anon_vma_id = 1, next_shmem_id = 1;
  Pid first_spawned = 0;

  // The alive task `pid`, or KernelError saying whether it never existed or exited.
  Task& task(Pid pid, const char* event);
  std::shared_ptr<AnonVma> new_anon_vma() { return std::make_shared<AnonVma>(AnonVma{next_anon_vma_id++}); }
  std::shared_ptr<ShmemObject> new_shmem() { return std::make_shared<ShmemObject>(ShmemObject{next_shmem_id++, {}}); }
};

// vm_fault_t bits (include/linux/mm_types.h).
using vm_fault_t = u32;
inline constexpr vm_fault_t VM_FAULT_OOM = 0x000001;
inline constexpr vm_fault_t VM_FAULT_SIGBUS = 0x000002;
inline constexpr vm_fault_t VM_FAULT_SIGSEGV = 0x000040;
inline constexpr vm_fault_t VM_FAULT_NOPAGE = 0x000100;
inline constexpr vm_fault_t VM_FAULT_ERROR = VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV;

// enum fault_flag (include/linux/mm_types.h).
inline constexpr u32 FAULT_FLAG_WRITE = 1u << 0;
inline constexpr u32 FAULT_FLAG_USER = 1u << 6;
inline constexpr u32 FAULT_FLAG_INSTRUCTION = 1u << 8;

// Pages of a TLB flush range above which x86 flushes the whole mm instead
// (tlb_single_page_flush_ceiling, arch/x86/mm/tlb.c).
inline constexpr u64 kTlbSinglePageFlushCeiling = 33;

// struct mmu_gather (include/asm-generic/tlb.h): the range whose TLB entries must
// go, and the pages to free only after they are gone, so that no CPU can reach a
// freed (and maybe reused) frame through a stale entry.
struct MmuGather {
  u64 start = ~0ull, end = 0;
  bool freed_tables = false;
  bool fullmm = false;
  std::vector<u64> pages;  // folio_put after the flush

  void track(u64 addr) {
    if (addr < start) start = addr;
    if (addr + kPageSize > end) end = addr + kPageSize;
  }
};

// ---- fault.cpp (arch/x86/mm/fault.c, mm/memory.c) ----
void exc_page_fault(KernelState& k, Pid pid, u64 cr2, u32 error_code, FaultRecord& rec);
// handle_mm_fault for a fault of `task` in `vma`; counts min_flt on success. The
// resolution goes to `res`.
vm_fault_t handle_mm_fault(KernelState& k, Task& task, Vma& vma, u64 address, u32 flags, Recorder& r,
                           Resolution& res);

// ---- mmap.cpp (mm/mmap.c, mm/vma.c, mm/mprotect.c, mm/madvise.c, mm/gup.c) ----
u64 do_mmap(KernelState& k, Pid pid, const MmapRequest& req);
u64 do_munmap_event(KernelState& k, Pid pid, u64 addr, u64 len);
u64 do_mprotect(KernelState& k, Pid pid, u64 addr, u64 len, const traces::Prot& prot);
u64 do_madvise(KernelState& k, Pid pid, u64 addr, u64 len, traces::Advice advice);
// do_vmi_munmap: unmaps [start, end) of mm.
void do_munmap(KernelState& k, Mm& mm, u64 start, u64 end, Recorder& r);
// zap_pte_range over [start, end): clears the PTEs, drops the rmap, queues
// the pages in `tlb`.
void zap_pte_range(KernelState& k, Mm& mm, u64 start, u64 end, MmuGather& tlb, Recorder& r);
// tlb_finish_mmu: flushes what `tlb` gathered, then frees its pages.
void tlb_finish_mmu(KernelState& k, Mm& mm, MmuGather& tlb, Recorder& r);
// remove_vma: drops the VMA's reference to its shmem object, freeing the object's
// pages when it was the last (shmem_evict_inode).
void remove_vma(KernelState& k, Vma&& vma);

// ---- fork.cpp (kernel/fork.c, mm/mmap.c dup_mmap, mm/memory.c copy_page_range) ----
// dup_mmap: fills `child` from `parent`; false if it ran out of frames.
bool dup_mmap(KernelState& k, Mm& parent, Mm& child, Recorder& r);

// ---- process.cpp (kernel/fork.c, kernel/exit.c, fs/exec.c) ----
Mm* mm_alloc(KernelState& k, Recorder& r);
void mmput(KernelState& k, Mm& mm, Recorder& r);
// do_exit of one task; do_group_exit kills every task sharing the mm (a fatal signal).
void do_exit(KernelState& k, Pid pid, Recorder& r);
u64 do_group_exit(KernelState& k, Pid pid);  // returns the teardown cycles
u64 do_spawn(KernelState& k, Pid pid, const std::string& name, bool automap);
u64 do_fork(KernelState& k, Pid parent, Pid child);
u64 do_thread(KernelState& k, Pid pid, Pid tid);
u64 do_exec(KernelState& k, Pid pid, const std::string& name);
u64 do_exit_event(KernelState& k, Pid pid);

// ---- invariants.cpp ----
std::vector<std::string> check_invariants(const KernelState& k);

}  // namespace mmusim::kernel
