// The kernel's shared state and the functions its files call in one another. Not
// part of the public interface (kernel.hpp); each group is implemented in the
// file named above it, with the Linux file it follows.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "hw/sparse_memory.hpp"
#include "kernel/kernel.hpp"
#include "kernel/mm.hpp"
#include "kernel/page.hpp"
#include "kernel/pgtable.hpp"
#include "kernel/recorder.hpp"
#include "kernel/tlb.hpp"

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
  u64 huge_zero_pfn = 0;  // huge_zero_folio's head: allocated at first use, never freed (huge_memory.cpp)

  // The task each CPU runs (a runqueue's curr), 0 when it runs none: then it is idle,
  // in lazy TLB mode on the last mm it ran (tlb.hpp).
  std::vector<Pid> current;
  std::map<Pid, Task> tasks;             // alive tasks
  std::map<Pid, TaskCounters> counters;  // every task ever created (last one per PID)
  std::map<u64, std::unique_ptr<Mm>> mms;
  // The named files of the trace (filemap.cpp). The table holds a reference to each,
  // so a file's page cache outlives its mappings, until the end of the run.
  std::map<std::string, std::shared_ptr<File>> files;
  u64 next_mm_id = 1, next_anon_vma_id = 1, next_file_id = 1;
  Pid first_spawned = 0;

  // The alive task `pid`, or KernelError saying whether it never existed or exited.
  Task& task(Pid pid, const char* event);
  std::shared_ptr<AnonVma> new_anon_vma() { return std::make_shared<AnonVma>(AnonVma{next_anon_vma_id++}); }
  // shmem_zero_setup's inode: unnamed, tmpfs, as large as the mapping needs.
  std::shared_ptr<File> new_shmem() {
    auto f = std::make_shared<File>();
    f->id = next_file_id++;
    return f;
  }
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

// struct vm_fault (include/linux/mm.h).
struct VmFault {
  KernelState& k;
  Mm& mm;
  Vma& vma;
  u64 address;        // page aligned
  u64 pgoff;
  u32 flags;
  u64 pmd_pa = 0;
  u64 orig_pte = 0;
  Resolution& res;

  bool write() const { return flags & FAULT_FLAG_WRITE; }
};

// mm_counter: the RSS counter a mapped page is accounted in (MM_ANONPAGES, or
// mm_counter_file's MM_SHMEMPAGES / MM_FILEPAGES).
inline u64& mm_counter(Mm& mm, const Page& p) {
  return p.anon ? mm.rss_anon : p.swapbacked ? mm.rss_shmem : mm.rss_file;
}

// ---- fault.cpp (arch/x86/mm/fault.c, mm/memory.c) ----
// Helpers of the fault handlers, shared with do_fault.cpp.
void set_pte_at(KernelState& k, u64 pte_pa, u64 pte, Recorder& r);  // + update_mmu_cache
std::optional<u64> folio_prealloc(KernelState& k, Recorder& r);      // a user frame, charged
void vmf_anon_prepare(VmFault& vmf);                                  // the VMA's anon_vma
void folio_add_new_anon_rmap(KernelState& k, u64 pfn, Recorder& r);  // RMAP_EXCLUSIVE
std::optional<u64> vmf_pte_alloc(VmFault& vmf, Recorder& r);          // vmf.address's PTE
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

// ---- do_fault.cpp (mm/memory.c: do_fault and its callees) ----
// do_fault: a missing PTE in a VMA with a vm_file (a file, or shmem).
vm_fault_t do_fault(VmFault& vmf, Recorder& r);

// ---- filemap.cpp (mm/filemap.c, mm/shmem.c, mm/mmap.c's write-notify) ----
// The named file `name`: declared by `file`, or created "large enough, ext4" by
// its first mmap. KernelError if declared twice, or after it was first mapped.
void file_declare(KernelState& k, const std::string& name, u64 size, bool tmpfs);
std::shared_ptr<File> file_get(KernelState& k, const std::string& name);
// vma_wants_writenotify: a shared writable mapping of a file whose filesystem
// wants to hear of the first write to each clean page (->page_mkwrite; ext4, not
// tmpfs), so its PTEs are installed read-only until then.
bool vma_wants_writenotify(const Vma& vma);
// vma->vm_page_prot as vma_set_page_prot computes it: vm_get_page_prot, without RW
// where the mapping wants write-notify.
u64 vma_page_prot(const Vma& vma);
// Frames held by page caches (files and shmem).
u64 page_cache_frames(const KernelState& k);
// kernel.cow=eager (Windows 98, seeds/004): at mmap, every page of [start, end),
// a private writable file mapping, gets its private copy at once. Returns the cycles.
u64 cow_eager_populate(KernelState& k, Mm& mm, u64 start, u64 end);

// ---- fork.cpp (kernel/fork.c, mm/mmap.c dup_mmap, mm/memory.c copy_page_range) ----
// dup_mmap: fills `child` from `parent`; false if it ran out of frames.
bool dup_mmap(KernelState& k, Mm& parent, Mm& child, Recorder& r);

// flush_pmd_tlb_range of one 2 MiB leaf: one INVLPG, the stride being PMD_SIZE.
inline void flush_pmd_tlb_range(KernelState& k, Mm& mm, u64 haddr, Recorder& r) {
  k.tlb.flush_tlb_mm_range(mm, haddr, haddr + (1ull << 21), 21, false, r);
}

// ---- process.cpp (kernel/fork.c, kernel/exit.c, fs/exec.c, kernel/sched/core.c) ----
// context_switch: `cpu` runs task `next` (switch_mm_irqs_off when the mm changes or
// the CPU was lazy). Returns the cycles.
u64 context_switch(KernelState& k, unsigned cpu, Pid next, bool scheduled);
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
