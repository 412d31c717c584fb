// The fault path of the kernel model: each test names the Linux function
// (arch/x86/mm/fault.c, mm/memory.c) whose behaviour it checks.
#include <map>
#include <set>

#include "kernel/recorder.hpp"
#include "kernel_test_support.hpp"

namespace mmusim::kernel::test {
namespace {

namespace b = mmu::bit;

class FaultTest : public KernelTest {
 protected:
  void SetUp() override {
    KernelTest::SetUp();
    kernel->spawn(1, "p", false);
  }
};

// do_anonymous_page, read fault: the shared zero page, read-only and special; no
// frame allocated beyond the three page-table pages below the PGD.
TEST_F(FaultTest, ReadMapsZeroPageWithoutAllocating) {
  kernel->mmap(1, anon(kBase, 4 * kPage, "rw-"));
  const u64 before = in_use();
  auto v = cpu(1).read64(kBase + 8);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v, 0u);
  EXPECT_EQ(in_use(), before + 3) << "PUD, PMD and PTE tables only";
  const u64 e = pte(1, kBase);
  EXPECT_EQ(pte_pfn(e), kernel->zero_pfn());
  EXPECT_EQ(e & ~kPtePfnMask, b::P | b::US | b::A | b::XD | _PAGE_SPECIAL);
  ASSERT_EQ(cpu(1).faults().size(), 1u);
  const FaultRecord& rec = cpu(1).faults()[0];
  EXPECT_EQ(rec.resolution, Resolution::ZeroPage);
  EXPECT_EQ(rec.error_code, pf::U);
  EXPECT_EQ(path_of(rec), chain({"do_anonymous_page", "do_pte_missing"}));
  EXPECT_EQ(minflt(1), 1u);
  EXPECT_EQ(page(kernel->zero_pfn()).mapcount, 0u) << "the zero page is not rmapped";
}

// do_anonymous_page, write fault: a zeroed frame, RW|D, mapcount 1, exclusive.
TEST_F(FaultTest, WriteAllocatesZeroedExclusivePage) {
  kernel->mmap(1, anon(kBase, 4 * kPage, "rw-"));
  ASSERT_TRUE(cpu(1).write64(kBase + 16, 0x1122334455667788ull));
  const u64 e = pte(1, kBase);
  EXPECT_EQ(e & ~kPtePfnMask, b::P | b::RW | b::US | b::A | b::D | b::XD);
  const u64 f = pte_pfn(e);
  EXPECT_NE(f, 0u);
  EXPECT_NE(f, kernel->zero_pfn());
  EXPECT_EQ(page(f).mapcount, 1u);
  EXPECT_EQ(page(f).refcount, 1u);
  EXPECT_TRUE(page(f).anon);
  EXPECT_TRUE(page(f).anon_exclusive);
  EXPECT_EQ(mem.read64(f << 12), 0u) << "the rest of the page was cleared";
  EXPECT_EQ(cpu(1).read64(kBase + 16), 0x1122334455667788ull);
  EXPECT_TRUE(cpu(1).faults().empty()) << "the read hits the TLB: no second fault";
  EXPECT_EQ(resolved(1, Resolution::AnonymousPage), 1u);
  EXPECT_EQ(minflt(1), 1u);
}

// do_anonymous_page, write: the kernel stack of the fault and its cost steps,
// page-table allocation (__pud_alloc, __pmd_alloc, __pte_alloc) included.
TEST_F(FaultTest, AnonymousWritePathAndSteps) {
  kernel->mmap(1, anon(kBase, 4 * kPage, "rw-"));
  ASSERT_TRUE(cpu(1).write64(kBase, 1));
  ASSERT_EQ(cpu(1).faults().size(), 1u);
  const FaultRecord rec = cpu(1).faults()[0];
  EXPECT_EQ(path_of(rec), chain({"do_anonymous_page", "do_pte_missing"}));
  EXPECT_EQ(rec.error_code, pf::U | pf::W);
  EXPECT_EQ(rec.total_cycles, steps_sum(rec));
  const auto& c = cost();
  // First fault in the region: three page-table pages on top of the zero-fill.
  EXPECT_EQ(rec.total_cycles, c.exception_entry + c.exception_exit + c.vma_lookup + c.pgtable_walk +
                                  3 * c.pgtable_alloc + c.frame_alloc + c.zero_cycles(4096) + c.rmap_update + c.pte_update);
  // A neighbour needs no table.
  ASSERT_TRUE(cpu(1).write64(kBase + kPage, 1));
  EXPECT_EQ(cpu(1).faults()[0].total_cycles, c.exception_entry + c.exception_exit + c.vma_lookup +
                                                 c.pgtable_walk + c.frame_alloc + c.zero_cycles(4096) + c.rmap_update +
                                                 c.pte_update);
  EXPECT_EQ(kernel->counters(1).fault_cycles, rec.total_cycles + cpu(1).faults()[0].total_cycles);
}

// do_wp_page → wp_page_copy on the zero page: a zeroed (not copied) private page,
// the old PTE flushed before the new one is set.
TEST_F(FaultTest, WriteAfterReadCopiesFromZeroPageAndFlushes) {
  kernel->mmap(1, anon(kBase, 4 * kPage, "rw-"));
  ASSERT_EQ(cpu(1).read64(kBase), 0u);
  EXPECT_TRUE(cpu(1).cached(kBase));
  tlb.calls.clear();
  ASSERT_TRUE(cpu(1).write64(kBase, 42));
  ASSERT_EQ(cpu(1).faults().size(), 1u);
  const FaultRecord& rec = cpu(1).faults()[0];
  EXPECT_EQ(rec.error_code, pf::U | pf::W | pf::P) << "the cached RO entry faults as a protection violation";
  EXPECT_EQ(rec.resolution, Resolution::CowCopy);
  EXPECT_EQ(path_of(rec), chain({"wp_page_copy", "do_wp_page"}));
  EXPECT_TRUE(has_step(rec, "zero"));
  EXPECT_FALSE(has_step(rec, "copy"));
  EXPECT_TRUE(has_step(rec, "tlb_flush_local"));
  EXPECT_EQ(tlb.page_flushes(kernel->mm_of(1).id(), kBase), 1u);
  const u64 f = pfn(1, kBase);
  EXPECT_NE(f, kernel->zero_pfn());
  EXPECT_TRUE(pte(1, kBase) & b::RW);
  EXPECT_TRUE(page(f).anon_exclusive);
  EXPECT_EQ(mem.read64(kernel->zero_pfn() << 12), 0u) << "the zero page stays zero";
  EXPECT_EQ(cpu(1).read64(kBase), 42u);
  EXPECT_EQ(minflt(1), 2u);
  EXPECT_TRUE(kernel->mm_of(1).vma_lookup(kBase)->anon_vma) << "wp_page_copy prepared the anon_vma";
}

// handle_pte_fault: the PTE already allows the access (a thread's stale TLB entry
// after another thread's wp_page_reuse). Counted, nothing changes but A/D.
TEST_F(FaultTest, SpuriousFaultFromStaleEntryIsCounted) {
  kernel->mmap(1, anon(kBase, kPage, "rw-"));
  kernel->thread(1, 2);
  ASSERT_TRUE(cpu(1).write64(kBase, 5));
  kernel->fork(1, 10);  // write-protects; refcount 2
  ASSERT_EQ(cpu(2).read64(kBase), 5u);  // thread 2 caches the read-only entry
  kernel->exit(10);                     // refcount back to 1
  ASSERT_TRUE(cpu(1).write64(kBase, 6));
  ASSERT_EQ(cpu(1).faults().size(), 1u);
  EXPECT_EQ(cpu(1).faults()[0].resolution, Resolution::CowReuse);
  EXPECT_TRUE(cpu(2).cached(kBase)) << "reuse is an upgrade: no flush";
  ASSERT_TRUE(cpu(2).write64(kBase, 7));
  ASSERT_EQ(cpu(2).faults().size(), 1u);
  const FaultRecord& rec = cpu(2).faults()[0];
  EXPECT_EQ(rec.resolution, Resolution::Spurious);
  EXPECT_EQ(path_of(rec), kEntryChain);
  EXPECT_EQ(minflt(2), 1u);
  EXPECT_EQ(cpu(1).read64(kBase), 7u);
}

// exc_page_fault on a PTE that is already fine, called directly.
TEST_F(FaultTest, SpuriousReadSetsAccessedBit) {
  kernel->mmap(1, anon(kBase, kPage, "rw-"));
  ASSERT_TRUE(cpu(1).write64(kBase, 1));
  auto pa = pte_lookup(mem, kernel->mm_of(1), kBase);
  mem.write64(*pa, mem.read64(*pa) & ~b::A);
  FaultRecord rec;
  kernel->exc_page_fault(1, kBase, pf::U, rec);
  EXPECT_EQ(rec.resolution, Resolution::Spurious);
  EXPECT_TRUE(pte(1, kBase) & b::A);
  EXPECT_TRUE(has_step(rec, "pte_update"));
  EXPECT_EQ(minflt(1), 2u);
}

// bad_area_nosemaphore: no VMA → SIGSEGV/SEGV_MAPERR; not counted in minflt; the
// task dies and its frames go back.
TEST_F(FaultTest, NoVmaIsSegvMaperrAndNotCounted) {
  kernel->mmap(1, anon(kBase, kPage, "rw-"));
  ASSERT_TRUE(cpu(1).write64(kBase, 1));
  SoftCpu& c = cpu(1);
  EXPECT_FALSE(c.read64(kBase + 0x100000).has_value());
  ASSERT_EQ(c.faults().size(), 1u);
  const FaultRecord& rec = c.faults()[0];
  EXPECT_EQ(rec.resolution, Resolution::Sigsegv);
  EXPECT_EQ(rec.si_code, SEGV_MAPERR);
  EXPECT_EQ(path_of(rec), (std::vector<std::string>{"bad_area_nosemaphore", "do_user_addr_fault", "exc_page_fault"}));
  EXPECT_TRUE(has_step(rec, "signal_delivery"));
  EXPECT_EQ(rec.total_cycles, steps_sum(rec));
  EXPECT_FALSE(kernel->alive(1));
  EXPECT_EQ(kernel->counters(1).minflt, 1u) << "only the earlier write";
  EXPECT_EQ(kernel->counters(1).by_resolution[static_cast<unsigned>(Resolution::Sigsegv)], 1u);
  EXPECT_EQ(in_use(), baseline) << "exit freed every frame and page table";
  EXPECT_EQ(tlb.mm_flushes(c.mm_id()), 1u) << "exit_mmap flushes the mm";
}

// access_error: a write to a VMA without VM_WRITE → SEGV_ACCERR.
TEST_F(FaultTest, WriteToReadOnlyVmaIsSegvAccerr) {
  kernel->mmap(1, anon(kBase, kPage, "r--"));
  ASSERT_EQ(cpu(1).read64(kBase), 0u);
  EXPECT_FALSE(cpu(1).write64(kBase, 1));
  ASSERT_EQ(cpu(1).faults().size(), 1u);
  EXPECT_EQ(cpu(1).faults()[0].si_code, SEGV_ACCERR);
  EXPECT_EQ(cpu(1).faults()[0].error_code, pf::U | pf::W | pf::P);
  EXPECT_EQ(path_of(cpu(1).faults()[0]),
            (std::vector<std::string>{"bad_area_access_error", "do_user_addr_fault", "exc_page_fault"}));
  EXPECT_EQ(minflt(1), 1u);
  EXPECT_FALSE(kernel->alive(1));
}

// access_error does not check VM_EXEC: a fetch from a never-touched NX page first
// maps it (counted), then faults on XD with P|ID set → SEGV_ACCERR.
TEST_F(FaultTest, FetchFromNxPageMapsThenAccerr) {
  kernel->mmap(1, anon(kBase, kPage, "rw-"));
  EXPECT_FALSE(cpu(1).fetch(kBase));
  ASSERT_EQ(cpu(1).faults().size(), 2u);
  EXPECT_EQ(cpu(1).faults()[0].resolution, Resolution::ZeroPage);
  EXPECT_EQ(cpu(1).faults()[0].error_code, pf::U | pf::ID);
  EXPECT_EQ(cpu(1).faults()[1].resolution, Resolution::Sigsegv);
  EXPECT_EQ(cpu(1).faults()[1].si_code, SEGV_ACCERR);
  EXPECT_EQ(cpu(1).faults()[1].error_code, pf::U | pf::ID | pf::P);
  EXPECT_EQ(minflt(1), 1u);
}

// do_anonymous_page maps the zero page without XD in a VM_EXEC mapping.
TEST_F(FaultTest, FetchFromExecutableVmaSucceeds) {
  kernel->mmap(1, anon(kBase, kPage, "r-x"));
  EXPECT_TRUE(cpu(1).fetch(kBase));
  EXPECT_FALSE(pte(1, kBase) & b::XD);
  EXPECT_EQ(minflt(1), 1u);
}

// access_error on PROT_NONE: not accessible at all.
TEST_F(FaultTest, ProtNoneReadIsAccerr) {
  kernel->mmap(1, anon(kBase, kPage, "---"));
  EXPECT_FALSE(cpu(1).read64(kBase).has_value());
  EXPECT_EQ(cpu(1).faults().at(0).si_code, SEGV_ACCERR);
  EXPECT_EQ(minflt(1), 0u);
}

// do_kern_addr_fault: user access above TASK_SIZE_MAX.
TEST_F(FaultTest, KernelAddressIsSegvMaperr) {
  FaultRecord rec;
  kernel->exc_page_fault(1, 0xffff888000000000ull, pf::U | pf::P, rec);
  EXPECT_EQ(rec.resolution, Resolution::Sigsegv);
  EXPECT_EQ(rec.si_code, SEGV_MAPERR);
  EXPECT_EQ(path_of(rec),
            (std::vector<std::string>{"bad_area_nosemaphore", "do_kern_addr_fault", "exc_page_fault"}));
  EXPECT_FALSE(kernel->alive(1));
}

// exc_page_fault's caller contract: only alive tasks fault.
TEST_F(FaultTest, FaultOnDeadOrUnknownPidIsKernelError) {
  FaultRecord rec;
  EXPECT_THROW(kernel->exc_page_fault(99, kBase, pf::U, rec), KernelError);
  kernel->exit(1);
  try {
    kernel->exc_page_fault(1, kBase, pf::U, rec);
    FAIL() << "no error";
  } catch (const KernelError& e) {
    EXPECT_NE(std::string(e.what()).find("exited"), std::string::npos) << e.what();
  }
}

// force_sig_fault → do_group_exit: a SIGSEGV kills the whole thread group (no
// handlers are modelled), and only it.
TEST_F(FaultTest, SignalKillsAllThreads) {
  kernel->thread(1, 2);
  kernel->spawn(3, "other", false);
  kernel->mmap(3, anon(kBase, kPage, "rw-"));
  ASSERT_TRUE(cpu(3).write64(kBase, 3));
  EXPECT_FALSE(cpu(2).read64(kBase).has_value());
  EXPECT_FALSE(kernel->alive(1));
  EXPECT_FALSE(kernel->alive(2));
  EXPECT_TRUE(kernel->alive(3));
  EXPECT_EQ(cpu(3).read64(kBase), 3u);
}

// do_group_exit for a signal raised outside the #PF path (Kernel::kill).
TEST_F(FaultTest, KillEndsTheThreadGroup) {
  kernel->thread(1, 2);
  kernel->mmap(1, anon(kBase, kPage, "rw-"));
  ASSERT_TRUE(cpu(2).write64(kBase, 1));
  kernel->kill(2);
  EXPECT_FALSE(kernel->alive(1));
  EXPECT_FALSE(kernel->alive(2));
  EXPECT_EQ(in_use(), baseline);
  EXPECT_THROW(kernel->kill(2), KernelError);
}

// mm_account_fault, §1.12: exact ru_minflt counts of anonymous memory.
TEST_F(FaultTest, MinfltCountingRules) {
  constexpr u64 n = 40;  // crosses no table boundary issue: counts are per page
  kernel->mmap(1, anon(kBase, n * kPage, "rw-"));
  for (u64 i = 0; i < n; ++i) ASSERT_TRUE(cpu(1).write64(kBase + i * kPage, i));
  EXPECT_EQ(minflt(1), n) << "1 per first-touch write";
  for (u64 i = 0; i < n; ++i) ASSERT_EQ(cpu(1).read64(kBase + i * kPage + 8), 0u);
  EXPECT_EQ(minflt(1), n) << "retouch: 0";

  kernel->spawn(2, "q", false);
  kernel->mmap(2, anon(kBase, n * kPage, "rw-"));
  for (u64 i = 0; i < n; ++i) ASSERT_EQ(cpu(2).read64(kBase + i * kPage), 0u);
  EXPECT_EQ(minflt(2), n) << "1 per first-touch read";
  for (u64 i = 0; i < n; ++i) ASSERT_TRUE(cpu(2).write64(kBase + i * kPage, 1));
  EXPECT_EQ(minflt(2), 2 * n) << "+1 per write after read";
  EXPECT_EQ(resolved(2, Resolution::ZeroPage), n);
  EXPECT_EQ(resolved(2, Resolution::CowCopy), n);
}

// VM_FAULT_OOM → pagefault_out_of_memory: the faulting task is killed (Resolution::Oom), nothing crashes,
// other processes keep their memory.
TEST_F(FaultTest, OutOfFramesKillsOnlyTheFaultingTask) {
  boot(40 * kPage);  // 39 usable frames
  kernel->spawn(2, "bystander", false);
  kernel->mmap(2, anon(kBase, kPage, "rw-"));
  ASSERT_TRUE(cpu(2).write64(kBase, 77));
  const u64 after_bystander = in_use();
  kernel->spawn(1, "hog", false);
  kernel->mmap(1, anon(kBase, 64 * kPage, "rw-"));
  SoftCpu& hog = cpu(1);
  bool killed = false;
  u64 written = 0;
  for (u64 i = 0; i < 64 && !killed; ++i) {
    killed = !hog.write64(kBase + i * kPage, i);
    written += !killed;
  }
  ASSERT_TRUE(killed);
  EXPECT_EQ(minflt(1), written) << "VM_FAULT_OOM is an error: not counted";
  EXPECT_EQ(hog.faults().back().resolution, Resolution::Oom);
  EXPECT_EQ(hog.faults().back().total_cycles, steps_sum(hog.faults().back()));
  EXPECT_FALSE(kernel->alive(1));
  EXPECT_EQ(resolved(1, Resolution::Oom), 1u);
  EXPECT_EQ(in_use(), after_bystander) << "the hog's frames all came back";
  EXPECT_EQ(cpu(2).read64(kBase), 77u);
}

// spawn ... automap: a fault with no VMA maps the page first (rwx, anonymous,
// private), merged with automapped neighbours; counted as a normal fault.
TEST_F(FaultTest, AutomapMapsAndMerges) {
  kernel->spawn(5, "auto", true);
  for (u64 i = 0; i < 3; ++i) ASSERT_TRUE(cpu(5).write64(kBase + i * kPage, i + 1));
  ASSERT_TRUE(cpu(5).read64(kBase + 10 * kPage).has_value());
  EXPECT_EQ(kernel->counters(5).automaps, 4u);
  EXPECT_EQ(minflt(5), 4u);
  EXPECT_EQ(kernel->mm_of(5).vmas().size(), 2u) << "three adjacent pages merged, one apart";
  const Vma* v = kernel->mm_of(5).vma_lookup(kBase);
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->vm_end, kBase + 3 * kPage);
  EXPECT_EQ(v->vm_flags & VM_ACCESS_FLAGS, VM_READ | VM_WRITE | VM_EXEC);
  EXPECT_TRUE(cpu(5).fetch(kBase + 20 * kPage));
  // A NULL dereference is never automapped (vm.mmap_min_addr).
  EXPECT_FALSE(cpu(5).read64(0x10).has_value());
  EXPECT_EQ(cpu(5).faults().back().si_code, SEGV_MAPERR);
}

