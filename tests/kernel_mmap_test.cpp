// Address-space events: mmap (mm/mmap.c, mm/vma.c), MAP_POPULATE (mm/gup.c),
// munmap (zap_pte_range, free_pgtables, tlb_finish_mmu), mprotect
// (mm/mprotect.c change_pte_range / can_change_pte_writable) and madvise.
#include "kernel_test_support.hpp"

namespace mmusim::kernel::test {
namespace {

namespace b = mmu::bit;

class MmapTest : public KernelTest {
 protected:
  void SetUp() override {
    KernelTest::SetUp();
    kernel->spawn(1, "p", false);
  }
  std::size_t vma_count(Pid pid) const { return kernel->mm_of(pid).vmas().size(); }
};

// do_mmap's refusals become KernelErrors that say why.
TEST_F(MmapTest, RefusedRequests) {
  auto msg = [&](auto&& fn) -> std::string {
    try {
      fn();
    } catch (const KernelError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(msg([&] { kernel->mmap(1, anon(kBase + 1, kPage, "rw-")); }).find("aligned"), std::string::npos);
  EXPECT_NE(msg([&] { kernel->mmap(1, anon(kBase, 100, "rw-")); }).find("aligned"), std::string::npos);
  EXPECT_NE(msg([&] { kernel->mmap(1, anon(kBase, 0, "rw-")); }).find("zero length"), std::string::npos);
  EXPECT_NE(msg([&] { kernel->mmap(1, anon(kTaskSizeMax, kPage, "rw-")); }).find("beyond"), std::string::npos);
  EXPECT_NE(msg([&] { kernel->mmap(7, anon(kBase, kPage, "rw-")); }).find("unknown PID 7"), std::string::npos);
  kernel->mmap(1, anon(kBase, 4 * kPage, "rw-"));
  EXPECT_NE(msg([&] { kernel->mmap(1, anon(kBase + 3 * kPage, 4 * kPage, "rw-")); }).find("overlaps"),
            std::string::npos);
  MmapRequest file = anon(kBase + 0x100000, kPage, "r--");
  file.file = "libc.so";
  file.offset = 0x800;
  EXPECT_NE(msg([&] { kernel->mmap(1, file); }).find("offset 0x800 must be page aligned"), std::string::npos);
  EXPECT_THROW(kernel->munmap(1, kBase + 1, kPage), KernelError);
  EXPECT_THROW(kernel->mprotect(1, kBase, 3, prot("r--")), KernelError);
  EXPECT_THROW(kernel->munmap(9, kBase, kPage), KernelError);
  EXPECT_EQ(vma_count(1), 1u) << "refused events change nothing";
}

// MAP_FIXED replaces: the old pages go, the range reads as fresh zero memory.
TEST_F(MmapTest, FixedReplacesOldMapping) {
  kernel->mmap(1, anon(kBase, 4 * kPage, "rw-"));
  ASSERT_TRUE(cpu(1).write64(kBase + kPage, 5));
  const u64 used = in_use();
  MmapRequest r = anon(kBase, 2 * kPage, "r--");
  r.fixed = true;
  kernel->mmap(1, r);
  EXPECT_EQ(in_use(), used - 1) << "the written page was freed";
  EXPECT_EQ(vma_count(1), 2u);
  EXPECT_EQ(cpu(1).read64(kBase + kPage), 0u);
  EXPECT_EQ(pfn(1, kBase + kPage), kernel->zero_pfn());
  EXPECT_EQ(tlb.page_flushes(kernel->mm_of(1).id(), kBase + kPage), 1u);
  EXPECT_FALSE(cpu(1).write64(kBase + kPage, 1)) << "now read-only";
}

// zap_pte_range + free_pgtables + tlb_finish_mmu: munmap of one page in the
// middle splits the VMA, frees that frame and flushes that page only; page tables
// stay (neighbours use them).
TEST_F(MmapTest, MunmapMiddlePageSplitsFreesAndFlushes) {
  kernel->mmap(1, anon(kBase, 3 * kPage, "rw-"));
  for (u64 i = 0; i < 3; ++i) ASSERT_TRUE(cpu(1).write64(kBase + i * kPage, i + 1));
  const u64 victim = pfn(1, kBase + kPage);
  const u64 used = in_use();
  tlb.calls.clear();
  kernel->munmap(1, kBase + kPage, kPage);
  EXPECT_EQ(in_use(), used - 1);
  EXPECT_FALSE(kernel->frames().allocated(victim));
  EXPECT_EQ(vma_count(1), 2u);
  ASSERT_EQ(tlb.calls.size(), 1u);
  EXPECT_EQ(tlb.page_flushes(kernel->mm_of(1).id(), kBase + kPage), 1u);
  EXPECT_FALSE(cpu(1).read64(kBase + kPage).has_value()) << "SIGSEGV: the hole";
  EXPECT_EQ(cpu(1).faults().at(0).si_code, SEGV_MAPERR);
}

// free_pgd_range: unmapping everything frees the PTE, PMD and PUD tables too.
TEST_F(MmapTest, MunmapEverythingFreesPageTables) {
  kernel->mmap(1, anon(kBase, 4 * kPage, "rw-"));
  for (u64 i = 0; i < 4; ++i) ASSERT_TRUE(cpu(1).write64(kBase + i * kPage, i));
  tlb.calls.clear();
  kernel->munmap(1, kBase, 4 * kPage);
  EXPECT_EQ(in_use(), baseline + 1) << "zero page and the PGD only";
  EXPECT_EQ(kernel->mm_of(1).nr_pgtables, 0u);
  // x86 tlb_flush: one request for the unmapped range that says tables were freed, so
  // that lazy CPUs let go of them too (kernel_tlb_test.cpp); INVLPG drops the PCID's
  // paging-structure-cache entries, so the range needs no wider flush.
  ASSERT_EQ(tlb.calls.size(), 1u);
  EXPECT_TRUE(tlb.calls[0].freed_tables);
  EXPECT_EQ(tlb.page_flushes(kernel->mm_of(1).id(), kBase + 3 * kPage), 1u);
  EXPECT_EQ(cpu(1).tlb_size(), 0u);
  // Mapping again rebuilds the tables.
  kernel->mmap(1, anon(kBase, kPage, "rw-"));
  ASSERT_TRUE(cpu(1).write64(kBase, 1));
  EXPECT_TRUE(has_step(cpu(1).faults().at(0), "pgtable_alloc"));
}

// free_pgtables only frees a table whose span no VMA meets.
TEST_F(MmapTest, MunmapKeepsTablesSharedWithNeighbour) {
  kernel->mmap(1, anon(kBase, kPage, "rw-"));
  kernel->mmap(1, anon(kBase + 8 * kPage, kPage, "r--"));  // not merged: other flags
  ASSERT_TRUE(cpu(1).write64(kBase, 1));
  const u64 tables = kernel->mm_of(1).nr_pgtables;
  kernel->munmap(1, kBase, kPage);
  EXPECT_EQ(kernel->mm_of(1).nr_pgtables, tables);
  ASSERT_EQ(cpu(1).read64(kBase + 8 * kPage), 0u);
  EXPECT_FALSE(has_step(cpu(1).faults().at(0), "pgtable_alloc"));
}

// flush_tlb_mm_range: more than tlb_single_page_flush_ceiling (33) pages is one
// full flush.
TEST_F(MmapTest, LargeMunmapFlushesWholeMm) {
  kernel->mmap(1, anon(kBase, 64 * kPage, "rw-"));
  kernel->mmap(1, anon(kBase + 64 * kPage, kPage, "r--"));  // keeps the tables alive
  for (u64 i = 0; i < 64; ++i) ASSERT_TRUE(cpu(1).write64(kBase + i * kPage, i));
  tlb.calls.clear();
  kernel->munmap(1, kBase, 64 * kPage);
  ASSERT_EQ(tlb.calls.size(), 1u);
  EXPECT_TRUE(tlb.calls[0].whole_mm);
}

// shmem_evict_inode: a shmem object lives until its last mapping goes, in any
// process.
TEST_F(MmapTest, SharedObjectFreedWithLastMapping) {
  kernel->mmap(1, anon(kBase, 2 * kPage, "rw-", true));
  ASSERT_TRUE(cpu(1).write64(kBase, 1));
  kernel->fork(1, 2);
  ASSERT_EQ(cpu(2).read64(kBase), 1u);
  const u64 f = pfn(1, kBase);
  kernel->munmap(1, kBase, 2 * kPage);
  EXPECT_TRUE(kernel->frames().allocated(f)) << "the child still maps it";
  EXPECT_EQ(page(f).refcount, 2u);
  kernel->exit(2);
  EXPECT_FALSE(kernel->frames().allocated(f));
  EXPECT_EQ(in_use(), baseline + 1);
}

// change_pte_range, downgrade: RW goes at once and the TLB is flushed, so a
// cached writable entry cannot be used any more.
TEST_F(MmapTest, MprotectDowngradeFlushesAndRevokes) {
  kernel->mmap(1, anon(kBase, 2 * kPage, "rw-"));
  ASSERT_TRUE(cpu(1).write64(kBase, 1));
  EXPECT_TRUE(cpu(1).cached(kBase));
  tlb.calls.clear();
  kernel->mprotect(1, kBase, 2 * kPage, prot("r--"));
  EXPECT_FALSE(pte(1, kBase) & b::RW);
  EXPECT_TRUE(pte(1, kBase) & b::D) << "pte_modify keeps A/D";
  EXPECT_EQ(tlb.page_flushes(kernel->mm_of(1).id(), kBase), 1u);
  EXPECT_EQ(tlb.calls.size(), 1u) << "only the page that changed";
  EXPECT_EQ(cpu(1).read64(kBase), 1u);
  EXPECT_FALSE(cpu(1).write64(kBase, 2));
  EXPECT_EQ(cpu(1).faults().at(0).si_code, SEGV_ACCERR);
}

// can_change_pte_writable: on an upgrade only exclusive anonymous pages become
// writable; the zero page and pages shared with a child stay read-only until a
// write fault decides (copy or reuse).
TEST_F(MmapTest, MprotectUpgradeRules) {
  kernel->mmap(1, anon(kBase, 3 * kPage, "rw-"));
  ASSERT_TRUE(cpu(1).write64(kBase + kPage, 2));      // will be shared with a child
  ASSERT_EQ(cpu(1).read64(kBase + 2 * kPage), 0u);    // zero page
  kernel->fork(1, 2);
  ASSERT_TRUE(cpu(1).write64(kBase, 1));              // after fork: exclusive
  kernel->mprotect(1, kBase, 3 * kPage, prot("r--"));
  const u64 flt = minflt(1);
  tlb.calls.clear();
  kernel->mprotect(1, kBase, 3 * kPage, prot("rw-"));
  EXPECT_TRUE(pte(1, kBase) & b::RW) << "exclusive anonymous page: writable at once";
  EXPECT_FALSE(pte(1, kBase + kPage) & b::RW) << "COW-shared page stays read-only";
  EXPECT_FALSE(pte(1, kBase + 2 * kPage) & b::RW) << "zero page stays read-only";
  EXPECT_EQ(tlb.page_flushes(kernel->mm_of(1).id(), kBase), 1u) << "x86 flushes on any RW change";
  ASSERT_TRUE(cpu(1).write64(kBase, 10));
  EXPECT_TRUE(cpu(1).faults().empty());
  ASSERT_TRUE(cpu(1).write64(kBase + kPage, 20));
  EXPECT_EQ(cpu(1).faults().at(0).resolution, Resolution::CowCopy);
  ASSERT_TRUE(cpu(1).write64(kBase + 2 * kPage, 30));
  EXPECT_EQ(cpu(1).faults().at(0).resolution, Resolution::CowCopy);
  EXPECT_EQ(minflt(1), flt + 2);
  EXPECT_EQ(cpu(2).read64(kBase + kPage), 2u);
  EXPECT_EQ(vma_count(1), 1u) << "the pieces merged back";
}

// mprotect_fixup: splits the VMA around the range, vma_modify_flags merges back.
TEST_F(MmapTest, MprotectSplitsAndMerges) {
  kernel->mmap(1, anon(kBase, 4 * kPage, "rw-"));
  kernel->mprotect(1, kBase + kPage, 2 * kPage, prot("r-x"));
  EXPECT_EQ(vma_count(1), 3u);
  const Vma* mid = kernel->mm_of(1).vma_lookup(kBase + kPage);
  ASSERT_NE(mid, nullptr);
  EXPECT_EQ(mid->vm_start, kBase + kPage);
  EXPECT_EQ(mid->vm_end, kBase + 3 * kPage);
  EXPECT_EQ(mid->vm_flags & VM_ACCESS_FLAGS, VM_READ | VM_EXEC);
  EXPECT_TRUE(cpu(1).fetch(kBase + kPage));
  kernel->mprotect(1, kBase + kPage, 2 * kPage, prot("rw-"));
  EXPECT_EQ(vma_count(1), 1u);
  EXPECT_THROW(kernel->mprotect(1, kBase, 8 * kPage, prot("r--")), KernelError) << "a hole: ENOMEM";
}

// PROT_NONE: the PTE keeps its frame but is not present (PROTNONE); restoring
// the protection brings the same data back without a fault.
TEST_F(MmapTest, ProtNoneKeepsPageAndRestores) {
  kernel->mmap(1, anon(kBase, kPage, "rw-"));
  ASSERT_TRUE(cpu(1).write64(kBase, 77));
  const u64 f = pfn(1, kBase);
  kernel->mprotect(1, kBase, kPage, prot("---"));
  const u64 e = pte(1, kBase);
  EXPECT_FALSE(e & b::P);
  EXPECT_TRUE(pte_protnone(e));
  EXPECT_EQ(pte_pfn(e), f);
  expect_consistent();
  kernel->mprotect(1, kBase, kPage, prot("rw-"));
  EXPECT_TRUE(pte(1, kBase) & b::P);
  EXPECT_TRUE(pte(1, kBase) & b::RW) << "still exclusive";
  const u64 flt = minflt(1);
  EXPECT_EQ(cpu(1).read64(kBase), 77u);
  EXPECT_EQ(minflt(1), flt);
  kernel->mprotect(1, kBase, kPage, prot("---"));
  EXPECT_FALSE(cpu(1).read64(kBase).has_value());
  EXPECT_EQ(cpu(1).faults().at(0).si_code, SEGV_ACCERR);
  EXPECT_EQ(in_use(), baseline) << "the PROT_NONE page was freed with the task";
}

// MAP_POPULATE (populate_vma_page_range): one GUP fault per page, counted in
// minflt; writable private memory is written in, read-only memory gets the zero
// page, shared memory is read in, PROT_NONE is skipped.
TEST_F(MmapTest, PopulateCountsFaults) {
  MmapRequest rw = anon(kBase, 8 * kPage, "rw-");
  rw.populate = true;
  const u64 cycles = kernel->mmap(1, rw);
  EXPECT_EQ(minflt(1), 8u);
  EXPECT_EQ(resolved(1, Resolution::AnonymousPage), 8u);
  for (u64 i = 0; i < 8; ++i) EXPECT_TRUE(pte(1, kBase + i * kPage) & b::RW) << i;
  const auto& c = cost();
  EXPECT_EQ(cycles, 8 * (c.pgtable_walk + c.frame_alloc + c.zero_cycles(4096) + c.rmap_update + c.pte_update) +
                        3 * c.pgtable_alloc)
      << "GUP faults: no exception entry or VMA lookup";
  EXPECT_EQ(kernel->counters(1).fault_cycles, cycles);
  ASSERT_TRUE(cpu(1).write64(kBase, 1));
  EXPECT_TRUE(cpu(1).faults().empty());

  MmapRequest ro = anon(kBase + 0x100000, 4 * kPage, "r--");
  ro.populate = true;
  kernel->mmap(1, ro);
  EXPECT_EQ(minflt(1), 12u);
  EXPECT_EQ(pfn(1, kBase + 0x100000), kernel->zero_pfn());

  MmapRequest shared = anon(kBase + 0x200000, 4 * kPage, "rw-", true);
  shared.populate = true;
  kernel->mmap(1, shared);
  EXPECT_EQ(minflt(1), 16u);
  EXPECT_EQ(resolved(1, Resolution::PageCache), 4u);
  EXPECT_TRUE(pte(1, kBase + 0x200000) & b::RW);
  EXPECT_FALSE(pte(1, kBase + 0x200000) & b::D) << "read faults: clean";

  MmapRequest none = anon(kBase + 0x300000, 4 * kPage, "---");
  none.populate = true;
  kernel->mmap(1, none);
  EXPECT_EQ(minflt(1), 16u);
}

// do_mmap with *_WRITECOPY: a private writable mapping, even if `shared` is given.
TEST_F(MmapTest, WritecopyIsPrivateWritable) {
  MmapRequest r = anon(kBase, kPage, "r--", true);
  r.prot.writecopy = true;
  kernel->mmap(1, r);
  const Vma* v = kernel->mm_of(1).vma_lookup(kBase);
  ASSERT_NE(v, nullptr);
  EXPECT_FALSE(v->is_shared());
  EXPECT_TRUE(v->vm_flags & VM_WRITE);
  ASSERT_TRUE(cpu(1).write64(kBase, 3));
  EXPECT_EQ(cpu(1).faults().at(0).resolution, Resolution::AnonymousPage);
}

// MADV_DONTNEED: the pages go, the VMA stays; the next touch faults afresh.
TEST_F(MmapTest, MadviseDontneedDropsPages) {
  kernel->mmap(1, anon(kBase, 4 * kPage, "rw-"));
  for (u64 i = 0; i < 4; ++i) ASSERT_TRUE(cpu(1).write64(kBase + i * kPage, 9));
  const u64 used = in_use();
  kernel->madvise(1, kBase, 2 * kPage, traces::Advice::DontNeed);
  EXPECT_EQ(in_use(), used - 2);
  EXPECT_EQ(vma_count(1), 1u);
  EXPECT_EQ(cpu(1).read64(kBase), 0u);
  EXPECT_EQ(cpu(1).faults().at(0).resolution, Resolution::ZeroPage);
  EXPECT_EQ(cpu(1).read64(kBase + 2 * kPage), 9u);
  kernel->madvise(1, kBase, 4 * kPage, traces::Advice::HugePage);
  EXPECT_TRUE(kernel->mm_of(1).vma_lookup(kBase)->vm_flags & VM_HUGEPAGE);
}

// copy_process / do_exit callers: refused PIDs are KernelErrors.
TEST_F(MmapTest, SpawnAndExitErrors) {
  EXPECT_THROW(kernel->spawn(1, "dup", false), KernelError);
  EXPECT_THROW(kernel->spawn(0, "zero", false), KernelError);
  EXPECT_THROW(kernel->exit(5), KernelError);
  EXPECT_THROW(kernel->exec(5, "x"), KernelError);
  EXPECT_THROW(kernel->thread(5, 6), KernelError);
  EXPECT_THROW(kernel->counters(5), KernelError);
  EXPECT_EQ(kernel->first_spawned(), 1u);
  kernel->spawn(2, "second", false);
  EXPECT_EQ(kernel->first_spawned(), 1u);
  kernel->exit(1);
  EXPECT_THROW(kernel->mmap(1, anon(kBase, kPage, "rw-")), KernelError);
  EXPECT_THROW(kernel->cr3(1), KernelError);
  EXPECT_NO_THROW(kernel->counters(1));
}

}  // namespace
}  // namespace mmusim::kernel::test
