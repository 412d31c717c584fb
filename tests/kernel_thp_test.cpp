// Transparent huge pages for anonymous memory (mm/huge_memory.c): the first touch
// of a 2 MiB-aligned range (do_huge_pmd_anonymous_page, the huge zero page), fork
// (copy_huge_pmd), writes to a read-only THP (do_huge_pmd_wp_page: reuse, or
// __split_huge_pmd and a 4 KiB wp_page_copy), and the splits and zaps of range
// operations. Fault counts are the reference's §4.2 measurements (ru_minflt,
// Linux 6.18, enabled=madvise) at 4 MiB scale: 1 fault per 2 MiB, or per 4 KiB
// where Linux splits.
#include "kernel/huge_memory.hpp"
#include "kernel_test_support.hpp"

namespace mmusim::kernel::test {
namespace {

namespace b = mmu::bit;

constexpr u64 k2M = 2ull << 20;
constexpr u64 kRegion = 4ull << 20;  // two THPs
constexpr u64 kPagesPerRegion = kRegion / 4096;

class ThpTest : public KernelTest {
 protected:
  void SetUp() override {
    KernelTest::SetUp();
    kernel->spawn(1, "p", false);
  }

  // mmap ... huge: VM_HUGEPAGE, as MADV_HUGEPAGE right after mmap.
  void map(u64 addr, u64 len, bool huge = true, const std::string& p = "rw-") {
    MmapRequest req = anon(addr, len, p);
    req.huge = huge;
    kernel->mmap(1, req);
  }
  // The PMD entry of va in pid's tables, 0 if none.
  u64 pmd(Pid pid, u64 va) const {
    auto pa = pmd_lookup(mem, kernel->mm_of(pid), va);
    return pa ? mem.read64(*pa) : 0;
  }
  bool huge(Pid pid, u64 va) const { return pmd_trans_huge(pmd(pid, va)); }
  const LargeFolio& folio(u64 pfn) const { return kernel->frames().large_folio(pfn); }