// vma_merge: automapped VMAs merge only among themselves.
TEST_F(FaultTest, AutomapDoesNotMergeWithExplicitMappings) {
  kernel->spawn(5, "auto", true);
  kernel->mmap(5, anon(kBase, kPage, "rwx"));
  ASSERT_TRUE(cpu(5).write64(kBase + kPage, 1));
  EXPECT_EQ(kernel->mm_of(5).vmas().size(), 2u);
}

// do_fault → do_shared_fault / do_read_fault on shared anonymous memory (shmem):
// read faults allocate too (no zero page), and the PTE is writable at once since
// shmem has no write-notify, but clean.
TEST_F(FaultTest, SharedAnonymousReadAllocatesWritableCleanPage) {
  kernel->mmap(1, anon(kBase, 4 * kPage, "rw-", true));
  ASSERT_EQ(cpu(1).read64(kBase), 0u);
  const FaultRecord& rec = cpu(1).faults().at(0);
  EXPECT_EQ(rec.resolution, Resolution::PageCache);
  EXPECT_EQ(path_of(rec), chain({"shmem_fault", "__do_fault", "do_read_fault", "do_fault", "do_pte_missing"}));
  const u64 e = pte(1, kBase);
  EXPECT_NE(pte_pfn(e), kernel->zero_pfn());
  EXPECT_TRUE(e & b::RW);
  EXPECT_FALSE(e & b::D);
  EXPECT_TRUE(page(pte_pfn(e)).pagecache);
  EXPECT_TRUE(page(pte_pfn(e)).swapbacked);
  EXPECT_EQ(page(pte_pfn(e)).refcount, 2u) << "page cache + mapping";
  ASSERT_TRUE(cpu(1).write64(kBase, 9));
  EXPECT_TRUE(cpu(1).faults().empty()) << "no write-notify fault on shmem";
  EXPECT_EQ(minflt(1), 1u);
  ASSERT_TRUE(cpu(1).write64(kBase + kPage, 9));
  EXPECT_EQ(path_of(cpu(1).faults().at(0)),
            chain({"shmem_fault", "__do_fault", "do_shared_fault", "do_fault", "do_pte_missing"}));
  EXPECT_TRUE(pte(1, kBase + kPage) & b::D);
}

