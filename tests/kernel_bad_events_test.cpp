// Events a trace may get wrong, at the kernel's interface: each is either refused
// with a KernelError that says why (and then changes nothing at all: no VMA, no
// frame, no TLB flush, no fault count), or does what Linux does with it (munmap
// of nothing succeeds, MAP_FIXED replaces, an old mapping after exec is gone).
// The command-line side (file:line, exit status 2, --keep-going) is in
// cli_errors_test.cpp.
#include <fmt/format.h>

#include <functional>
#include <tuple>

#include "kernel_test_support.hpp"

namespace mmusim::kernel::test {
namespace {

namespace b = mmu::bit;

class KernelBadEvents : public KernelTest {
 protected:
  void SetUp() override {
    KernelTest::SetUp();
    kernel->spawn(1, "p", false);
  }

  // The message of the KernelError `fn` throws; "" if it throws nothing.
  template <class Fn>
  static std::string refusal(Fn&& fn) {
    try {
      fn();
    } catch (const KernelError& e) {
      return e.what();
    }
    return "";
  }

  // start, end, and the rights and sharing of vm_flags (the bits this suite sets).
  using VmaList = std::vector<std::tuple<u64, u64, u64>>;
  VmaList vmas(Pid pid) const {
    VmaList out;
    for (const auto& [start, v] : kernel->mm_of(pid).vmas())
      out.emplace_back(v.vm_start, v.vm_end, v.vm_flags & (VM_ACCESS_FLAGS | VM_SHARED));
    return out;
  }

  // The whole observable state of process `pid`, to show a refused event changed
  // nothing.
  struct Snapshot {
    VmaList vmas;
    u64 in_use, minflt, tlb_calls;
    bool operator==(const Snapshot&) const = default;
  };
  Snapshot snapshot(Pid pid) const { return {vmas(pid), in_use(), minflt(pid), tlb.calls.size()}; }

