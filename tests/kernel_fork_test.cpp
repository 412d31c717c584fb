// fork and copy-on-write: dup_mmap / copy_page_range (kernel/fork.c, mm/memory.c)
// and the do_wp_page decisions that follow (wp_page_copy vs wp_page_reuse),
// checked against the reference's §1.9 and the seed scenario
// (shared/seeds/003: "a child: 8", "a parent: 10").
#include "kernel_test_support.hpp"

namespace mmusim::kernel::test {
namespace {

namespace b = mmu::bit;

class ForkTest : public KernelTest {
 protected:
  void SetUp() override {
    KernelTest::SetUp();
    kernel->spawn(1, "parent", false);
    kernel->mmap(1, anon(kStack, 16 * kPage, "rw-", false));
  }
  static constexpr u64 kStack = 0x7ffe152c0000ull;  // the seed's stack page, 16 pages around it
  static constexpr u64 kA = 0x7ffe152c89f8ull;      // `a` in the seed's output
};

// copy_present_ptes: a private page written before fork ends up read-only in both
// processes, refcount 2 / mapcount 2, no longer exclusive; the child's PTE is old;
// the parent's mm is flushed once.
TEST_F(ForkTest, ForkWriteProtectsBothSides) {
  ASSERT_TRUE(cpu(1).write64(kA, 10));
  const u64 f = pfn(1, kA);
  ASSERT_TRUE(pte(1, kA) & b::RW);
  tlb.calls.clear();
  const u64 cycles = kernel->fork(1, 2);
  EXPECT_EQ(pfn(2, kA), f) << "same frame";
  EXPECT_FALSE(pte(1, kA) & b::RW);
  EXPECT_FALSE(pte(2, kA) & b::RW);
  EXPECT_TRUE(pte(1, kA) & b::A);
  EXPECT_FALSE(pte(2, kA) & b::A) << "child PTE is old (pte_mkold)";
  EXPECT_TRUE(pte(2, kA) & b::D) << "private: dirty kept";
  EXPECT_EQ(page(f).refcount, 2u);
  EXPECT_EQ(page(f).mapcount, 2u);
  EXPECT_FALSE(page(f).anon_exclusive);
  EXPECT_EQ(tlb.mm_flushes(kernel->mm_of(1).id()), 1u);
  EXPECT_EQ(tlb.calls.size(), 1u) << "only the one flush_tlb_mm(parent)";
  EXPECT_FALSE(cpu(1).cached(kA)) << "the parent's writable TLB entry is gone";
  const auto& c = cost();
  EXPECT_EQ(cycles, 4 * c.pgtable_alloc /* PGD + PUD + PMD + PTE */ + c.fork_per_pte + c.tlb_flush_local);
  EXPECT_EQ(minflt(2), 0u);
  EXPECT_EQ(kernel->mm_of(2).rss_anon, 1u);
}

// The seed scenario, exactly: the child's write copies (wp_page_copy with that
// kernel stack), both values survive, the parent's PFN never changes, and after
// the child exits the parent's next write reuses its page with one fault.
TEST_F(ForkTest, SeedScenarioChildCopiesParentKeepsValue) {
  ASSERT_TRUE(cpu(1).write64(kA, 10));
  const u64 parent_pfn = pfn(1, kA);
  const u64 parent_flt = minflt(1);
  kernel->fork(1, 2);
  EXPECT_EQ(pfn(2, kA), parent_pfn);

  tlb.calls.clear();
  ASSERT_TRUE(cpu(2).write64(kA, 8));
  ASSERT_EQ(cpu(2).faults().size(), 1u);
  const FaultRecord& rec = cpu(2).faults()[0];
  EXPECT_EQ(rec.resolution, Resolution::CowCopy);
  EXPECT_EQ(path_of(rec), (std::vector<std::string>{"wp_page_copy", "do_wp_page", "handle_pte_fault",
                                                    "__handle_mm_fault", "handle_mm_fault", "do_user_addr_fault",
                                                    "exc_page_fault"}));
  EXPECT_EQ(rec.error_code, pf::U | pf::W | pf::P);
  EXPECT_TRUE(has_step(rec, "copy"));
  EXPECT_FALSE(has_step(rec, "zero"));
  EXPECT_EQ(rec.total_cycles, steps_sum(rec));
  const auto& c = cost();
  EXPECT_EQ(rec.total_cycles, c.exception_entry + c.exception_exit + c.vma_lookup + c.pgtable_walk + c.frame_alloc +
                                  c.copy_cycles(4096) + c.tlb_flush_local + 2 * c.rmap_update + c.pte_update);
  EXPECT_EQ(tlb.page_flushes(kernel->mm_of(2).id(), kA), 1u) << "ptep_clear_flush in the writer's mm";
  EXPECT_EQ(tlb.calls.size(), 1u);

  const u64 child_pfn = pfn(2, kA);
  EXPECT_NE(child_pfn, parent_pfn);
  EXPECT_TRUE(page(child_pfn).anon_exclusive);
  EXPECT_EQ(cpu(2).read64(kA), 8u) << "a child: 8";
  EXPECT_EQ(minflt(2), 1u);
  EXPECT_EQ(page(parent_pfn).refcount, 1u);
  EXPECT_EQ(page(parent_pfn).mapcount, 1u);
  EXPECT_FALSE(pte(1, kA) & b::RW) << "the parent's PTE stays read-only";

  kernel->exit(2);
  EXPECT_EQ(cpu(1).read64(kA), 10u) << "a parent: 10";
  EXPECT_EQ(pfn(1, kA), parent_pfn);
  EXPECT_EQ(minflt(1), parent_flt) << "reads of a read-only present page do not fault";

  tlb.calls.clear();
  ASSERT_TRUE(cpu(1).write64(kA, 11));
  ASSERT_EQ(cpu(1).faults().size(), 1u);
  EXPECT_EQ(cpu(1).faults()[0].resolution, Resolution::CowReuse);
  EXPECT_EQ(path_of(cpu(1).faults()[0]), chain({"wp_page_reuse", "do_wp_page"}));
  EXPECT_FALSE(has_step(cpu(1).faults()[0], "copy"));
  // wp_can_reuse_anon_folio → folio_move_anon_rmap: fork had cleared PageAnonExclusive.
  EXPECT_TRUE(has_step(cpu(1).faults()[0], "rmap_update"));
  EXPECT_TRUE(page(parent_pfn).anon_exclusive);
  EXPECT_TRUE(tlb.calls.empty()) << "wp_page_reuse is an upgrade: no flush";
  EXPECT_EQ(pfn(1, kA), parent_pfn) << "same PFN";
  EXPECT_TRUE(pte(1, kA) & b::RW);
  EXPECT_TRUE(page(parent_pfn).anon_exclusive);
  EXPECT_EQ(minflt(1), parent_flt + 1);
  EXPECT_EQ(cpu(1).read64(kA), 11u);
}

// do_wp_page: the surviving side reuses while the other process is still alive,
// once that one has copied away (refcount 1).
TEST_F(ForkTest, ReuseAfterOtherSideCopied) {
  ASSERT_TRUE(cpu(1).write64(kA, 10));
  const u64 f = pfn(1, kA);
  kernel->fork(1, 2);
  ASSERT_TRUE(cpu(2).write64(kA, 8));
  ASSERT_TRUE(cpu(1).write64(kA, 12));
  EXPECT_EQ(cpu(1).faults().at(0).resolution, Resolution::CowReuse);
  EXPECT_EQ(pfn(1, kA), f);
  EXPECT_EQ(cpu(2).read64(kA), 8u);
  EXPECT_EQ(cpu(1).read64(kA), 12u);
}

// The parent writes first: the parent copies, the child later reuses the original.
TEST_F(ForkTest, ParentWritesFirst) {
  ASSERT_TRUE(cpu(1).write64(kA, 10));
  const u64 f = pfn(1, kA);
  kernel->fork(1, 2);
  ASSERT_TRUE(cpu(1).write64(kA, 20));
  EXPECT_EQ(cpu(1).faults().at(0).resolution, Resolution::CowCopy);
  EXPECT_NE(pfn(1, kA), f);
  EXPECT_EQ(cpu(2).read64(kA), 10u) << "the child still sees the value at fork time";
  ASSERT_TRUE(cpu(2).write64(kA, 30));
  EXPECT_EQ(cpu(2).faults().at(0).resolution, Resolution::CowReuse);
  EXPECT_EQ(pfn(2, kA), f);
  EXPECT_EQ(minflt(1), 2u);
  EXPECT_EQ(minflt(2), 1u);
}

// Three processes share a page: refcount 3; each write copies until one is left.
TEST_F(ForkTest, GrandchildSharing) {
  ASSERT_TRUE(cpu(1).write64(kA, 1));
  const u64 f = pfn(1, kA);
  kernel->fork(1, 2);
  kernel->fork(2, 3);
  EXPECT_EQ(page(f).refcount, 3u);
  EXPECT_EQ(page(f).mapcount, 3u);
  ASSERT_TRUE(cpu(3).write64(kA, 3));
  EXPECT_EQ(cpu(3).faults().at(0).resolution, Resolution::CowCopy);
  ASSERT_TRUE(cpu(2).write64(kA, 2));
  EXPECT_EQ(cpu(2).faults().at(0).resolution, Resolution::CowCopy);
  ASSERT_TRUE(cpu(1).write64(kA, 11));
  EXPECT_EQ(cpu(1).faults().at(0).resolution, Resolution::CowReuse);
  EXPECT_EQ(cpu(1).read64(kA), 11u);
  EXPECT_EQ(cpu(2).read64(kA), 2u);
  EXPECT_EQ(cpu(3).read64(kA), 3u);
}

// vma_needs_copy: a shared mapping's PTEs are not copied; the child refaults and
// maps the same shmem page, writable in both (no COW on shared memory).
TEST_F(ForkTest, SharedMappingStaysWritableAndShared) {
  constexpr u64 kShm = 0x7f1000000000ull;
  kernel->mmap(1, anon(kShm, 4 * kPage, "rw-", true));
  ASSERT_TRUE(cpu(1).write64(kShm, 100));
  const u64 f = pfn(1, kShm);
  kernel->fork(1, 2);
  EXPECT_TRUE(pte(1, kShm) & b::RW) << "the parent keeps RW";
  EXPECT_EQ(pte(2, kShm), 0u) << "not copied: the child refaults";
  EXPECT_EQ(cpu(2).read64(kShm), 100u);
  EXPECT_EQ(cpu(2).faults().at(0).resolution, Resolution::PageCache);
  EXPECT_EQ(pfn(2, kShm), f);
  EXPECT_TRUE(pte(2, kShm) & b::RW);
  ASSERT_TRUE(cpu(2).write64(kShm, 200));
  EXPECT_TRUE(cpu(2).faults().empty());
  EXPECT_EQ(cpu(1).read64(kShm), 200u) << "one page, seen by both";
  EXPECT_TRUE(cpu(1).faults().empty());
  EXPECT_EQ(page(f).refcount, 3u) << "page cache + two mappings";
  EXPECT_EQ(page(f).mapcount, 2u);
}

// do_fault_around: one read fault in the child maps every resident page of the
// 16-page window (fault_around_bytes = 64 KiB), counted once.
TEST_F(ForkTest, SharedFaultAroundMapsResidentPages) {
  constexpr u64 kShm = 0x7f1000000000ull;
  kernel->mmap(1, anon(kShm, 40 * kPage, "rw-", true));
  for (u64 i = 0; i < 40; ++i)
    if (i != 5) {
      ASSERT_TRUE(cpu(1).write64(kShm + i * kPage, i));
    }
  EXPECT_EQ(minflt(1), 39u);
  kernel->fork(1, 2);
  EXPECT_EQ(cpu(2).read64(kShm + 3 * kPage), 3u);
  const FaultRecord& rec = cpu(2).faults().at(0);
  EXPECT_EQ(path_of(rec), chain({"filemap_map_pages", "do_fault_around", "do_read_fault", "do_fault", "do_pte_missing"}));
  EXPECT_FALSE(has_step(rec, "frame_alloc"));
  for (u64 i = 0; i < 16; ++i) {
    if (i == 5) {
      EXPECT_EQ(pte(2, kShm + i * kPage), 0u) << "a hole stays unmapped";
    } else {
      EXPECT_EQ(pfn(2, kShm + i * kPage), pfn(1, kShm + i * kPage)) << i;
    }
  }
  EXPECT_EQ(pte(2, kShm + 16 * kPage), 0u) << "outside the window";
  for (u64 i = 0; i < 16; ++i)
    if (i != 5) {
      ASSERT_EQ(cpu(2).read64(kShm + i * kPage), i);
    }
  EXPECT_EQ(minflt(2), 1u);
  // The hole: fault-around finds nothing there, shmem_fault allocates it.
  EXPECT_EQ(cpu(2).read64(kShm + 5 * kPage), 0u);
  EXPECT_EQ(path_of(cpu(2).faults().at(0)),
            chain({"shmem_fault", "__do_fault", "do_read_fault", "do_fault", "do_pte_missing"}));
  EXPECT_EQ(minflt(2), 2u);
  EXPECT_EQ(cpu(1).read64(kShm + 5 * kPage), 0u);
  EXPECT_EQ(pfn(1, kShm + 5 * kPage), pfn(2, kShm + 5 * kPage));
  // A read in the second window maps pages 16..31.
  EXPECT_EQ(cpu(2).read64(kShm + 31 * kPage), 31u);
  EXPECT_NE(pte(2, kShm + 16 * kPage), 0u);
  EXPECT_EQ(pte(2, kShm + 32 * kPage), 0u);
  EXPECT_EQ(minflt(2), 3u);
}

// vma_needs_copy: a private VMA that was only read (zero page, no anon_vma) is
// not copied, so the child's read faults again; one with an anon_vma has its
// zero-page PTEs copied.
TEST_F(ForkTest, ZeroPageOnlyVmaIsNotCopied) {
  constexpr u64 kOther = 0x7f2000000000ull;
  kernel->mmap(1, anon(kOther, 4 * kPage, "rw-"));
  ASSERT_EQ(cpu(1).read64(kOther), 0u);
  ASSERT_EQ(cpu(1).read64(kStack), 0u);
  ASSERT_TRUE(cpu(1).write64(kStack + kPage, 1));  // gives kStack's VMA an anon_vma
  kernel->fork(1, 2);
  EXPECT_EQ(pte(2, kOther), 0u);
  EXPECT_EQ(pfn(2, kStack), kernel->zero_pfn());
  EXPECT_FALSE(pte(2, kStack) & b::A);
  ASSERT_EQ(cpu(2).read64(kOther), 0u);
  ASSERT_EQ(cpu(2).read64(kStack), 0u);
  EXPECT_EQ(minflt(2), 1u) << "only the VMA without anon_vma refaults";
  ASSERT_TRUE(cpu(2).write64(kStack, 5));
  EXPECT_EQ(cpu(2).faults().at(0).resolution, Resolution::CowCopy);
  EXPECT_TRUE(has_step(cpu(2).faults().at(0), "zero"));
}

// Adjacent private mappings merge (vma_merge_new_range), so a written neighbour's
// anon_vma covers them all at fork.
TEST_F(ForkTest, MergedNeighbourSharesAnonVma) {
  kernel->mmap(1, anon(kStack + 16 * kPage, 4 * kPage, "rw-"));
  EXPECT_EQ(kernel->mm_of(1).vmas().size(), 1u);
  ASSERT_TRUE(cpu(1).write64(kStack, 1));
  ASSERT_EQ(cpu(1).read64(kStack + 17 * kPage), 0u);
  kernel->fork(1, 2);
  ASSERT_EQ(cpu(2).read64(kStack + 17 * kPage), 0u);
  EXPECT_EQ(minflt(2), 0u);
}

// exit: the last user of each mm frees every frame and page table.
TEST_F(ForkTest, ExitFreesEverything) {
  constexpr u64 kShm = 0x7f1000000000ull;
  kernel->mmap(1, anon(kShm, 4 * kPage, "rw-", true));
  for (u64 i = 0; i < 8; ++i) ASSERT_TRUE(cpu(1).write64(kStack + i * kPage, i));
  ASSERT_TRUE(cpu(1).write64(kShm, 1));
  kernel->fork(1, 2);
  ASSERT_TRUE(cpu(2).write64(kStack, 9));
  ASSERT_EQ(cpu(2).read64(kShm), 1u);
  kernel->thread(2, 3);
  ASSERT_TRUE(cpu(3).write64(kStack + kPage, 9));
  kernel->exit(1);
  expect_consistent();
  kernel->exit(2);
  EXPECT_GT(in_use(), baseline) << "thread 3 still uses the child's mm";
  expect_consistent();
  kernel->exit(3);
  EXPECT_EQ(in_use(), baseline) << "only the zero page is left";
  EXPECT_EQ(kernel->counters(3).minflt, 1u) << "counters outlive the task";
}

// copy_process: unknown parents and taken PIDs are refused; a PID is free again
// after exit.
TEST_F(ForkTest, ForkErrors) {
  EXPECT_THROW(kernel->fork(9, 10), KernelError) << "unknown parent";
  kernel->spawn(2, "x", false);
  EXPECT_THROW(kernel->fork(1, 2), KernelError) << "duplicate child";
  EXPECT_THROW(kernel->fork(1, 1), KernelError);
  kernel->exit(2);
  EXPECT_NO_THROW(kernel->fork(1, 2)) << "a PID may be reused after exit";
  EXPECT_THROW(kernel->thread(1, 2), KernelError);
  EXPECT_THROW(kernel->spawn(1, "again", false), KernelError);
}

// copy_process failing with -ENOMEM: no child, the parent runs on, nothing leaks.
TEST_F(ForkTest, ForkOutOfMemoryFailsCleanly) {
  boot(24 * kPage);
  kernel->spawn(1, "parent", false);
  kernel->mmap(1, anon(kStack, 16 * kPage, "rw-"));
  u64 written = 0;
  while (written < 16 && in_use() < kernel->frames().capacity() - 2 && cpu(1).write64(kStack + written * kPage, written))
    ++written;
  ASSERT_GT(written, 0u);
  const u64 before = in_use();
  EXPECT_THROW(kernel->fork(1, 2), KernelError);
  EXPECT_FALSE(kernel->exists(2));
  EXPECT_EQ(in_use(), before);
  EXPECT_TRUE(kernel->alive(1));
  ASSERT_TRUE(cpu(1).write64(kStack, 42));
  // Whatever the failed fork write-protected is reused, never copied.
  for (const FaultRecord& f : cpu(1).faults()) EXPECT_EQ(f.resolution, Resolution::CowReuse);
  EXPECT_EQ(cpu(1).read64(kStack), 42u);
}

// The same, failing in the middle of copy_page_range: the PTEs already copied
// were write-protected in the parent, and the child's references are dropped
// again, so the parent's next writes reuse its own pages.
TEST_F(ForkTest, ForkOutOfMemoryMidwayLeavesParentReusing) {
  constexpr u64 kSpan = 0x7f00001f0000ull;  // 16 pages each side of a 2 MiB boundary
  // zero page + PGD, PUD, PMD, two PTE tables + 32 pages = 38; the child can get
  // its PGD, PUD, PMD and first PTE table, not the second.
  boot(43 * kPage);
  kernel->spawn(1, "parent", false);
  kernel->mmap(1, anon(kSpan, 32 * kPage, "rw-"));
  for (u64 i = 0; i < 32; ++i) ASSERT_TRUE(cpu(1).write64(kSpan + i * kPage, i));
  ASSERT_EQ(kernel->frames().available(), 4u);
  EXPECT_THROW(kernel->fork(1, 2), KernelError);
  EXPECT_EQ(kernel->frames().available(), 4u);
  EXPECT_FALSE(pte(1, kSpan) & b::RW) << "copied before the failure: write-protected";
  EXPECT_TRUE(pte(1, kSpan + 16 * kPage) & b::RW) << "never reached";
  EXPECT_EQ(page(pfn(1, kSpan)).refcount, 1u);
  const u64 f = pfn(1, kSpan);
  ASSERT_TRUE(cpu(1).write64(kSpan, 100));
  EXPECT_EQ(cpu(1).faults().at(0).resolution, Resolution::CowReuse);
  EXPECT_EQ(pfn(1, kSpan), f);
  EXPECT_EQ(cpu(1).read64(kSpan + 31 * kPage), 31u);
}

// The child of an automapping process automaps too.
TEST_F(ForkTest, AutomapIsInherited) {
  kernel->spawn(7, "auto", true);
  ASSERT_TRUE(cpu(7).write64(kBase, 1));
  kernel->fork(7, 8);
  EXPECT_EQ(cpu(8).read64(kBase), 1u);
  ASSERT_TRUE(cpu(8).write64(kBase + 100 * kPage, 2));
  EXPECT_EQ(kernel->counters(8).automaps, 1u);
}

// Threads share the mm: one's fault serves the other; counters are per thread.
TEST_F(ForkTest, ThreadsShareTheAddressSpace) {
  kernel->thread(1, 2);
  EXPECT_EQ(&kernel->mm_of(1), &kernel->mm_of(2));
  EXPECT_EQ(kernel->cr3(1), kernel->cr3(2));
  ASSERT_TRUE(cpu(2).write64(kA, 5));
  EXPECT_EQ(cpu(1).read64(kA), 5u);
  EXPECT_EQ(minflt(2), 1u);
  EXPECT_EQ(minflt(1), 0u);
}

// exec: a new empty mm; the old one is dropped (freed as the last user), other
// threads die (de_thread).
TEST_F(ForkTest, ExecReplacesAddressSpace) {
  ASSERT_TRUE(cpu(1).write64(kA, 5));
  kernel->thread(1, 2);
  const u64 old_cr3 = kernel->cr3(1);
  kernel->exec(1, "new");
  EXPECT_NE(kernel->cr3(1), old_cr3);
  EXPECT_TRUE(kernel->mm_of(1).vmas().empty());
  EXPECT_FALSE(kernel->alive(2));
  EXPECT_EQ(in_use(), baseline + 1) << "the zero page and the new PGD";
  EXPECT_FALSE(cpu(1).read64(kA).has_value()) << "nothing is mapped any more";
  EXPECT_EQ(cpu(1).faults().at(0).si_code, SEGV_MAPERR);
}

}  // namespace
}  // namespace mmusim::kernel::test