// Recorder / KernelFunction: the step names are the KernelCostConfig field names: with every cost a distinct
// power of two, each step's cycles must be a multiple of its own field. Clearing and copying are priced by
// bandwidth: 4 KiB at 1/128 and 1/256 bytes per cycle.
TEST_F(FaultTest, StepNamesAreCostFieldNames) {
  auto& c = cfg.kernel.cost;
  u64 v = 1;
  for (u64* f : {&c.exception_entry, &c.exception_exit, &c.vma_lookup, &c.pgtable_walk, &c.pgtable_alloc,
                 &c.frame_alloc, &c.pte_update, &c.rmap_update, &c.tlb_flush_local, &c.fork_per_pte,
                 &c.signal_delivery, &c.context_switch, &c.ipi_send, &c.ipi_delivery, &c.ipi_entry, &c.ipi_exit,
                 &c.ipi_ack})
    *f = (v <<= 1);
  c.zero_bandwidth = 4096.0 / (u64{1} << 19);
  c.copy_bandwidth = 4096.0 / (u64{1} << 20);
  EXPECT_EQ(step_cycles(c, Step::zero), u64{1} << 19);
  EXPECT_EQ(step_cycles(c, Step::copy), u64{1} << 20);
  for (unsigned s = 0; s < kStepCount; ++s)
    EXPECT_EQ(step_cycles(c, static_cast<Step>(s)), u64{2} << s) << step_name(static_cast<Step>(s));
  const std::map<std::string_view, u64> by_name = {
      {"exception_entry", c.exception_entry}, {"exception_exit", c.exception_exit},
      {"vma_lookup", c.vma_lookup},           {"pgtable_walk", c.pgtable_walk},
      {"pgtable_alloc", c.pgtable_alloc},     {"frame_alloc", c.frame_alloc},
      {"zero", c.zero_cycles(4096)},          {"copy", c.copy_cycles(4096)},
      {"pte_update", c.pte_update},           {"rmap_update", c.rmap_update},
      {"tlb_flush_local", c.tlb_flush_local}, {"fork_per_pte", c.fork_per_pte},
      {"signal_delivery", c.signal_delivery}, {"context_switch", c.context_switch},
      {"ipi_send", c.ipi_send},               {"ipi_delivery", c.ipi_delivery},
      {"ipi_entry", c.ipi_entry},             {"ipi_exit", c.ipi_exit},
      {"ipi_ack", c.ipi_ack}};
  std::vector<FaultRecord> all;
  kernel->mmap(1, anon(kBase, 4 * kPage, "rw-"));
  kernel->mmap(1, anon(kBase + 16 * kPage, 4 * kPage, "rw-", true));
  cpu(1).read64(kBase);
  all.insert(all.end(), cpu(1).faults().begin(), cpu(1).faults().end());
  cpu(1).write64(kBase, 1);
  all.insert(all.end(), cpu(1).faults().begin(), cpu(1).faults().end());
  cpu(1).write64(kBase + kPage, 1);
  all.insert(all.end(), cpu(1).faults().begin(), cpu(1).faults().end());
  cpu(1).read64(kBase + 16 * kPage);
  all.insert(all.end(), cpu(1).faults().begin(), cpu(1).faults().end());
  kernel->fork(1, 2);
  cpu(2).write64(kBase + kPage, 2);
  all.insert(all.end(), cpu(2).faults().begin(), cpu(2).faults().end());
  cpu(1).write64(kBase + kPage, 3);
  all.insert(all.end(), cpu(1).faults().begin(), cpu(1).faults().end());
  cpu(1).read64(0x1000000);
  all.insert(all.end(), cpu(1).faults().begin(), cpu(1).faults().end());
  ASSERT_EQ(all.size(), 7u);
  for (const FaultRecord& rec : all) {
    EXPECT_EQ(rec.total_cycles, steps_sum(rec)) << to_string(rec.resolution);
    ASSERT_FALSE(rec.path.empty());
    EXPECT_EQ(rec.path.back().function, "exc_page_fault");
    EXPECT_EQ(rec.path.back().cycles, rec.total_cycles) << "the outermost frame is inclusive of everything";
    for (std::size_t i = 1; i < rec.path.size(); ++i)
      EXPECT_LE(rec.path[i - 1].cycles, rec.path[i].cycles) << "callers include their callees";
    for (const CostStep& s : rec.steps) {
      ASSERT_TRUE(by_name.count(s.name)) << s.name;
      EXPECT_EQ(s.cycles % by_name.at(s.name), 0u) << s.name;
    }
  }
}

