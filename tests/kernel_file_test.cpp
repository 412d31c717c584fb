// File-backed mappings and the page cache: each test names the Linux function
// (mm/memory.c do_fault and its callees, mm/filemap.c, mm/mmap.c, kernel/fork.c)
// whose behaviour it checks, with the counts of linux-fault-path.md §1.7-1.9 and
// §4.4 (order-0 page cache: a read sweep takes pages/16 faults; every write fault
// maps one page). The page cache is warm: no fault is major.
#include "kernel_test_support.hpp"

namespace mmusim::kernel::test {
namespace {

namespace b = mmu::bit;

class FileTest : public KernelTest {
 protected:
  void SetUp() override {
    KernelTest::SetUp();
    kernel->spawn(1, "p", false);
  }
  // Reboots with a configuration change (fault-around size, folio size, COW policy).
  void reboot() {
    boot(64ull << 20);
    kernel->spawn(1, "p", false);
  }
  static MmapRequest filemap(u64 addr, u64 len, const std::string& p, const std::string& name, bool shared,
                             u64 offset = 0) {
    MmapRequest r = anon(addr, len, p, shared);
    r.file = name;
    r.offset = offset;
    return r;
  }
  // Reads (or writes) one word in each page of [addr, addr + pages * 4K); returns
  // the faults that took.
  u64 sweep(Pid pid, u64 addr, u64 pages, bool write) {
    const u64 before = minflt(pid);
    for (u64 i = 0; i < pages; ++i) {
      const u64 va = addr + i * kPage;
      EXPECT_TRUE(write ? cpu(pid).write64(va, va) : cpu(pid).read64(va).has_value()) << std::hex << va;
    }
    return minflt(pid) - before;
  }
  const Mm& mm(Pid pid) const { return kernel->mm_of(pid); }
};

// do_read_fault → do_fault_around → filemap_map_pages: a read maps the aligned
// 16-page window around it, read-only and clean, from the page cache. A 64-page
// sweep takes 4 faults (§4.4: 64 MiB → 1,024 = pages/16). No fault is major.
TEST_F(FileTest, ReadFaultAroundMapsSixteenPages) {
  kernel->mmap(1, filemap(kBase, 64 * kPage, "r--", "data", false));
  ASSERT_TRUE(cpu(1).read64(kBase + 5 * kPage).has_value());
  const FaultRecord& rec = cpu(1).faults().at(0);
  EXPECT_EQ(rec.resolution, Resolution::PageCache);
  EXPECT_EQ(path_of(rec), chain({"filemap_map_pages", "do_fault_around", "do_read_fault", "do_fault",
                                 "do_pte_missing"}));
  for (u64 i = 0; i < 16; ++i) {
    const u64 e = pte(1, kBase + i * kPage);
    ASSERT_TRUE(e & b::P) << i;
    EXPECT_EQ(e & ~kPtePfnMask, b::P | b::US | b::A | b::XD) << "read-only, clean";
    const Page& p = page(pte_pfn(e));
    EXPECT_TRUE(p.pagecache);
    EXPECT_FALSE(p.anon);
    EXPECT_EQ(p.index, i);
    EXPECT_EQ(p.refcount, 2u) << "page cache + this PTE";
    EXPECT_EQ(p.mapcount, 1u);
  }
  EXPECT_EQ(pte(1, kBase + 16 * kPage), 0u) << "the window ends at 16 pages";
  EXPECT_EQ(mm(1).rss_file, 16u);
  EXPECT_EQ(kernel->page_cache_frames(), 16u);
  EXPECT_EQ(sweep(1, kBase, 64, false), 3u) << "4 faults for 64 pages in all";
  EXPECT_EQ(minflt(1), 4u);
  EXPECT_EQ(kernel->counters(1).majflt, 0u) << "the page cache is warm";
}

// do_fault_around: the window is aligned in the address space and clamped to the
// VMA; filemap_map_pages clamps it to EOF, and past EOF filemap_fault returns
// VM_FAULT_SIGBUS: BUS_ADRERR, not counted, the process dies.
TEST_F(FileTest, FaultAroundClampsToVmaAndEofThenSigbus) {
  kernel->mmap(1, filemap(kBase + 5 * kPage, 20 * kPage, "r--", "big", false));
  ASSERT_TRUE(cpu(1).read64(kBase + 5 * kPage).has_value());
  // ALIGN_DOWN(5, 16) = 0 is before the VMA: the window starts at slot 5 and
  // still spans 16 slots, 5..20.
  EXPECT_EQ(mm(1).rss_file, 16u);
  EXPECT_NE(pte(1, kBase + 20 * kPage), 0u);

  kernel->file("small", 10 * 1024, false);  // 2.5 pages: pages 0-2 exist
  kernel->mmap(1, filemap(kBase + 0x200000, 16 * kPage, "r--", "small", false));
  ASSERT_TRUE(cpu(1).read64(kBase + 0x200000).has_value());
  EXPECT_EQ(mm(1).rss_file, 16u + 3u) << "clamped to EOF";
  EXPECT_EQ(cpu(1).read64(kBase + 0x200000 + 2 * kPage + 0xFF8), 0u) << "the partial last page reads as zero";
  EXPECT_TRUE(cpu(1).faults().empty());
  const u64 flt = minflt(1);
  EXPECT_FALSE(cpu(1).read64(kBase + 0x200000 + 3 * kPage).has_value());
  const FaultRecord& rec = cpu(1).faults().at(0);
  EXPECT_EQ(rec.resolution, Resolution::Sigbus);
  EXPECT_EQ(rec.si_code, BUS_ADRERR);
  EXPECT_EQ(minflt(1), flt) << "a fault ending in a signal is not counted";
  EXPECT_FALSE(kernel->alive(1));
  EXPECT_EQ(kernel->page_cache_frames(), 16u + 3u) << "nothing was cached past EOF";
}

// should_fault_around is false with fault_around_pages = 1: __do_fault →
// filemap_fault → finish_fault, one page per fault. A window of 4 gives pages/4.
TEST_F(FileTest, FaultAroundSizeIsConfigurable) {
  cfg.kernel.fault_around_pages = 1;
  reboot();
  kernel->mmap(1, filemap(kBase, 8 * kPage, "r--", "f", false));
  EXPECT_EQ(sweep(1, kBase, 1, false), 1u);
  EXPECT_EQ(path_of(cpu(1).faults().at(0)),
            chain({"filemap_fault", "__do_fault", "do_read_fault", "do_fault", "do_pte_missing"}));
  EXPECT_EQ(sweep(1, kBase + kPage, 7, false), 7u);
  cfg.kernel.fault_around_pages = 4;
  reboot();
  kernel->mmap(1, filemap(kBase, 64 * kPage, "r--", "f", false));
  EXPECT_EQ(sweep(1, kBase, 64, false), 16u);
}

// do_wp_page on a private file page: it is not anonymous, so never reused:
// wp_page_copy, whatever its refcount. The page cache and other mappers keep the
// original (§4.4: 65,536 faults for 65,536 pages written after a read).
TEST_F(FileTest, PrivateWriteAfterReadCopiesAndLeavesThePageCache) {
  kernel->mmap(1, filemap(kBase, 16 * kPage, "rw-", "f", true));  // the loader's view
  ASSERT_TRUE(cpu(1).write64(kBase, 111));
  kernel->mmap(1, filemap(kBase + 0x200000, 16 * kPage, "rw-", "f", false));
  const u64 priv = kBase + 0x200000;
  EXPECT_EQ(cpu(1).read64(priv), 111u);
  const u64 cache_pfn = pfn(1, priv);
  EXPECT_EQ(cache_pfn, pfn(1, kBase)) << "one page-cache frame, two mappings";
  EXPECT_FALSE(pte(1, priv) & b::RW) << "a private file PTE is never writable";
  tlb.calls.clear();
  ASSERT_TRUE(cpu(1).write64(priv, 222));
  const FaultRecord& rec = cpu(1).faults().at(0);
  EXPECT_EQ(rec.resolution, Resolution::CowCopy);
  EXPECT_EQ(path_of(rec), chain({"wp_page_copy", "do_wp_page"}));
  EXPECT_TRUE(has_step(rec, "copy"));
  EXPECT_EQ(tlb.page_flushes(mm(1).id(), priv), 1u) << "ptep_clear_flush of the old translation";
  const u64 copy = pfn(1, priv);
  EXPECT_NE(copy, cache_pfn);
  EXPECT_TRUE(page(copy).anon && page(copy).anon_exclusive);
  EXPECT_EQ(page(cache_pfn).mapcount, 1u) << "only the shared mapping now";
  EXPECT_EQ(page(cache_pfn).refcount, 2u);
  EXPECT_EQ(cpu(1).read64(kBase), 111u) << "the file is unchanged";
  EXPECT_EQ(cpu(1).read64(priv), 222u);
  EXPECT_EQ(mm(1).rss_anon, 1u);
  EXPECT_EQ(sweep(1, priv + kPage, 15, true), 15u) << "one fault per page written";
}

// do_cow_fault: a first-touch write to a private file page copies the page-cache
// page into a new exclusive anonymous page; no fault-around; the page-cache page
// is left unmapped with the cache's reference only (§4.4: one fault per page).
TEST_F(FileTest, PrivateFirstWriteIsDoCowFault) {
  kernel->mmap(1, filemap(kBase, 16 * kPage, "rw-", "f", true));
  ASSERT_TRUE(cpu(1).write64(kBase + kPage, 7));
  kernel->mmap(1, filemap(kBase + 0x200000, 16 * kPage, "rw-", "f", false));
  const u64 priv = kBase + 0x200000;
  ASSERT_TRUE(cpu(1).write64(priv + kPage + 8, 9));
  const FaultRecord& rec = cpu(1).faults().at(0);
  EXPECT_EQ(rec.resolution, Resolution::CowCopy);
  EXPECT_EQ(path_of(rec), chain({"filemap_fault", "__do_fault", "do_cow_fault", "do_fault", "do_pte_missing"}));
  const auto& c = cost();
  // The page was cached already, the tables exist but the PTE table: one table.
  EXPECT_EQ(rec.total_cycles, c.exception_entry + c.exception_exit + c.vma_lookup + c.pgtable_walk +
                                  c.pgtable_alloc + c.frame_alloc + c.copy_cycles(4096) + c.rmap_update + c.pte_update);
  const u64 e = pte(1, priv + kPage);
  EXPECT_EQ(e & ~kPtePfnMask, b::P | b::RW | b::US | b::A | b::D | b::XD);
  EXPECT_TRUE(page(pte_pfn(e)).anon_exclusive);
  EXPECT_EQ(cpu(1).read64(priv + kPage), 7u) << "copied from the page cache";
  EXPECT_EQ(cpu(1).read64(kBase + kPage + 8), 0u) << "the file never sees the private write";
  EXPECT_EQ(pte(1, priv), 0u) << "write faults do no fault-around";
  EXPECT_EQ(page(pfn(1, kBase + kPage)).mapcount, 1u);
  EXPECT_EQ(sweep(1, priv + 2 * kPage, 14, true), 14u);
}

// do_shared_fault: a first-touch write to a shared file page maps the page-cache
// page writable and dirty (after ->page_mkwrite); no fault-around. Every process
// mapping the file sees the write.
TEST_F(FileTest, SharedFirstWriteIsDoSharedFault) {
  kernel->mmap(1, filemap(kBase, 16 * kPage, "rw-", "f", true));
  ASSERT_TRUE(cpu(1).write64(kBase, 5));
  const FaultRecord& rec = cpu(1).faults().at(0);
  EXPECT_EQ(rec.resolution, Resolution::PageCache);
  EXPECT_EQ(path_of(rec), chain({"filemap_fault", "__do_fault", "do_shared_fault", "do_fault", "do_pte_missing"}));
  const u64 e = pte(1, kBase);
  EXPECT_EQ(e & ~kPtePfnMask, b::P | b::RW | b::US | b::A | b::D | b::XD);
  EXPECT_TRUE(page(pte_pfn(e)).dirty) << "fault_dirty_shared_page";
  EXPECT_EQ(pte(1, kBase + kPage), 0u) << "no fault-around for writes";
  kernel->spawn(2, "q", false);
  kernel->mmap(2, filemap(kBase + 0x400000, 16 * kPage, "r--", "f", true));
  EXPECT_EQ(cpu(2).read64(kBase + 0x400000), 5u);
  EXPECT_EQ(pfn(2, kBase + 0x400000), pte_pfn(e));
  EXPECT_EQ(sweep(1, kBase + kPage, 15, true), 15u);
}

// wp_page_shared: ext4 wants write-notify (vma_wants_writenotify: ->page_mkwrite),
// so a shared writable mapping's read fault maps the page read-only and clean;
// the first write faults once more: page_mkwrite, wp_page_reuse (same frame, no
// copy, no flush), dirty (§4.4: 65,536 faults for 65,536 pages).
TEST_F(FileTest, SharedWriteAfterReadIsWriteNotify) {
  kernel->mmap(1, filemap(kBase, 16 * kPage, "rw-", "f", true));
  EXPECT_EQ(sweep(1, kBase, 16, false), 1u);
  const u64 e = pte(1, kBase + 3 * kPage);
  EXPECT_FALSE(e & b::RW) << "write-notify: read-only until written";
  EXPECT_FALSE(e & b::D);
  tlb.calls.clear();
  ASSERT_TRUE(cpu(1).write64(kBase + 3 * kPage, 1));
  const FaultRecord& rec = cpu(1).faults().at(0);
  EXPECT_EQ(rec.resolution, Resolution::CowReuse);
  EXPECT_EQ(path_of(rec), chain({"wp_page_reuse", "wp_page_shared", "do_wp_page"}));
  EXPECT_FALSE(has_step(rec, "copy"));
  EXPECT_FALSE(has_step(rec, "frame_alloc"));
  EXPECT_TRUE(tlb.calls.empty()) << "a permission upgrade: no flush";
  EXPECT_EQ(pte_pfn(pte(1, kBase + 3 * kPage)), pte_pfn(e));
  EXPECT_TRUE(pte(1, kBase + 3 * kPage) & b::RW);
  EXPECT_TRUE(page(pte_pfn(e)).dirty);
  EXPECT_EQ(sweep(1, kBase, 16, true), 15u) << "one write-notify fault per page";
  EXPECT_EQ(mm(1).rss_anon, 0u) << "a shared mapping never copies";
}

// vma_wants_writenotify is false for tmpfs (shmem has no ->page_mkwrite): the
// read fault maps the page writable (clean), and the write does not fault; the
// dirt reaches the page when the PTE goes (zap_present_folio_ptes).
TEST_F(FileTest, TmpfsHasNoWriteNotify) {
  kernel->file("shm", 64 * kPage, true);
  kernel->mmap(1, filemap(kBase, 16 * kPage, "rw-", "shm", true));
  EXPECT_EQ(sweep(1, kBase, 16, false), 1u);
  const u64 e = pte(1, kBase);
  EXPECT_TRUE(e & b::RW);
  EXPECT_FALSE(e & b::D);
  EXPECT_TRUE(page(pte_pfn(e)).swapbacked) << "MM_SHMEMPAGES";
  EXPECT_EQ(mm(1).rss_shmem, 16u);
  EXPECT_EQ(sweep(1, kBase, 16, true), 0u);
  EXPECT_FALSE(page(pte_pfn(e)).dirty);
  kernel->munmap(1, kBase, 16 * kPage);
  EXPECT_TRUE(page(pte_pfn(e)).dirty);
}

// mprotect on a write-notify mapping (can_change_pte_writable, shared case): only
// dirty PTEs become writable again; clean ones keep the notification armed.
TEST_F(FileTest, MprotectKeepsWriteNotifyOnCleanPages) {
  kernel->mmap(1, filemap(kBase, 16 * kPage, "rw-", "f", true));
  ASSERT_TRUE(cpu(1).write64(kBase, 1));
  ASSERT_TRUE(cpu(1).read64(kBase + kPage).has_value());
  kernel->mprotect(1, kBase, 16 * kPage, prot("r--"));
  kernel->mprotect(1, kBase, 16 * kPage, prot("rw-"));
  EXPECT_TRUE(pte(1, kBase) & b::RW) << "dirty: writable again";
  EXPECT_FALSE(pte(1, kBase + kPage) & b::RW) << "clean: still write-notify";
  EXPECT_EQ(sweep(1, kBase, 2, true), 1u);
}

// The page cache keeps its frames (one reference each) after every mapping is
// gone: a later mapping finds the data without allocating. When no process is
// left, only the zero page and page-cache frames are in use.
TEST_F(FileTest, PageCacheOutlivesItsMappings) {
  kernel->mmap(1, filemap(kBase, 16 * kPage, "rw-", "f", true));
  ASSERT_TRUE(cpu(1).write64(kBase + 2 * kPage, 42));
  kernel->exit(1);
  EXPECT_EQ(in_use(), baseline + 1) << "one page cached (do_shared_fault maps one page)";
  EXPECT_EQ(kernel->page_cache_frames(), 1u);
  expect_consistent();
  kernel->spawn(2, "later", false);
  kernel->mmap(2, filemap(kBase, 16 * kPage, "r--", "f", false, kPage));  // offset: one page in
  EXPECT_EQ(cpu(2).read64(kBase + kPage), 42u) << "page 2 of the file at offset 1 page";
  EXPECT_EQ(kernel->page_cache_frames(), 16u) << "the window around it, pages 1-16";
}

// vma_needs_copy: fork copies no PTE of a file VMA without an anon_vma (shared, or
// private and never written); the child refaults, with fault-around. A private
// file VMA with an anon_vma is copied whole, file pages included
// (folio_dup_file_rmap_pte), so the child's reads do not fault.
TEST_F(FileTest, ForkCopiesOnlyFileVmasWithAnonVma) {
  kernel->mmap(1, filemap(kBase, 16 * kPage, "r--", "lib", false));
  kernel->mmap(1, filemap(kBase + 0x200000, 16 * kPage, "rw-", "lib", true));
  kernel->mmap(1, filemap(kBase + 0x400000, 16 * kPage, "rw-", "lib", false));
  for (u64 base : {kBase, kBase + 0x200000, kBase + 0x400000}) sweep(1, base, 16, false);
  ASSERT_TRUE(cpu(1).write64(kBase + 0x400000, 3));  // gives that VMA its anon_vma
  kernel->fork(1, 2);
  EXPECT_EQ(pte(2, kBase), 0u);
  EXPECT_EQ(pte(2, kBase + 0x200000), 0u);
  EXPECT_EQ(mm(2).rss_file, 15u) << "the written VMA's 15 file pages";
  EXPECT_EQ(mm(2).rss_anon, 1u);
  const u64 file_page = pfn(1, kBase + 0x400000 + kPage);
  EXPECT_EQ(page(file_page).mapcount, 4u) << "lib page 1: three VMAs of pid 1, one of pid 2";
  EXPECT_EQ(sweep(2, kBase + 0x400000, 16, false), 0u);
  EXPECT_EQ(sweep(2, kBase, 16, false), 1u) << "refaulted with fault-around";
  EXPECT_EQ(sweep(2, kBase + 0x200000, 16, false), 1u);
  EXPECT_EQ(cpu(2).read64(kBase + 0x400000), 3u);
}

// filemap_map_pages with large folios (6.18, 357b92761d94): a folio overlapping
// the window is mapped whole where it lies inside the VMA and one PTE table, so a
// read sweep takes one fault per 64-page folio; a folio the VMA cuts is mapped
// only within the window.
TEST_F(FileTest, LargeFoliosAreMappedWhole) {
  cfg.kernel.file_folio_pages = 64;
  reboot();
  kernel->mmap(1, filemap(kBase, 256 * kPage, "r--", "f", false));
  EXPECT_EQ(sweep(1, kBase, 256, false), 4u);
  EXPECT_EQ(kernel->page_cache_frames(), 256u);
  // The VMA starts 8 pages into a folio, which therefore is never mapped whole:
  // the windows (clamped to the VMA) map 16, then 8 (to the next aligned window),
  // 16 and 16 pages.
  kernel->mmap(1, filemap(kBase + 0x200000 + 8 * kPage, 56 * kPage, "r--", "g", false, 8 * kPage));
  EXPECT_EQ(sweep(1, kBase + 0x200000 + 8 * kPage, 56, false), 4u);
  EXPECT_EQ(mm(1).rss_file, 256u + 56u);
}

// folio_range: folios never reach past EOF (page_cache_ra_order); the smaller
// tail folios are mapped whole too.
TEST_F(FileTest, LargeFoliosShrinkTowardsEof) {
  cfg.kernel.file_folio_pages = 16;
  reboot();
  kernel->file("f", 28 * kPage, false);  // folios [0,16) [16,24) [24,28)
  kernel->mmap(1, filemap(kBase, 32 * kPage, "r--", "f", false));
  ASSERT_TRUE(cpu(1).read64(kBase + 17 * kPage).has_value());
  EXPECT_EQ(kernel->page_cache_frames(), 12u) << "the window 16-31 clamped to EOF: folios [16,24), [24,28)";
  EXPECT_EQ(mm(1).rss_file, 12u);
}

// finish_fault maps the whole file folio when it fits the VMA and the PTE table
// (19773df031bc, 6.18): with fault-around off, a shared write maps the folio
// writable and dirty, one fault per folio; a private write (do_cow_fault) copies
// one page only.
TEST_F(FileTest, FinishFaultMapsWholeFolio) {
  cfg.kernel.file_folio_pages = 16;
  cfg.kernel.fault_around_pages = 1;
  reboot();
  kernel->mmap(1, filemap(kBase, 64 * kPage, "rw-", "f", true));
  EXPECT_EQ(sweep(1, kBase, 64, true), 4u);
  EXPECT_TRUE(pte(1, kBase + 15 * kPage) & b::D);
  kernel->mmap(1, filemap(kBase + 0x200000, 32 * kPage, "rw-", "f", false));
  EXPECT_EQ(sweep(1, kBase + 0x200000, 32, true), 32u);
}

// kernel.cow=eager (Windows 98, seeds/004): a private writable file mapping is
// copied at mmap, so writes never fault; the copies are not page faults, their
// cost goes to the mmap; read-only and shared mappings are not copied.
TEST_F(FileTest, EagerCowCopiesAtMapTime) {
  kernel->mmap(1, filemap(kBase, 8 * kPage, "rw-", "dll", true));
  ASSERT_TRUE(cpu(1).write64(kBase + 4 * kPage, 77));
  cfg.kernel.cow = config::CowPolicy::Eager;
  const u64 before = in_use();
  MmapRequest wc = filemap(kBase + 0x200000, 8 * kPage, "r--", "dll", false);
  wc.prot.writecopy = true;
  const u64 cycles = kernel->mmap(1, wc);
  const auto& c = cost();
  EXPECT_GE(cycles, 8 * (c.frame_alloc + c.copy_cycles(4096)));
  EXPECT_EQ(in_use(), before + 7 /* page cache */ + 8 /* copies */ + 1 /* PTE table */);
  EXPECT_EQ(minflt(1), 1u) << "the copies are not faults";
  EXPECT_EQ(mm(1).rss_anon, 8u);
  EXPECT_EQ(sweep(1, kBase + 0x200000, 8, true), 0u);
  EXPECT_EQ(cpu(1).read64(kBase + 4 * kPage), 77u) << "the writes went to the copies";
  const u64 ro_cycles = kernel->mmap(1, filemap(kBase + 0x400000, 8 * kPage, "r--", "dll", false));
  EXPECT_EQ(ro_cycles, 0u) << "a read-only mapping is not copied";
  cfg.kernel.cow = config::CowPolicy::Lazy;
}

// populate_vma_page_range: GUP faults a shared file mapping in with read faults
// (fault-around: pages/16) and a private writable one with write faults, one
// do_cow_fault per page; min_flt counts them all.
TEST_F(FileTest, PopulateFaultsFileMappingsLikeGup) {
  MmapRequest shared = filemap(kBase, 64 * kPage, "rw-", "f", true);
  shared.populate = true;
  kernel->mmap(1, shared);
  EXPECT_EQ(minflt(1), 4u);
  EXPECT_FALSE(pte(1, kBase) & b::RW) << "read faults: not dirtied for nothing";
  MmapRequest priv = filemap(kBase + 0x200000, 16 * kPage, "rw-", "f", false);
  priv.populate = true;
  kernel->mmap(1, priv);
  EXPECT_EQ(minflt(1), 4u + 16u);
  EXPECT_EQ(mm(1).rss_anon, 16u);
  EXPECT_EQ(sweep(1, kBase + 0x200000, 16, true), 0u);
}

// madvise(MADV_DONTNEED) on a private file mapping (zap_page_range_single): the
// private copies are dropped and the next read finds the file's page again.
TEST_F(FileTest, DontneedDropsPrivateCopies) {
  kernel->mmap(1, filemap(kBase, 16 * kPage, "rw-", "f", true));
  ASSERT_TRUE(cpu(1).write64(kBase, 1));
  kernel->mmap(1, filemap(kBase + 0x200000, 16 * kPage, "rw-", "f", false));
  ASSERT_TRUE(cpu(1).write64(kBase + 0x200000, 2));
  const u64 before = in_use();
  kernel->madvise(1, kBase + 0x200000, 16 * kPage, traces::Advice::DontNeed);
  EXPECT_EQ(in_use(), before - 1) << "the private copy is freed; the page cache stays";
  EXPECT_EQ(cpu(1).read64(kBase + 0x200000), 1u);
  EXPECT_EQ(pfn(1, kBase + 0x200000), pfn(1, kBase));
}

// Out of frames: fault-around maps what the cache could take and never fails the
// fault itself; the faulting page needs its frame, or the task is OOM-killed.
TEST_F(FileTest, FaultAroundUnderMemoryPressure) {
  boot(12 * kPage);  // 11 frames: zero page, PGD, 3 tables, 6 left for the file
  kernel->spawn(1, "p", false);
  kernel->mmap(1, filemap(kBase, 16 * kPage, "r--", "f", false));
  ASSERT_TRUE(cpu(1).read64(kBase).has_value());
  EXPECT_EQ(mm(1).rss_file, 6u);
  EXPECT_EQ(kernel->frames().available(), 0u);
  EXPECT_FALSE(cpu(1).read64(kBase + 10 * kPage).has_value());
  EXPECT_EQ(cpu(1).faults().at(0).resolution, Resolution::Oom);
  EXPECT_FALSE(kernel->alive(1));
  EXPECT_EQ(kernel->page_cache_frames(), 6u);
}

// The file table: a declaration comes once, before the first mmap.
TEST_F(FileTest, DeclarationErrors) {
  kernel->file("a", 4096, false);
  EXPECT_THROW(kernel->file("a", 8192, false), KernelError);
  kernel->mmap(1, filemap(kBase, kPage, "r--", "b", false));
  EXPECT_THROW(kernel->file("b", 4096, true), KernelError);
  EXPECT_THROW(kernel->file("", 4096, false), KernelError);
}

// Windows image sharing (seeds/000, 002): two processes map one DLL with
// PAGE_EXECUTE_WRITECOPY and share every frame; the writer's copy is its own.
TEST_F(FileTest, WritecopyViewsShareUntilWritten) {
  kernel->mmap(1, filemap(kBase, 4 * kPage, "rw-", "app.dll", true));
  for (u64 i = 0; i < 4; ++i) ASSERT_TRUE(cpu(1).write64(kBase + i * kPage, 0xC0DE0 + i));
  kernel->exit(1);
  for (Pid p : {2u, 3u}) {
    kernel->spawn(p, "app", false);
    MmapRequest v = filemap(0x10000000, 4 * kPage, "r-x", "app.dll", false);
    v.prot.writecopy = true;
    kernel->mmap(p, v);
    EXPECT_TRUE(cpu(p).fetch(0x10000000));
    EXPECT_EQ(minflt(p), 1u) << "one fault maps the whole image";
  }
  for (u64 i = 0; i < 4; ++i) EXPECT_EQ(pfn(2, 0x10000000 + i * kPage), pfn(3, 0x10000000 + i * kPage));
  const u64 shared = pfn(3, 0x10000000 + kPage);
  ASSERT_TRUE(cpu(2).write64(0x10000000 + kPage, 0xBAD));
  EXPECT_NE(pfn(2, 0x10000000 + kPage), shared);
  EXPECT_EQ(pfn(3, 0x10000000 + kPage), shared);
  EXPECT_EQ(cpu(3).read64(0x10000000 + kPage), 0xC0DE1u);
  EXPECT_TRUE(pte_exec(pte(2, 0x10000000 + kPage))) << "the copy keeps EXECUTE: PAGE_EXECUTE_READWRITE";
}

}  // namespace
}  // namespace mmusim::kernel::test