  static constexpr u64 kA = kBase;  // page-aligned, 2 MiB- and 1 GiB-aligned
};

// do_mmap without MAP_FIXED on a range that meets a mapping: refused, whatever
// the overlap (below, above, inside, around), and nothing changes: the old pages
// keep their data and their PTEs, nothing is populated, nothing is flushed.
TEST_F(KernelBadEvents, OverlappingMmapWithoutFixedIsRefusedAndChangesNothing) {
  kernel->mmap(1, anon(kA, 4 * kPage, "rw-"));
  for (u64 i = 0; i < 4; ++i) ASSERT_TRUE(cpu(1).write64(kA + i * kPage, 100 + i));
  tlb.calls.clear();
  const Snapshot before = snapshot(1);

  EXPECT_EQ(refusal([&] { kernel->mmap(1, anon(kA + kPage, 4 * kPage, "r--")); }),
            fmt::format("mmap: [{:#x}, {:#x}) overlaps the mapping [{:#x}, {:#x}); add `fixed` to replace it "
                        "(MAP_FIXED)",
                        kA + kPage, kA + 5 * kPage, kA, kA + 4 * kPage));
  for (const auto& [start, pages] : std::vector<std::pair<u64, u64>>{
           {kA, 4}, {kA - 2 * kPage, 3}, {kA + 3 * kPage, 2}, {kA + kPage, 1}, {kA - kPage, 6}}) {
    MmapRequest req = anon(start, pages * kPage, "rwx", /*shared=*/pages % 2 == 1);
    req.populate = true;
    const std::string why = refusal([&] { kernel->mmap(1, req); });
    EXPECT_NE(why.find("overlaps the mapping"), std::string::npos) << fmt::format("[{:#x} +{} pages): {}", start,
                                                                                   pages, why);
    EXPECT_EQ(snapshot(1), before) << fmt::format("[{:#x} +{} pages)", start, pages);
  }
  for (u64 i = 0; i < 4; ++i) {
    EXPECT_EQ(cpu(1).read64(kA + i * kPage), 100 + i);
    EXPECT_TRUE(cpu(1).faults().empty()) << "the old PTEs are still there";
    EXPECT_TRUE(pte(1, kA + i * kPage) & b::RW);
  }
  EXPECT_EQ(minflt(1), 4u);
}

// MAP_FIXED replaces exactly what it covers: the tail of one VMA and the head of
// the next are cut off and unmapped (their frames freed, their TLB entries
// flushed), the rest of both keeps its data, and the new range is fresh memory
// with the new rights.
TEST_F(KernelBadEvents, FixedMmapReplacesTheRangeAcrossTwoVmas) {
  kernel->mmap(1, anon(kA, 4 * kPage, "rw-"));
  kernel->mmap(1, anon(kA + 6 * kPage, 4 * kPage, "rwx"));
  for (u64 i : {0, 1, 2, 3, 6, 7, 8, 9}) ASSERT_TRUE(cpu(1).write64(kA + i * kPage, 100 + i));
  const u64 used = in_use();
  tlb.calls.clear();

  MmapRequest req = anon(kA + 2 * kPage, 6 * kPage, "r--");
  req.fixed = true;
  kernel->mmap(1, req);

  EXPECT_EQ(vmas(1), (VmaList{{kA, kA + 2 * kPage, VM_READ | VM_WRITE},
                              {kA + 2 * kPage, kA + 8 * kPage, VM_READ},
                              {kA + 8 * kPage, kA + 10 * kPage, VM_READ | VM_WRITE | VM_EXEC}}));
  EXPECT_EQ(in_use(), used - 4) << "the four written pages in the range were freed";
  for (u64 i : {2, 3, 6, 7}) EXPECT_EQ(tlb.page_flushes(kernel->mm_of(1).id(), kA + i * kPage), 1u) << i;
  for (u64 i : {0, 1, 8, 9}) EXPECT_EQ(cpu(1).read64(kA + i * kPage), 100 + i) << "kept: page " << i;
  for (u64 i = 2; i < 8; ++i) {
    EXPECT_EQ(cpu(1).read64(kA + i * kPage), 0u) << "replaced: page " << i;
    EXPECT_EQ(pfn(1, kA + i * kPage), kernel->zero_pfn());
  }
  EXPECT_FALSE(cpu(1).write64(kA + 2 * kPage, 1)) << "read-only now";
  EXPECT_EQ(cpu(1).faults().back().si_code, SEGV_ACCERR);
}

// MAP_FIXED over a shared mapping in one process: the object lives on in the
// other process that maps it, with its data; the replacing process sees fresh
// private memory.
TEST_F(KernelBadEvents, FixedMmapOverSharedMemoryLeavesTheOtherSharer) {
  kernel->mmap(1, anon(kA, 2 * kPage, "rw-", /*shared=*/true));
  ASSERT_TRUE(cpu(1).write64(kA, 7));
  kernel->fork(1, 2);
  ASSERT_TRUE(cpu(2).write64(kA + kPage, 8));
  MmapRequest req = anon(kA, 2 * kPage, "rw-");
  req.fixed = true;
  kernel->mmap(1, req);
  EXPECT_FALSE(kernel->mm_of(1).vma_lookup(kA)->is_shared());
  EXPECT_EQ(cpu(1).read64(kA), 0u);
  ASSERT_TRUE(cpu(1).write64(kA + kPage, 9));
  EXPECT_EQ(cpu(2).read64(kA), 7u);
  EXPECT_EQ(cpu(2).read64(kA + kPage), 8u) << "not the replacing process's private 9";
  kernel->exit(2);
  kernel->exit(1);
  EXPECT_EQ(in_use(), baseline) << "the object went with its last mapping";
}

// munmap of nothing: Linux's do_vmi_munmap returns 0 when no VMA meets the range.
// No VMA changes, no frame moves, no TLB flush; a range that is partly a hole
// unmaps just the part that is mapped.
TEST_F(KernelBadEvents, MunmapOfNothingSucceedsAndChangesNothing) {
  kernel->spawn(2, "empty", false);
  EXPECT_NO_THROW(kernel->munmap(2, kA, 16 * kPage)) << "a process with no mappings at all";

  kernel->mmap(1, anon(kA + 4 * kPage, 4 * kPage, "rw-"));
  for (u64 i = 4; i < 8; ++i) ASSERT_TRUE(cpu(1).write64(kA + i * kPage, i));
  tlb.calls.clear();
  const Snapshot before = snapshot(1);
  for (const auto& [start, pages] : std::vector<std::pair<u64, u64>>{
           {kA, 4}, {kA + 8 * kPage, 1}, {kA + 8 * kPage, 1000}, {kA - 0x100000, 0x100}, {0x10000, 1}}) {
    u64 cycles = 1;
    EXPECT_NO_THROW(cycles = kernel->munmap(1, start, pages * kPage)) << fmt::format("{:#x}", start);
    EXPECT_EQ(cycles, 0u) << "nothing was done, nothing is charged";
    EXPECT_EQ(snapshot(1), before) << fmt::format("munmap {:#x} +{} pages", start, pages);
  }
  for (u64 i = 4; i < 8; ++i) EXPECT_EQ(cpu(1).read64(kA + i * kPage), i);

  // Hole below, then the first mapped page: only that page goes.
  kernel->munmap(1, kA, 5 * kPage);
  EXPECT_EQ(vmas(1), (VmaList{{kA + 5 * kPage, kA + 8 * kPage, VM_READ | VM_WRITE}}));
  EXPECT_EQ(in_use(), before.in_use - 1);
  EXPECT_EQ(cpu(1).read64(kA + 5 * kPage), 5u);
  // The arguments are still checked: EINVAL.
  EXPECT_NE(refusal([&] { kernel->munmap(1, kA + 1, kPage); }).find("EINVAL"), std::string::npos);
  EXPECT_NE(refusal([&] { kernel->munmap(1, kA, 0); }).find("EINVAL"), std::string::npos);
}

// copy_process needs a live parent: an unknown PID and one that exited are
// refused, each saying which; no child appears, no frame is allocated.
TEST_F(KernelBadEvents, ForkOfAnUnknownOrExitedPidIsRefused) {
  kernel->mmap(1, anon(kA, kPage, "rw-"));
  ASSERT_TRUE(cpu(1).write64(kA, 1));
  kernel->spawn(2, "gone", false);
  kernel->exit(2);
  tlb.calls.clear();
  const Snapshot before = snapshot(1);
  EXPECT_EQ(refusal([&] { kernel->fork(42, 43); }), "fork: unknown PID 42");
  EXPECT_EQ(refusal([&] { kernel->fork(2, 3); }), "fork: PID 2 has exited");
  EXPECT_EQ(refusal([&] { kernel->fork(1, 1); }), "fork: PID 1 already exists");
  EXPECT_NE(refusal([&] { kernel->fork(1, 0); }).find("PID 0"), std::string::npos);
  EXPECT_FALSE(kernel->exists(43));
  EXPECT_FALSE(kernel->exists(3));
  EXPECT_EQ(snapshot(1), before);
  EXPECT_TRUE(pte(1, kA) & b::RW) << "the parent's PTEs were not write-protected by a refused fork";
}

// After exit, every event naming the task is refused with "has exited" (the
// trace's access after exit reaches the kernel as a fault of that PID), while its
// fault counters stay readable; its address space is gone.
TEST_F(KernelBadEvents, EventsNamingAnExitedTaskAreRefused) {
  kernel->mmap(1, anon(kA, 2 * kPage, "rw-"));
  ASSERT_TRUE(cpu(1).write64(kA, 1));
  kernel->exit(1);
  EXPECT_EQ(in_use(), baseline) << "the address space went with its last task";
  const std::vector<std::pair<const char*, std::function<void()>>> events{
      {"mmap", [&] { kernel->mmap(1, anon(kA + 4 * kPage, kPage, "rw-")); }},
      {"munmap", [&] { kernel->munmap(1, kA, kPage); }},
      {"mprotect", [&] { kernel->mprotect(1, kA, kPage, prot("r--")); }},
      {"madvise", [&] { kernel->madvise(1, kA, kPage, traces::Advice::DontNeed); }},
      {"thread", [&] { kernel->thread(1, 5); }},
      {"exec", [&] { kernel->exec(1, "again"); }},
      {"exit", [&] { kernel->exit(1); }},
      {"kill", [&] { kernel->kill(1); }},
      {"page fault", [&] {
         FaultRecord rec;
         kernel->exc_page_fault(1, kA, pf::U, rec);
       }},
  };
  for (const auto& [name, fn] : events)
    EXPECT_EQ(refusal(fn), std::string(name) + ": PID 1 has exited") << name;
  EXPECT_FALSE(kernel->exists(5));
  EXPECT_EQ(minflt(1), 1u) << "counters outlive the task";
  EXPECT_EQ(in_use(), baseline);
  EXPECT_EQ(refusal([&] { kernel->mmap(77, anon(kA, kPage, "rw-")); }), "mmap: unknown PID 77");
}

// mprotect over a hole: Linux returns ENOMEM. The simulator refuses the whole call
// and changes nothing (a documented simplification: Linux's do_mprotect_pkey has
// already applied the new rights to the VMAs below the hole when it finds it).
// Here: no split, no PTE change, no flush; the pages stay writable without a fault.
TEST_F(KernelBadEvents, MprotectOverAHoleIsEnomemAndChangesNothing) {
  kernel->mmap(1, anon(kA, 2 * kPage, "rw-"));
  kernel->mmap(1, anon(kA + 3 * kPage, 2 * kPage, "rw-"));
  for (u64 i : {0, 1, 3, 4}) ASSERT_TRUE(cpu(1).write64(kA + i * kPage, i));
  tlb.calls.clear();
  const Snapshot before = snapshot(1);
  for (const auto& [start, pages] :
       std::vector<std::pair<u64, u64>>{{kA, 5}, {kA + kPage, 3}, {kA + 2 * kPage, 2}, {kA - kPage, 2}}) {
    EXPECT_EQ(refusal([&] { kernel->mprotect(1, start, pages * kPage, prot("r--")); }),
              fmt::format("mprotect: [{:#x}, {:#x}) is not entirely mapped (ENOMEM)", start, start + pages * kPage));
    EXPECT_EQ(snapshot(1), before) << fmt::format("mprotect {:#x} +{} pages", start, pages);
  }
  for (u64 i : {0, 1, 3, 4}) {
    EXPECT_TRUE(pte(1, kA + i * kPage) & b::RW);
    ASSERT_TRUE(cpu(1).write64(kA + i * kPage, 10 + i));
    EXPECT_TRUE(cpu(1).faults().empty());
  }
}

// exec drops the old address space: an access to an old mapping is SIGSEGV with
// SEGV_MAPERR (no VMA), error code 0x4 (user read, not present). A child forked
// before the exec keeps the pages it shared, and since it is now their only user,
// its next write reuses them instead of copying.
TEST_F(KernelBadEvents, ExecThenAccessOfTheOldMappingIsMaperr) {
  kernel->mmap(1, anon(kA, 2 * kPage, "rw-"));
  ASSERT_TRUE(cpu(1).write64(kA, 7));
  kernel->fork(1, 2);
  kernel->exec(1, "new");
  EXPECT_TRUE(kernel->mm_of(1).vmas().empty());
  EXPECT_FALSE(cpu(1).read64(kA).has_value());
  ASSERT_EQ(cpu(1).faults().size(), 1u);
  EXPECT_EQ(cpu(1).faults()[0].resolution, Resolution::Sigsegv);
  EXPECT_EQ(cpu(1).faults()[0].si_code, SEGV_MAPERR);
  EXPECT_EQ(cpu(1).faults()[0].error_code, pf::U);
  EXPECT_FALSE(kernel->alive(1));

  const u64 f = pfn(2, kA);
  EXPECT_EQ(page(f).refcount, 1u);
  EXPECT_EQ(cpu(2).read64(kA), 7u);
  ASSERT_TRUE(cpu(2).write64(kA, 8));
  ASSERT_EQ(cpu(2).faults().size(), 1u);
  EXPECT_EQ(cpu(2).faults()[0].resolution, Resolution::CowReuse);
  EXPECT_EQ(pfn(2, kA), f);
}

// ---------------------------------------------------------------- page tables
//
// munmap (and MAP_FIXED, which unmaps first) over several VMAs frees the page
// tables no VMA needs any more, bottom-up, once for the whole range (Linux's
// free_pgtables between the surviving neighbours). Regression tests: do_munmap
// used to call free_pgtables per detached VMA, and freed a PMD (or PUD) table as
// soon as no VMA met its span, while the PTE (or PMD) table of a later VMA of the
// same munmap still hung off it: std::logic_error("kernel: freeing a page table
// that still has entries") half-way through (found by kernel_stress_test, about
// one seed in six; fixed in 370dcfe).

// Two VMAs on each side of a 2 MiB boundary (two PTE tables under one PMD table),
// nothing else in their 1 GiB, both touched, unmapped by one munmap.
TEST_F(KernelBadEvents, MunmapAcrossPageTablesFreesTablesInOrder) {
  constexpr u64 kLow = 0x7f00001ff000ull, kHigh = 0x7f0000200000ull;
  kernel->mmap(1, anon(kLow, kPage, "rw-"));
  kernel->mmap(1, anon(kHigh, kPage, "r--"));  // other rights: two VMAs
  ASSERT_TRUE(cpu(1).write64(kLow, 1));
  ASSERT_TRUE(cpu(1).read64(kHigh).has_value());
  kernel->munmap(1, kLow, 2 * kPage);
  EXPECT_TRUE(kernel->mm_of(1).vmas().empty());
  EXPECT_EQ(in_use(), baseline + 1) << "every table but the PGD was freed (free_pgd_range)";
  EXPECT_EQ(kernel->mm_of(1).nr_pgtables, 0u);
  EXPECT_FALSE(cpu(1).read64(kLow).has_value());
  EXPECT_EQ(cpu(1).faults().back().si_code, SEGV_MAPERR);
}

// The same one level up: two VMAs on each side of a 1 GiB boundary (two PMD
// tables under one PUD table).
TEST_F(KernelBadEvents, MunmapAcrossAGigabyteBoundaryFreesTablesInOrder) {
  constexpr u64 kLow = 0x3ffff000ull, kHigh = 0x40000000ull;
  kernel->mmap(1, anon(kLow, kPage, "rw-"));
  kernel->mmap(1, anon(kHigh, kPage, "r--"));
  ASSERT_TRUE(cpu(1).write64(kLow, 1));
  ASSERT_TRUE(cpu(1).read64(kHigh).has_value());
  kernel->munmap(1, kLow, 2 * kPage);
  EXPECT_TRUE(kernel->mm_of(1).vmas().empty());
  EXPECT_EQ(in_use(), baseline + 1);
  EXPECT_EQ(kernel->mm_of(1).nr_pgtables, 0u);
}

// MAP_FIXED unmaps first (do_munmap), so it had the same bug: replacing two VMAs
// in two PTE tables with one mapping.
TEST_F(KernelBadEvents, FixedMmapAcrossPageTablesReplacesBoth) {
  constexpr u64 kLow = 0x7f00001ff000ull, kHigh = 0x7f0000200000ull;
  kernel->mmap(1, anon(kLow, kPage, "rw-"));
  kernel->mmap(1, anon(kHigh, kPage, "r--"));
  ASSERT_TRUE(cpu(1).write64(kLow, 1));
  ASSERT_TRUE(cpu(1).read64(kHigh).has_value());
  MmapRequest req = anon(kLow, 2 * kPage, "rw-");
  req.fixed = true;
  kernel->mmap(1, req);
  EXPECT_EQ(vmas(1), (VmaList{{kLow, kLow + 2 * kPage, VM_READ | VM_WRITE}}));
  EXPECT_EQ(cpu(1).read64(kLow), 0u);
  EXPECT_EQ(cpu(1).read64(kHigh), 0u);
  ASSERT_TRUE(cpu(1).write64(kHigh, 2));
}

}  // namespace
}  // namespace mmusim::kernel::test