// to_string(Resolution): one name per value.
TEST(ResolutionNames, AllDistinct) {
  std::set<std::string_view> names;
  for (unsigned i = 0; i < kResolutionCount; ++i) names.insert(to_string(static_cast<Resolution>(i)));
  EXPECT_EQ(names.size(), kResolutionCount);
  EXPECT_EQ(to_string(Resolution::CowCopy), "cow_copy");
}

// FrameAllocator (the buddy allocator's stand-in): never pfn 0, bounded by the
// memory size, frees discard contents and are reused.
TEST(FrameAllocator, BoundedNeverZeroAndReused) {
  hw::SparseMemory mem;
  FrameAllocator fa(mem, 8 * 4096);
  std::set<u64> got;
  while (auto pfn = fa.alloc()) {
    EXPECT_NE(*pfn, 0u);
    EXPECT_LT(*pfn, 8u);
    EXPECT_EQ(fa.page(*pfn).refcount, 1u);
    got.insert(*pfn);
  }
  EXPECT_EQ(got.size(), 7u);
  EXPECT_EQ(fa.in_use(), 7u);
  EXPECT_EQ(fa.available(), 0u);
  mem.write64(3 << 12, 0xdead);
  fa.get(3);
  EXPECT_FALSE(fa.put(3));
  EXPECT_TRUE(fa.put(3));
  EXPECT_FALSE(fa.allocated(3));
  EXPECT_EQ(mem.read64(3 << 12), 0u) << "contents discarded";
  EXPECT_THROW(fa.put(3), std::logic_error) << "double free is a kernel bug";
  EXPECT_EQ(fa.alloc(), std::optional<u64>(3));
  EXPECT_EQ(fa.peak_in_use(), 7u);
}