  // One access per 4 KiB page of [start, start + len): writes store `tag + page`
  // at offset 0; reads check `expect(page)`.
  void write_all(Pid pid, u64 start, u64 len, u64 tag, u64 offset = 0) {
    for (u64 a = start; a < start + len; a += kPage)
      ASSERT_TRUE(cpu(pid).write64(a + offset, tag + (a - start) / kPage));
  }
  void read_all(Pid pid, u64 start, u64 len) {
    for (u64 a = start; a < start + len; a += kPage) ASSERT_TRUE(cpu(pid).read64(a).has_value());
  }
  void expect_all(Pid pid, u64 start, u64 len, u64 tag, u64 offset = 0) {
    for (u64 a = start; a < start + len; a += kPage)
      ASSERT_EQ(cpu(pid).read64(a + offset), tag + (a - start) / kPage) << "at " << std::hex << a + offset;
  }
};

// do_huge_pmd_anonymous_page → __do_huge_pmd_anonymous_page: one fault per 2 MiB
// (§4.2 "write, MADV_HUGEPAGE": 512 per GiB), a PDE leaf PS|RW|D on 512
// contiguous, 2 MiB-aligned frames, with a PTE table deposited for a later split.
TEST_F(ThpTest, WriteMapsOneThpPer2MiB) {
  map(kBase, kRegion);
  const u64 before = in_use();
  ASSERT_TRUE(cpu(1).write64(kBase + 0x1238, 7));
  ASSERT_EQ(cpu(1).faults().size(), 1u);
  const FaultRecord& rec = cpu(1).faults()[0];
  EXPECT_EQ(rec.resolution, Resolution::AnonymousPage);
  EXPECT_TRUE(rec.huge);
  EXPECT_EQ(path_of(rec), (std::vector<std::string>{"__do_huge_pmd_anonymous_page", "do_huge_pmd_anonymous_page",
                                                    "__handle_mm_fault", "handle_mm_fault", "do_user_addr_fault",
                                                    "exc_page_fault"}));
  const auto& c = cost();
  EXPECT_EQ(rec.total_cycles, steps_sum(rec));
  EXPECT_EQ(rec.total_cycles, c.exception_entry + c.exception_exit + c.vma_lookup + c.pgtable_walk +
                                  3 * c.pgtable_alloc /* PUD, PMD tables; the deposited PTE table */ +
                                  c.frame_alloc + c.zero_cycles(2ull << 20) + c.rmap_update + c.pte_update);
  write_all(1, kBase, kRegion, 100);
  EXPECT_EQ(minflt(1), 2u);
  expect_all(1, kBase, kRegion, 100);

  const u64 e = pmd(1, kBase);
  EXPECT_TRUE((e & (b::P | b::PS | b::RW | b::D | b::US)) == (b::P | b::PS | b::RW | b::D | b::US));
  const u64 head = pte_pfn(e);
  EXPECT_EQ(head % 512, 0u) << "2 MiB-aligned";
  EXPECT_EQ(pte(1, kBase), 0u) << "no PTE table under a 2 MiB leaf";
  EXPECT_EQ(page(head).refcount, 1u);
  EXPECT_TRUE(page(head).anon_exclusive);
  EXPECT_EQ(folio(head).entire_mapcount, 1u);
  EXPECT_EQ(folio(head).large_mapcount, 1u);
  EXPECT_EQ(page(head + 5).refcount, 0u) << "tails hold no references";
  EXPECT_EQ(kernel->mm_of(1).rss_anon, 1024u);
  EXPECT_EQ(kernel->mm_of(1).pmd_huge_pte.size(), 2u);
  EXPECT_EQ(in_use() - before, 2 * 512 + 2 /* deposits */ + 2 /* PUD, PMD tables */);
  EXPECT_EQ(resolved(1, Resolution::AnonymousPage), 2u);
}

// thp_vma_allowable_order: enabled=madvise needs VM_HUGEPAGE; MADV_NOHUGEPAGE
// blocks it; never is never; always needs no madvise (§4.2 rows "write,
// MADV_NOHUGEPAGE" and "write, no madvise": one fault per 4 KiB).
TEST_F(ThpTest, PolicyDecidesThpEligibility) {
  map(kBase, kRegion, false);
  write_all(1, kBase, kRegion, 0);
  EXPECT_EQ(minflt(1), kPagesPerRegion) << "no madvise with enabled=madvise";
  EXPECT_FALSE(huge(1, kBase));

  const u64 b2 = kBase + 0x10000000;
  map(b2, kRegion);
  kernel->madvise(1, b2, kRegion, traces::Advice::NoHugePage);
  write_all(1, b2, kRegion, 0);
  EXPECT_EQ(minflt(1), 2 * kPagesPerRegion) << "MADV_NOHUGEPAGE";

  const u64 b3 = kBase + 0x20000000;
  map(b3, kRegion, false);
  kernel->madvise(1, b3, kRegion, traces::Advice::HugePage);
  write_all(1, b3, kRegion, 0);
  EXPECT_EQ(minflt(1), 2 * kPagesPerRegion + 2) << "MADV_HUGEPAGE";

  cfg.kernel.thp = config::ThpPolicy::Always;
  const u64 b4 = kBase + 0x30000000;
  map(b4, kRegion, false);
  write_all(1, b4, kRegion, 0);
  EXPECT_EQ(minflt(1), 2 * kPagesPerRegion + 4) << "enabled=always";

  cfg.kernel.thp = config::ThpPolicy::Never;
  const u64 b5 = kBase + 0x40000000;
  map(b5, kRegion);
  write_all(1, b5, kRegion, 0);
  EXPECT_EQ(minflt(1), 3 * kPagesPerRegion + 4) << "enabled=never";
}

// thp_vma_suitable_order: only a 2 MiB-aligned range wholly inside the VMA; the
// rest of the VMA takes 4 KiB faults. Shared anonymous memory is shmem: no THP.
TEST_F(ThpTest, OnlyAligned2MiBRangesInsideTheVma) {
  map(kBase + 0x100000, 3 * 0x100000);  // [1 MiB, 4 MiB): only [2, 4) MiB qualifies
  write_all(1, kBase + 0x100000, 3 * 0x100000, 0);
  EXPECT_EQ(minflt(1), 256u + 1);
  EXPECT_FALSE(huge(1, kBase + 0x100000));
  EXPECT_TRUE(huge(1, kBase + k2M));

  MmapRequest req = anon(kBase + 0x10000000, k2M, "rw-", true);
  req.huge = true;
  kernel->mmap(1, req);
  write_all(1, kBase + 0x10000000, k2M, 0);
  EXPECT_EQ(minflt(1), 257u + 512);
}

// do_huge_pmd_anonymous_page, read branch: the huge zero page, one fault per 2 MiB
// (§4.2 "read, MADV_HUGEPAGE"), read-only and special, allocated once and never
// freed. A write then gets a new THP at once (do_huge_zero_wp_pmd; §4.2 "write
// after huge-zero read": one fault per 2 MiB).
TEST_F(ThpTest, ReadMapsHugeZeroPageThenWriteAllocatesThp) {
  map(kBase, kRegion);
  const u64 before = in_use();
  read_all(1, kBase, kRegion);
  EXPECT_EQ(minflt(1), 2u);
  EXPECT_EQ(resolved(1, Resolution::ZeroPage), 2u);
  const u64 z = pte_pfn(pmd(1, kBase));
  EXPECT_EQ(pte_pfn(pmd(1, kBase + k2M)), z) << "one huge zero page for both";
  EXPECT_TRUE(pmd(1, kBase) & b::SOFTW1) << "special";
  EXPECT_FALSE(pmd(1, kBase) & b::RW);
  EXPECT_TRUE(page(z).zero && page(z).compound);
  EXPECT_EQ(kernel->mm_of(1).rss_anon, 0u) << "the huge zero page is not RSS";
  EXPECT_NE(kernel->mm_of(1).vma_lookup(kBase)->anon_vma, nullptr) << "vmf_anon_prepare runs before the zero page";
  EXPECT_EQ(in_use() - before, 512 + 2 + 2) << "the huge zero page, two deposits, PUD and PMD tables";
  EXPECT_EQ(cpu(1).read64(kBase + 0x3ff8), 0u);

  write_all(1, kBase, kRegion, 50);
  EXPECT_EQ(minflt(1), 4u);
  EXPECT_EQ(resolved(1, Resolution::CowCopy), 2u);
  EXPECT_TRUE(huge(1, kBase));
  EXPECT_NE(pte_pfn(pmd(1, kBase)), z);
  EXPECT_TRUE(pmd(1, kBase) & b::RW);
  expect_all(1, kBase, kRegion, 50);
  EXPECT_GE(tlb.page_flushes(kernel->mm_of(1).id(), kBase), 1u) << "pmdp_huge_clear_flush of the zero PMD";

  kernel->exit(1);
  EXPECT_EQ(in_use(), baseline + 512) << "only the huge zero page stays";
}

// use_zero_page=0: a read allocates the THP, mapped dirty and writable, so the
// later writes take no fault at all.
TEST_F(ThpTest, ReadWithoutHugeZeroPageAllocatesThp) {
  cfg.kernel.thp_use_zero_page = false;
  map(kBase, kRegion);
  read_all(1, kBase, kRegion);
  EXPECT_EQ(minflt(1), 2u);
  EXPECT_EQ(resolved(1, Resolution::AnonymousPage), 2u);
  write_all(1, kBase, kRegion, 1);
  EXPECT_EQ(minflt(1), 2u);
}

// copy_huge_pmd: fork shares the THP, both PMDs read-only, the child's old; the
// folio has refcount 2, entire mapcount 2, is mapped by two mms, exclusive to
// neither. The child only reading takes no fault.
TEST_F(ThpTest, ForkSharesThpReadOnly) {
  map(kBase, kRegion);
  write_all(1, kBase, kRegion, 10);
  const u64 head = pte_pfn(pmd(1, kBase));
  const u64 cycles = kernel->fork(1, 2);
  EXPECT_EQ(pte_pfn(pmd(2, kBase)), head);
  EXPECT_FALSE(pmd(1, kBase) & b::RW);
  EXPECT_FALSE(pmd(2, kBase) & b::RW);
  EXPECT_FALSE(pmd(2, kBase) & b::A);
  EXPECT_TRUE(pmd(2, kBase) & b::D);
  EXPECT_EQ(page(head).refcount, 2u);
  EXPECT_EQ(folio(head).entire_mapcount, 2u);
  EXPECT_EQ(folio(head).large_mapcount, 2u);
  EXPECT_TRUE(folio(head).mm_ids_shared);
  EXPECT_FALSE(page(head).anon_exclusive);
  EXPECT_EQ(kernel->mm_of(2).rss_anon, 1024u);
  const auto& c = cost();
  EXPECT_EQ(cycles, 5 * c.pgtable_alloc /* PGD, PUD, PMD, 2 deposits */ + 2 * c.fork_per_pte + c.tlb_flush_local);

  expect_all(2, kBase, kRegion, 10);
  EXPECT_EQ(minflt(2), 0u) << "fork then child only reads: no faults";
}

// do_huge_pmd_wp_page on a shared THP: __split_huge_pmd of the child's PMD, then
// do_wp_page → wp_page_copy of the 4 KiB page written; each later page copies too
// (__wp_can_reuse_large_anon_folio: mapped by two mms). §4.2 "child write after
// fork (THP)": one fault per 4 KiB. The values written before fork survive in the
// copies; the parent's THP stays whole and unchanged.
TEST_F(ThpTest, ChildWriteAfterForkSplitsThenCopiesEach4KiB) {
  map(kBase, kRegion);
  write_all(1, kBase, kRegion, 1000, 8);  // the data at offset 8 must survive
  const u64 head = pte_pfn(pmd(1, kBase));
  kernel->fork(1, 2);

  tlb.calls.clear();
  ASSERT_TRUE(cpu(2).write64(kBase, 1));
  ASSERT_EQ(cpu(2).faults().size(), 1u);
  const FaultRecord& rec = cpu(2).faults()[0];
  EXPECT_EQ(rec.resolution, Resolution::CowCopy);
  EXPECT_FALSE(rec.huge) << "resolved at PTE level";
  EXPECT_EQ(path_of(rec), chain({"wp_page_copy", "do_wp_page"}));
  const auto& c = cost();
  EXPECT_EQ(rec.total_cycles, c.exception_entry + c.exception_exit + c.vma_lookup + c.pgtable_walk +
                                  /* __split_huge_pmd */ 2 * c.tlb_flush_local + 512 * c.pte_update +
                                  2 * c.rmap_update +
                                  /* wp_page_copy */ c.frame_alloc + c.copy_cycles(4096) + 2 * c.rmap_update + c.pte_update);
  EXPECT_EQ(tlb.page_flushes(kernel->mm_of(2).id(), kBase), 2u) << "pmdp_invalidate, then ptep_clear_flush";
  EXPECT_FALSE(huge(2, kBase)) << "the child's PMD is a table now";
  EXPECT_TRUE(huge(1, kBase)) << "the parent's is untouched";
  EXPECT_EQ(pte_pfn(pte(2, kBase + kPage)), head + 1) << "the split PTEs map the subpages";
  EXPECT_FALSE(pte(2, kBase + kPage) & b::RW);
  EXPECT_TRUE(pte(2, kBase + kPage) & b::D);
  EXPECT_EQ(page(head + 1).mapcount, 1u) << "each subpage mapped once by the child's PTEs";
  EXPECT_EQ(page(head).mapcount, 0u) << "the head's PTE now maps the copy";
  EXPECT_EQ(folio(head).entire_mapcount, 1u);
  EXPECT_EQ(folio(head).large_mapcount, 1 + 511u);
  EXPECT_EQ(page(head).refcount, 1 + 511u);

  write_all(2, kBase, kRegion, 0);
  EXPECT_EQ(minflt(2), kPagesPerRegion);
  EXPECT_EQ(resolved(2, Resolution::CowCopy), kPagesPerRegion);
  expect_all(2, kBase, kRegion, 1000, 8);
  expect_all(2, kBase, kRegion, 0);
  expect_all(1, kBase, kRegion, 1000, 8);
  EXPECT_EQ(cpu(1).read64(kBase), 0u) << "the parent never sees the child's writes";
  EXPECT_EQ(page(head).refcount, 1u) << "only the parent's PMD is left";
  EXPECT_EQ(folio(head).large_mapcount, 1u);
  EXPECT_FALSE(folio(head).mm_ids_shared);
  EXPECT_EQ(minflt(1), 2u);
}

// do_huge_pmd_wp_page, reuse: once the child is gone the parent's PMD holds the
// only reference, and its write keeps the THP (§4.2 "parent write after child
// exit": one fault per 2 MiB, no copy). Here the child had written half a THP
// before exiting, as in the measurement's sequence.
TEST_F(ThpTest, ParentWriteAfterChildExitReusesPmd) {
  map(kBase, kRegion);
  write_all(1, kBase, kRegion, 5);
  const u64 h0 = pte_pfn(pmd(1, kBase)), h1 = pte_pfn(pmd(1, kBase + k2M));
  kernel->fork(1, 2);
  write_all(2, kBase, k2M / 2, 9);
  kernel->exit(2);
  EXPECT_EQ(page(h0).refcount, 1u);

  tlb.calls.clear();
  write_all(1, kBase, kRegion, 6);
  EXPECT_EQ(minflt(1), 4u);
  EXPECT_EQ(resolved(1, Resolution::CowReuse), 2u);
  EXPECT_TRUE(cpu(1).faults().empty());
  EXPECT_EQ(pte_pfn(pmd(1, kBase)), h0) << "same folio";
  EXPECT_EQ(pte_pfn(pmd(1, kBase + k2M)), h1);
  EXPECT_TRUE(pmd(1, kBase) & b::RW);
  EXPECT_TRUE(page(h0).anon_exclusive);
  EXPECT_TRUE(tlb.calls.empty()) << "a permission upgrade: no flush";
  expect_all(1, kBase, kRegion, 6);
}

// The parent writes half while the child lives: its own PMD is split and each
// 4 KiB copied. The child's writes split its PMD and copy every page (the folio is
// mapped by both mms). Then the parent's remaining PTEs are all the folio has
// left: __wp_can_reuse_large_anon_folio lets it keep them (reuse per 4 KiB).
TEST_F(ThpTest, BothWriteWhileShared) {
  map(kBase, k2M);
  write_all(1, kBase, k2M, 3);
  const u64 head = pte_pfn(pmd(1, kBase));
  kernel->fork(1, 2);
  write_all(1, kBase, k2M / 2, 4);
  EXPECT_EQ(minflt(1), 1u + 256);
  EXPECT_EQ(resolved(1, Resolution::CowCopy), 256u);
  write_all(2, kBase, k2M, 5);
  EXPECT_EQ(minflt(2), 512u);
  EXPECT_EQ(resolved(2, Resolution::CowCopy), 512u);
  EXPECT_EQ(page(head).refcount, 256u);
  EXPECT_FALSE(folio(head).mm_ids_shared) << "only the parent maps it now";
  write_all(1, kBase + k2M / 2, k2M / 2, 6);
  EXPECT_EQ(minflt(1), 1u + 512);
  EXPECT_EQ(resolved(1, Resolution::CowReuse), 256u);
  EXPECT_EQ(pte_pfn(pte(1, kBase + k2M - kPage)), head + 511);
  expect_all(1, kBase, k2M / 2, 4);
  expect_all(1, kBase + k2M / 2, k2M / 2, 6);
  expect_all(2, kBase, k2M, 5);
}

// Three mms map one THP (fork twice): every mm-id slot case of the large mapcount.
// Writes copy until the end; the checker verifies the counts after each step.
TEST_F(ThpTest, ThreeProcessesShareOneThp) {
  map(kBase, k2M);
  write_all(1, kBase, k2M, 1);
  kernel->fork(1, 2);
  kernel->fork(1, 3);
  const u64 head = pte_pfn(pmd(1, kBase));
  EXPECT_EQ(page(head).refcount, 3u);
  write_all(3, kBase, 16 * kPage, 30);
  expect_consistent();
  kernel->exit(2);
  kernel->exit(1);
  expect_consistent();
  write_all(3, kBase, k2M, 31);
  EXPECT_EQ(minflt(3), 512u) << "the 16 copies are writable already";
  EXPECT_EQ(resolved(3, Resolution::CowCopy), 512u)
      << "mapped by three mms, the folio stays marked shared to the end: no reuse";
  expect_all(3, kBase, k2M, 31);
  kernel->exit(3);
  EXPECT_EQ(in_use(), baseline);
}

// The huge zero page across fork: the PMD is copied (the read made an anon_vma),
// and the child's write gets it a THP of its own with one fault.
TEST_F(ThpTest, HugeZeroPageAcrossFork) {
  map(kBase, kRegion);
  read_all(1, kBase, kRegion);
  kernel->fork(1, 2);
  EXPECT_TRUE(huge(2, kBase));
  write_all(2, kBase, kRegion, 2);
  EXPECT_EQ(minflt(2), 2u);
  EXPECT_EQ(cpu(1).read64(kBase), 0u);
  expect_all(2, kBase, kRegion, 2);
}

// __split_vma splits a THP a munmap boundary cuts (__split_huge_pmd, not a fault);
// the folio stays whole (no deferred split) until its last mapping goes. A munmap
// of whole THPs zaps the PMDs (zap_huge_pmd) and frees folio and deposit.
TEST_F(ThpTest, MunmapSplitsPartialAndZapsWhole) {
  map(kBase, kRegion);
  write_all(1, kBase, kRegion, 20);
  const u64 before = in_use();
  const u64 head = pte_pfn(pmd(1, kBase));
  kernel->munmap(1, kBase + 0x80000, 0x100000);  // the middle half of the first THP
  EXPECT_FALSE(huge(1, kBase));
  EXPECT_EQ(pte_pfn(pte(1, kBase)), head);
  EXPECT_EQ(pte(1, kBase + 0x80000), 0u);
  EXPECT_EQ(page(head).refcount, 256u);
  EXPECT_EQ(folio(head).large_mapcount, 256u);
  EXPECT_EQ(in_use(), before) << "no deferred split: the folio keeps its 512 frames";
  EXPECT_EQ(kernel->mm_of(1).rss_anon, 768u);
  expect_all(1, kBase, 0x80000, 20);
  expect_all(1, kBase + 0x180000, 0x80000, 20 + 0x180);
  EXPECT_EQ(minflt(1), 2u) << "the split PTEs keep RW: no fault";

  kernel->munmap(1, kBase + k2M, k2M);
  EXPECT_EQ(in_use(), before - 512 - 1) << "the second THP and its deposit";
  kernel->munmap(1, kBase, k2M);
  EXPECT_EQ(in_use(), baseline + 1 /* PGD */);
}

// mprotect: change_huge_pmd on whole THPs (read-only, then writable again without a
// fault since the folio is exclusive); a range cutting a THP splits it.
TEST_F(ThpTest, MprotectWholeAndPart) {
  map(kBase, kRegion);
  write_all(1, kBase, kRegion, 0);
  tlb.calls.clear();
  kernel->mprotect(1, kBase, k2M, prot("r--"));
  EXPECT_TRUE(huge(1, kBase));
  EXPECT_FALSE(pmd(1, kBase) & b::RW);
  EXPECT_EQ(tlb.page_flushes(kernel->mm_of(1).id(), kBase), 1u) << "one INVLPG drops the 2 MiB entry";
  kernel->mprotect(1, kBase, k2M, prot("rw-"));
  EXPECT_TRUE(pmd(1, kBase) & b::RW) << "can_change_pmd_writable: exclusive";
  kernel->mprotect(1, kBase + k2M + 0x100000, 0x100000, prot("r--"));
  EXPECT_FALSE(huge(1, kBase + k2M));
  EXPECT_TRUE(pte(1, kBase + k2M) & b::RW);
  EXPECT_FALSE(pte(1, kBase + k2M + 0x100000) & b::RW);
  write_all(1, kBase, k2M + 0x100000, 0);
  EXPECT_EQ(minflt(1), 2u) << "no fault on the pages still writable";
  EXPECT_FALSE(cpu(1).write64(kBase + k2M + 0x100000, 1)) << "SIGSEGV";
}

// MADV_DONTNEED: a whole THP is zapped (the next touch gets a new THP), part of
// one is split first (the next touch of the zapped page is a 4 KiB fault: the
// PMD is a table now). madvise NOHUGEPAGE over part splits at the VMA cut.
TEST_F(ThpTest, DontneedAndNohugepageOverThps) {
  map(kBase, kRegion);
  write_all(1, kBase, kRegion, 0);
  kernel->madvise(1, kBase, k2M, traces::Advice::DontNeed);
  EXPECT_EQ(pmd(1, kBase), 0u);
  ASSERT_TRUE(cpu(1).write64(kBase, 1));
  EXPECT_TRUE(cpu(1).faults().at(0).huge);
  kernel->madvise(1, kBase + k2M, kPage, traces::Advice::DontNeed);
  EXPECT_FALSE(huge(1, kBase + k2M));
  ASSERT_TRUE(cpu(1).write64(kBase + k2M, 1));
  EXPECT_EQ(cpu(1).faults().at(0).resolution, Resolution::AnonymousPage);
  EXPECT_FALSE(cpu(1).faults().at(0).huge);
  EXPECT_EQ(minflt(1), 4u);

  kernel->madvise(1, kBase + 0x100000, 0x200000, traces::Advice::NoHugePage);
  EXPECT_FALSE(huge(1, kBase)) << "the VMA cut at 1 MiB splits the THP";
  kernel->madvise(1, kBase, k2M, traces::Advice::NoHugePage);
  expect_consistent();
}

// MAP_POPULATE: GUP faults once per 2 MiB (follow_huge_pmd serves the rest).
TEST_F(ThpTest, PopulateFaultsOncePer2MiB) {
  MmapRequest req = anon(kBase, kRegion, "rw-");
  req.huge = req.populate = true;
  kernel->mmap(1, req);
  EXPECT_EQ(minflt(1), 2u);
  EXPECT_TRUE(huge(1, kBase + k2M));
}

// No free 2 MiB-aligned block: vma_alloc_anon_folio_pmd fails and the fault falls
// back to do_anonymous_page (THP_FAULT_FALLBACK): one fault per 4 KiB.
TEST_F(ThpTest, FallsBackTo4KiBWithoutAFree2MiBBlock) {
  boot(3ull << 20);  // frames [1, 768): no aligned 512-frame block fits
  kernel->spawn(1, "p", false);
  map(kBase, k2M);
  write_all(1, kBase, 64 * kPage, 0);
  EXPECT_EQ(minflt(1), 64u);
  EXPECT_FALSE(huge(1, kBase));
}

// exit_mmap zaps every THP: folios, deposits and tables all freed.
TEST_F(ThpTest, ExitFreesEverything) {
  map(kBase, kRegion);
  write_all(1, kBase, kRegion, 0);
  kernel->fork(1, 2);
  write_all(2, kBase, 8 * kPage, 0);
  kernel->exit(1);
  kernel->exit(2);
  EXPECT_EQ(in_use(), baseline);
}

}  // namespace
}  // namespace mmusim::kernel::test
