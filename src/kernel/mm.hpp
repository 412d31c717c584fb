// Address spaces: the model's `struct mm_struct` and `struct vm_area_struct`
// (include/linux/mm_types.h), with the VMA tree operations of mm/vma.c that the
// modelled system calls need (lookup, split, merge).
#pragma once

#include <bitset>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace mmusim::kernel {

using u64 = std::uint64_t;
// A set of CPUs (struct cpumask), one bit per core.
using CpuMask = std::bitset<config::kMaxCores>;

// vm_flags bits, with the values of include/linux/mm.h.
inline constexpr u64 VM_NONE = 0;
inline constexpr u64 VM_READ = 0x1;
inline constexpr u64 VM_WRITE = 0x2;
inline constexpr u64 VM_EXEC = 0x4;
inline constexpr u64 VM_SHARED = 0x8;
inline constexpr u64 VM_MAYREAD = 0x10;
inline constexpr u64 VM_MAYWRITE = 0x20;
inline constexpr u64 VM_MAYEXEC = 0x40;
inline constexpr u64 VM_MAYSHARE = 0x80;
inline constexpr u64 VM_HUGEPAGE = 0x20000000;
inline constexpr u64 VM_NOHUGEPAGE = 0x40000000;
inline constexpr u64 VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC;

// TASK_SIZE_MAX of 4-level x86-64 (arch/x86/include/asm/page_64_types.h): user
// addresses end one page below the canonical hole.
inline constexpr u64 kTaskSizeMax = (1ull << 47) - 4096;
// vm.mmap_min_addr default (mm/Kconfig DEFAULT_MMAP_MIN_ADDR on x86): automap
// never maps below it, so a NULL dereference still faults.
inline constexpr u64 kMmapMinAddr = 0x10000;
inline constexpr u64 kPageSize = 4096;
inline constexpr unsigned kPageShift = 12;

// An anon_vma is only identity here: which private VMAs may merge, and whether a
// VMA ever had a private page (vma_needs_copy in fork).
struct AnonVma {
  u64 id;
};

// i_size of a file the trace never declared: "large enough" (TRACE_FORMAT.md).
inline constexpr u64 kFileSizeUnbounded = ~0ull;

// What a file-backed or shared mapping maps: struct file, its inode and its
// address_space (the page cache, index → pfn) in one. Either a file of the trace,
// found by name (filemap.cpp), or the unnamed tmpfs inode that shmem_zero_setup
// gives one MAP_SHARED|MAP_ANONYMOUS mapping. Every VMA mapping the object at the
// same offset shares its page-cache frames.
struct File {
  u64 id = 0;
  std::map<u64, u64> pages;      // the page cache: page index → pfn
  std::string name;              // empty: the shmem inode of an anonymous shared mapping
  u64 size = kFileSizeUnbounded; // i_size in bytes
  bool shmem = true;             // shmem_mapping: tmpfs (no ->page_mkwrite, no writeback); else ext4

  bool anonymous() const { return name.empty(); }
  // Pages below EOF: DIV_ROUND_UP(i_size, PAGE_SIZE).
  u64 nr_pages() const {
    return size == kFileSizeUnbounded ? size >> kPageShift : (size >> kPageShift) + ((size & (kPageSize - 1)) != 0);
  }
};

struct Vma {
  u64 vm_start = 0, vm_end = 0;  // [vm_start, vm_end)
  u64 vm_flags = 0;
  u64 vm_pgoff = 0;              // offset of vm_start in vm_file, in pages; or vm_start >> 12
  std::shared_ptr<AnonVma> anon_vma;     // set on the first private page (vmf_anon_prepare)
  std::shared_ptr<File> vm_file;         // the mapped file, or the shmem inode of shared anonymous memory
  std::string name;
  bool automapped = false;       // created by `spawn ... automap`, not by the trace