// The VMA tree (mm/vma.c): find_vma, __split_vma, vma_merge.
TEST(VmaTree, LookupSplitMerge) {
  Mm mm(1, 5);
  Vma v;
  v.vm_start = 0x10000;
  v.vm_end = 0x20000;
  v.vm_flags = VM_READ | VM_WRITE | VM_MAYWRITE;
  v.vm_pgoff = 0x10;
  mm.insert_vma(v);
  EXPECT_EQ(mm.vma_lookup(0xffff), nullptr);
  EXPECT_EQ(mm.find_vma(0x1000)->vm_start, 0x10000u);
  EXPECT_EQ(mm.find_vma(0x20000), nullptr);
  EXPECT_TRUE(mm.intersects(0x1f000, 0x30000));
  EXPECT_FALSE(mm.intersects(0x20000, 0x30000));
  mm.split_vma(0x14000);
  ASSERT_EQ(mm.vmas().size(), 2u);
  EXPECT_EQ(mm.vma_lookup(0x15000)->vm_pgoff, 0x14u);
  EXPECT_TRUE(mm.merge_at(0x14000));
  EXPECT_EQ(mm.vmas().size(), 1u);
  auto gone = mm.detach_range(0x12000, 0x13000);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].vm_pgoff, 0x12u);
  EXPECT_EQ(mm.vmas().size(), 2u);
  EXPECT_FALSE(mm.fully_mapped(0x10000, 0x20000));
  EXPECT_TRUE(mm.fully_mapped(0x13000, 0x20000));
  // Different anon_vmas never merge.
  Vma a = gone[0];
  a.anon_vma = std::make_shared<AnonVma>(AnonVma{1});
  mm.insert_vma(a);
  mm.vma_lookup(0x13000)->anon_vma = std::make_shared<AnonVma>(AnonVma{2});
  EXPECT_FALSE(mm.merge_at(0x13000));
  EXPECT_TRUE(mm.merge_at(0x12000)) << "one without an anon_vma adopts the other's";
  EXPECT_EQ(mm.vma_lookup(0x10000)->anon_vma->id, 1u);
}

}  // namespace
}  // namespace mmusim::kernel::test