  u64 pages() const { return (vm_end - vm_start) >> kPageShift; }
  bool contains(u64 addr) const { return addr >= vm_start && addr < vm_end; }
  // vma_is_anonymous: no vm_ops. Shared anonymous memory is shmem, not anonymous.
  bool is_anonymous() const { return !vm_file; }
  bool is_shared() const { return (vm_flags & VM_SHARED) != 0; }
  // is_cow_mapping (include/linux/mm.h): private and possibly writable.
  bool is_cow_mapping() const { return (vm_flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE; }
  // vma_is_accessible: any of read, write, exec.
  bool is_accessible() const { return (vm_flags & VM_ACCESS_FLAGS) != 0; }
  // linear_page_index: the page offset of `addr` in the mapped object.
  u64 pgoff_of(u64 addr) const { return vm_pgoff + ((addr - vm_start) >> kPageShift); }
};

class Mm {
 public:
  Mm(u64 id, u64 pgd_pfn) : id_(id), pgd_pfn_(pgd_pfn) {}
  // A copy would hold extra references to shmem objects and keep their pages
  // alive; fork builds the child's VMAs one by one instead (dup_mmap).
  Mm(const Mm&) = delete;
  Mm& operator=(const Mm&) = delete;

  u64 id() const { return id_; }             // unique per address space (a PCID/ASID source)
  u64 pgd_pfn() const { return pgd_pfn_; }
  u64 cr3() const { return pgd_pfn_ << kPageShift; }
  const std::map<u64, Vma>& vmas() const { return vmas_; }

  // vma_lookup: the VMA containing addr.
  const Vma* vma_lookup(u64 addr) const;
  Vma* vma_lookup(u64 addr);
  // find_vma: the first VMA ending above addr.
  const Vma* find_vma(u64 addr) const;
  // The VMA just before addr's gap or VMA (find_vma_prev), if any.
  const Vma* find_vma_prev(u64 addr) const;
  bool intersects(u64 start, u64 end) const;
  // True if every page of [start, end) is inside some VMA.
  bool fully_mapped(u64 start, u64 end) const;

  // __split_vma: if addr lies strictly inside a VMA, cut it there.
  void split_vma(u64 addr);
  // Splits at start and end and takes out every VMA inside [start, end).
  std::vector<Vma> detach_range(u64 start, u64 end);
  void insert_vma(Vma vma);
  // The VMAs inside [start, end), after split_vma at both ends.
  std::vector<Vma*> vmas_in(u64 start, u64 end);
  // vma_merge: joins the VMA ending at addr with the one starting there if they
  // are compatible (is_mergeable_vma and is_mergeable_anon_vma).
  bool merge_at(u64 addr);
  std::vector<Vma> take_all();

  // mm_users: tasks (threads) using this address space.
  unsigned users = 1;
  bool automap = false;          // `spawn ... automap`, inherited by fork and exec
  // RSS counters (MM_ANONPAGES, MM_SHMEMPAGES, MM_FILEPAGES) and page-table pages.
  u64 rss_anon = 0, rss_shmem = 0, rss_file = 0, nr_pgtables = 0;
  // pgtable_trans_huge_deposit: the PTE table kept for each THP PMD mapping, by its
  // 2 MiB-aligned address, for a later split (huge_memory.cpp). Counted in nr_pgtables.
  std::map<u64, u64> pmd_huge_pte;
  // mm->context's TLB part (arch/x86/include/asm/mmu.h; kernel/tlb.hpp): the flush
  // generation, bumped by every flush request, and mm_cpumask, the CPUs that may hold
  // its translations. id() is the context's ctx_id.
  u64 tlb_gen = 1;
  CpuMask cpumask;

 private:
  u64 id_;
  u64 pgd_pfn_;
  std::map<u64, Vma> vmas_;      // keyed by vm_start; never overlapping
};

bool vmas_mergeable(const Vma& prev, const Vma& next);

}  // namespace mmusim::kernel
