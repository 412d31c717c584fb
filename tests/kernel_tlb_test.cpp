// kernel::X86Tlb against Linux 6.18 arch/x86/mm/tlb.c (linux-fault-path.md §1.10):
// ASID slots and CR3 writes in switch_mm_irqs_off / choose_new_asid, lazy TLB,
// should_flush_tlb's choice of IPI targets, flush_tlb_func's INVLPG-or-CR3 choice and
// the initiator's cost steps. The machine is a recording fake of kernel::Cpus, so every
// CR3 write, INVLPG and IPI the kernel asks for can be checked exactly.
#include <gtest/gtest.h>

#include <initializer_list>
#include <memory>
#include <utility>
#include <vector>

#include "kernel/tlb.hpp"

namespace mmusim::kernel {
namespace {

constexpr u64 kPcidMask = 0xfff;         // CR3[11:0] with CR4.PCIDE=1
constexpr u64 kVa = 0x7f0000400000ull;   // start of every flushed range (2 MiB aligned)

u64 pcid_of(u64 cr3) { return cr3 & kPcidMask; }
bool noflush(u64 cr3) { return (cr3 & X86_CR3_PCID_NOFLUSH) != 0; }
u64 base_of(u64 cr3) { return cr3 & ~kPcidMask & ~X86_CR3_PCID_NOFLUSH; }

CpuMask cpus_of(std::initializer_list<unsigned> cpus) {
  CpuMask m;
  for (unsigned c : cpus) m.set(c);
  return m;
}

// The machine as X86Tlb sees it: records what each CPU was told to do.
class FakeCpus : public Cpus {
 public:
  struct Call {
    CpuMask targets;
    u64 elapsed;
    std::vector<std::pair<unsigned, Handled>> handled;  // what func(t) returned, per target
  };
  unsigned current = 0;  // smp_processor_id
  u64 ack = 0;           // what smp_call_function_many reports as its acknowledgement time
  std::vector<std::pair<unsigned, u64>> cr3s, invlpgs;
  std::vector<Call> calls;

  unsigned smp_processor_id() const override { return current; }
  void write_cr3(unsigned cpu, u64 cr3) override { cr3s.emplace_back(cpu, cr3); }
  void invlpg(unsigned cpu, u64 va) override { invlpgs.emplace_back(cpu, va); }
  // Like hw::System: each target's handler runs in ascending CPU order.
  u64 smp_call_function_many(const CpuMask& targets, const std::function<Handled(unsigned)>& func,
                             u64 elapsed) override {
    Call c{targets, elapsed, {}};
    for (unsigned t = 0; t < targets.size(); ++t)
      if (targets.test(t)) c.handled.emplace_back(t, func(t));
    calls.push_back(std::move(c));
    return ack;
  }

  std::vector<u64> cr3_on(unsigned cpu) const { return on(cr3s, cpu); }
  std::vector<u64> invlpg_on(unsigned cpu) const { return on(invlpgs, cpu); }
  void forget() {
    cr3s.clear();
    invlpgs.clear();
    calls.clear();
  }

 private:
  static std::vector<u64> on(const std::vector<std::pair<unsigned, u64>>& log, unsigned cpu) {
    std::vector<u64> v;
    for (const auto& [c, x] : log)
      if (c == cpu) v.push_back(x);
    return v;
  }
};

// `n` consecutive 4 KiB pages from kVa: what a partial flush INVLPGs.
std::vector<u64> pages_from_kva(u64 n) {
  std::vector<u64> v;
  for (u64 i = 0; i < n; ++i) v.push_back(kVa + i * kPageSize);
  return v;
}

class X86TlbTest : public ::testing::Test {
 protected:
  // The configuration must be set before X86Tlb sizes its per-CPU state.
  void boot(unsigned cores, bool pcide = true) {
    cfg.cores = cores;
    cfg.cr4.pcide = pcide;
    tlb = std::make_unique<X86Tlb>(cfg, cpus);
  }
  // switch_mm on `cpu`; returns the cycles it charged.
  u64 run(unsigned cpu, Mm* mm) {
    Recorder r(cfg.kernel.cost);
    tlb->switch_mm(cpu, mm, r);
    return r.total();
  }
  // flush_tlb_mm_range of `pages` 4 KiB pages from kVa, initiated on CPU `from`.
  void flush(unsigned from, Mm& mm, u64 pages, bool freed_tables = false, FaultRecord* rec = nullptr) {
    cpus.current = from;
    Recorder r(cfg.kernel.cost, rec);
    tlb->flush_tlb_mm_range(mm, kVa, kVa + pages * kPageSize, kPageShift, freed_tables, r);
  }
  const config::KernelCostConfig& cost() const { return cfg.kernel.cost; }

  config::Config cfg;
  FakeCpus cpus;
  std::unique_ptr<X86Tlb> tlb;
  Mm a{1, 0x1000}, b{2, 0x2000};
};

// choose_new_asid: the first user mm takes next_asid = 1, so kern_pcid = 2, with a
// flushing CR3 (the slot held nothing of it). load_new_mm_cr3 with need_flush=false
// sets X86_CR3_PCID_NOFLUSH when A comes back to its still-valid slot.
TEST_F(X86TlbTest, ChooseNewAsidFirstMmGetsPcid2AndReturnKeepsItsEntries) {
  boot(1);
  EXPECT_EQ(run(0, &a), cfg.core.cr3_write_cycles);  // charged as Step::cr3_write
  run(0, &b);
  run(0, &a);
  ASSERT_EQ(cpus.cr3_on(0).size(), 3u);
  const u64 first_a = cpus.cr3_on(0)[0], first_b = cpus.cr3_on(0)[1], back_to_a = cpus.cr3_on(0)[2];
  EXPECT_EQ(first_a, a.cr3() | 2);  // ASID 1 → PCID 2, bit 63 clear
  EXPECT_EQ(first_b, b.cr3() | 3);  // ASID 2 → PCID 3, bit 63 clear
  EXPECT_EQ(back_to_a, a.cr3() | 2 | X86_CR3_PCID_NOFLUSH);
  EXPECT_EQ(tlb->state(0).loaded_mm, &a);
  EXPECT_EQ(tlb->state(0).loaded_mm_asid, 1u);
  EXPECT_EQ(tlb->counters(0).cr3_writes, 3u);
  EXPECT_EQ(tlb->counters(0).cr3_noflush, 1u);
  EXPECT_EQ(tlb->counters(0).asid_reuses, 1u);
  EXPECT_TRUE(a.cpumask.test(0));
  EXPECT_TRUE(b.cpumask.test(0));  // not cleared at the switch away (Linux 6.x)
}

// choose_new_asid: TLB_NR_DYN_ASIDS = 6 slots handed out round robin by next_asid,
// which wraps from 6 to ASID 0 (init_mm's boot slot). The victim is the least recently
// *allocated* slot, not the least recently used one.
TEST_F(X86TlbTest, ChooseNewAsidSixSlotsRoundRobinWrapsToAsid0) {
  boot(1);
  std::vector<std::unique_ptr<Mm>> m;
  for (u64 i = 0; i < 7; ++i) m.push_back(std::make_unique<Mm>(10 + i, 0x100 + i));
  auto last_cr3 = [&] { return cpus.cr3_on(0).back(); };

  for (unsigned i = 0; i < 5; ++i) {  // ASIDs 1..5
    run(0, m[i].get());
    EXPECT_EQ(last_cr3(), m[i]->cr3() | (i + 2)) << "mm " << i;
  }
  EXPECT_EQ(tlb->state(0).next_asid, 6u);
  run(0, m[5].get());  // next_asid wraps: ASID 0, PCID 1, init_mm's slot is taken
  EXPECT_EQ(last_cr3(), m[5]->cr3() | 1);
  EXPECT_EQ(tlb->state(0).next_asid, 1u);
  EXPECT_EQ(tlb->state(0).ctxs[0].ctx_id, m[5]->id());

  run(0, m[1].get());  // m1's slot (ASID 2) is intact: no flush
  EXPECT_EQ(last_cr3(), m[1]->cr3() | 3 | X86_CR3_PCID_NOFLUSH);

  run(0, m[6].get());  // the seventh mm takes ASID 1, m0's: allocated first
  EXPECT_EQ(last_cr3(), m[6]->cr3() | 2);
  // m0 lost its slot, so it flushes, and takes ASID 2 from m1 although m1 ran last.
  run(0, m[0].get());
  EXPECT_EQ(last_cr3(), m[0]->cr3() | 3);
  EXPECT_FALSE(noflush(last_cr3()));
  run(0, m[1].get());  // and m1 in turn flushes, in ASID 3
  EXPECT_EQ(last_cr3(), m[1]->cr3() | 4);
  // init_mm is an mm like the others: its slot 0 is gone, so it gets ASID 4, flushed.
  run(0, nullptr);
  EXPECT_EQ(last_cr3(), 5u);  // address 0, PCID 5, bit 63 clear
  EXPECT_EQ(tlb->counters(0).cr3_noflush, 1u);
}

// choose_new_asid without X86_FEATURE_PCID: ASID 0 and need_flush for every switch.
TEST_F(X86TlbTest, ChooseNewAsidWithoutPcideEverySwitchFlushesPcid0) {
  boot(1, /*pcide=*/false);
  run(0, &a);
  run(0, &b);
  run(0, &a);
  const std::vector<u64> want{a.cr3(), b.cr3(), a.cr3()};  // PCID 0, bit 63 clear
  EXPECT_EQ(cpus.cr3_on(0), want);
  EXPECT_EQ(tlb->pcid(3), 0u);
  EXPECT_EQ(tlb->counters(0).cr3_noflush, 0u);
  EXPECT_EQ(tlb->counters(0).asid_reuses, 0u);
}

// switch_mm_irqs_off, prev == next and not lazy: "switching from one thread in a
// process to another thread in the same process. No TLB flush required" — no CR3.
TEST_F(X86TlbTest, SwitchMmToSameMmBetweenThreadsWritesNoCr3) {
  boot(2);
  run(0, &a);
  EXPECT_EQ(run(0, &a), 0u);
  EXPECT_EQ(cpus.cr3_on(0).size(), 1u);
  EXPECT_EQ(tlb->counters(0).cr3_writes, 1u);
  run(1, &a);  // the other thread, on another CPU: that CPU's first load of A
  EXPECT_EQ(cpus.cr3_on(1), std::vector<u64>{a.cr3() | 2});
}

// inc_mm_tlb_gen + choose_new_asid: a CPU that ran A and now runs B is in
// mm_cpumask(A) but should_flush_tlb skips it; its slot keeps the old tlb_gen, so its
// switch back to A flushes although the slot is still A's.
TEST_F(X86TlbTest, TlbGenCpuThatSwitchedAwayGetsNoIpiAndFlushesOnReturn) {
  boot(2);
  run(1, &a);
  run(1, &b);
  run(0, &a);
  cpus.forget();
  flush(0, a, 1);
  EXPECT_TRUE(cpus.calls.empty());
  EXPECT_EQ(cpus.invlpg_on(0), std::vector<u64>{kVa});
  EXPECT_TRUE(cpus.invlpg_on(1).empty());
  EXPECT_EQ(tlb->counters(1).ipis_received, 0u);
  EXPECT_TRUE(a.cpumask.test(1));  // still in the mask: no IPI cleared it

  run(1, &a);
  EXPECT_EQ(cpus.cr3_on(1), std::vector<u64>{a.cr3() | 2});  // same PCID, bit 63 clear
  EXPECT_EQ(tlb->counters(1).asid_reuses, 1u);                // the slot was found...
  EXPECT_EQ(tlb->counters(1).cr3_noflush, 0u);                // ...but was out of date
  EXPECT_EQ(tlb->state(1).ctxs[1].tlb_gen, a.tlb_gen);
}

// native_flush_tlb_multi → on_each_cpu_cond_mask(should_flush_tlb): IPIs only to CPUs
// of mm_cpumask whose loaded_mm is the mm and that are not lazy; the initiator flushes
// itself (flush_tlb_func, partial: INVLPG).
TEST_F(X86TlbTest, ShouldFlushTlbIpisOnlyCpusWithTheMmLoaded) {
  boot(4);
  run(0, &a);
  run(1, &a);
  run(2, &a);
  run(2, &b);  // CPU 2 ran A, now runs B
  run(3, &b);  // CPU 3 never ran A
  EXPECT_EQ(a.cpumask, cpus_of({0, 1, 2}));
  cpus.forget();
  flush(0, a, 1);
  ASSERT_EQ(cpus.calls.size(), 1u);
  EXPECT_EQ(cpus.calls[0].targets, cpus_of({1}));
  EXPECT_EQ(cpus.invlpg_on(0), std::vector<u64>{kVa});
  EXPECT_EQ(cpus.invlpg_on(1), std::vector<u64>{kVa});
  EXPECT_TRUE(cpus.invlpg_on(2).empty());
  EXPECT_TRUE(cpus.invlpg_on(3).empty());
  EXPECT_TRUE(cpus.cr3s.empty());
  EXPECT_EQ(tlb->counters(0).ipis_sent, 1u);
  EXPECT_EQ(tlb->counters(0).shootdowns, 1u);
  EXPECT_EQ(tlb->counters(1).ipis_received, 1u);
  EXPECT_EQ(tlb->counters(2).ipis_received, 0u);
  EXPECT_EQ(a.cpumask, cpus_of({0, 1, 2}));  // no freed tables: nobody leaves the mask
}

// enter_lazy_tlb + should_flush_tlb ("Lazy TLB will get flushed at the next context
// switch"): no IPI; switch_mm_irqs_off back to the same mm compares the slot's tlb_gen
// with mm->tlb_gen and flushes the PCID because it moved on.
TEST_F(X86TlbTest, LazyTlbCpuSkipsFlushAndCatchesUpAtSwitchBack) {
  boot(2);
  run(0, &a);
  run(1, &a);
  tlb->enter_lazy_tlb(1);
  EXPECT_TRUE(tlb->state(1).is_lazy);
  cpus.forget();
  flush(0, a, 1);
  EXPECT_TRUE(cpus.calls.empty());
  EXPECT_EQ(tlb->counters(1).lazy_skips, 1u);
  EXPECT_TRUE(cpus.invlpg_on(1).empty());
  EXPECT_EQ(cpus.invlpg_on(0), std::vector<u64>{kVa});

  EXPECT_EQ(run(1, &a), cfg.core.cr3_write_cycles);
  EXPECT_EQ(cpus.cr3_on(1), std::vector<u64>{a.cr3() | 2});  // flushing, same PCID
  EXPECT_FALSE(tlb->state(1).is_lazy);
  EXPECT_EQ(tlb->state(1).ctxs[1].tlb_gen, a.tlb_gen);
}

// switch_mm_irqs_off: lazy, prev == next and ctxs[prev_asid].tlb_gen == next_tlb_gen:
// "If the TLB is up to date, just use it" — no CR3 write at all.
TEST_F(X86TlbTest, LazyTlbSwitchBackWithoutFlushWritesNoCr3) {
  boot(2);
  run(1, &a);
  tlb->enter_lazy_tlb(1);
  cpus.forget();
  EXPECT_EQ(run(1, &a), 0u);
  EXPECT_TRUE(cpus.cr3s.empty());
  EXPECT_FALSE(tlb->state(1).is_lazy);
  EXPECT_EQ(tlb->counters(1).cr3_writes, 1u);
}

// enter_lazy_tlb: "if (loaded_mm == &init_mm) return" — init_mm is never lazy.
TEST_F(X86TlbTest, EnterLazyTlbInInitMmDoesNothing) {
  boot(1);
  tlb->enter_lazy_tlb(0);
  EXPECT_FALSE(tlb->state(0).is_lazy);
}

// native_flush_tlb_multi with info->freed_tables: on_each_cpu_mask, so every CPU of
// mm_cpumask. In flush_tlb_func a lazy CPU does switch_mm_irqs_off(NULL, &init_mm)
// (its ASID 0 slot is still init_mm's: a non-flushing CR3 of PCID 1, address 0), and a
// CPU running another mm clears itself from mm_cpumask and touches nothing.
TEST_F(X86TlbTest, FreedTablesReachLazyCpusAndCpusRunningOtherMms) {
  boot(4);
  run(0, &a);
  run(1, &a);
  tlb->enter_lazy_tlb(1);
  run(2, &a);
  run(2, &b);
  run(3, &b);
  cpus.forget();
  flush(0, a, 1, /*freed_tables=*/true);
  ASSERT_EQ(cpus.calls.size(), 1u);
  EXPECT_EQ(cpus.calls[0].targets, cpus_of({1, 2}));

  ASSERT_EQ(cpus.cr3_on(1).size(), 1u);
  const u64 lazy_cr3 = cpus.cr3_on(1)[0];
  EXPECT_EQ(base_of(lazy_cr3), 0u);  // init_mm
  EXPECT_EQ(pcid_of(lazy_cr3), 1u);  // ASID 0
  EXPECT_TRUE(noflush(lazy_cr3));
  EXPECT_EQ(tlb->state(1).loaded_mm, nullptr);
  EXPECT_FALSE(tlb->state(1).is_lazy);
  EXPECT_TRUE(cpus.invlpg_on(1).empty());

  EXPECT_TRUE(cpus.cr3_on(2).empty());
  EXPECT_TRUE(cpus.invlpg_on(2).empty());
  EXPECT_EQ(tlb->state(2).loaded_mm, &b);
  EXPECT_TRUE(cpus.cr3_on(3).empty());
  EXPECT_EQ(cpus.invlpg_on(0), std::vector<u64>{kVa});
  // CPU 2 left; CPU 1 stays (switch_mm_irqs_off never clears mm_cpumask).
  EXPECT_EQ(a.cpumask, cpus_of({0, 1}));

  // Handlers: the lazy CPU's cost is its CR3 write, the other only the entry.
  const auto& h = cpus.calls[0].handled;
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].first, 1u);
  EXPECT_EQ(h[0].second.before_ack, cost().ipi_entry + cfg.core.cr3_write_cycles);
  EXPECT_EQ(h[1].first, 2u);
  EXPECT_EQ(h[1].second.before_ack, cost().ipi_entry);
  EXPECT_EQ(h[1].second.after_ack, cost().ipi_exit);

  // CPU 1's old slot for A is out of date: coming back flushes it.
  run(1, &a);
  EXPECT_EQ(cpus.cr3_on(1).back(), a.cr3() | 2);
}

// flush_tlb_mm_range with no other CPU in mm_cpumask calls flush_tlb_func locally
// whenever the mm is loaded here, lazily too; flush_tlb_func then leaves lazy mode
// for init_mm rather than flushing (a kswapd-like flush from a lazy CPU).
TEST_F(X86TlbTest, LocalFlushOnALazyCpuSwitchesItToInitMm) {
  boot(1);
  run(0, &a);
  tlb->enter_lazy_tlb(0);
  cpus.forget();
  flush(0, a, 1);
  EXPECT_TRUE(cpus.calls.empty());
  EXPECT_TRUE(cpus.invlpg_on(0).empty());
  ASSERT_EQ(cpus.cr3_on(0).size(), 1u);
  EXPECT_EQ(base_of(cpus.cr3_on(0)[0]), 0u);  // init_mm
  EXPECT_EQ(tlb->state(0).loaded_mm, nullptr);
}

// A freed-tables flush started on a CPU of the mask that runs another mm: on_each_cpu_mask
// includes the initiator, whose flush_tlb_func takes it out of mm_cpumask.
TEST_F(X86TlbTest, FreedTablesFlushFromACpuRunningAnotherMmLeavesTheMask) {
  boot(2);
  run(0, &a);
  run(0, &b);
  run(1, &a);
  cpus.forget();
  flush(0, a, 1, /*freed_tables=*/true);
  ASSERT_EQ(cpus.calls.size(), 1u);
  EXPECT_EQ(cpus.calls[0].targets, cpus_of({1}));
  EXPECT_TRUE(cpus.invlpg_on(0).empty());
  EXPECT_EQ(a.cpumask, cpus_of({1}));
}

// flush_tlb_func partial flush: (end - start) >> stride_shift ≤
// tlb_single_page_flush_ceiling (33) → flush_tlb_one_user per page, one IPI per target
// for the whole range (flush_tlb_mm_range sends one flush_tlb_info).
TEST_F(X86TlbTest, RangeOf10And33PagesIsInvlpgPerPageWithOneIpiPerTarget) {
  boot(3);
  for (unsigned c = 0; c < 3; ++c) run(c, &a);
  for (u64 pages : {10u, 33u}) {
    cpus.forget();
    flush(0, a, pages);
    ASSERT_EQ(cpus.calls.size(), 1u) << pages;
    EXPECT_EQ(cpus.calls[0].targets, cpus_of({1, 2}));
    for (unsigned c = 0; c < 3; ++c) EXPECT_EQ(cpus.invlpg_on(c), pages_from_kva(pages)) << pages << " cpu " << c;
    EXPECT_TRUE(cpus.cr3s.empty());
  }
  EXPECT_EQ(tlb->counters(0).ipis_sent, 4u);
  EXPECT_EQ(tlb->counters(1).local_page_flushes, 43u);
}

// get_flush_tlb_info: above tlb_single_page_flush_ceiling the range becomes
// TLB_FLUSH_ALL, and flush_tlb_func does flush_tlb_local: CR3 rewritten with its own
// value (a read of CR3 never has bit 63, so the rewrite flushes the PCID).
TEST_F(X86TlbTest, RangeOf34PagesFlushesWholePcidWithOneIpiPerTarget) {
  boot(3);
  for (unsigned c = 0; c < 3; ++c) run(c, &a);
  cpus.forget();
  flush(0, a, 34);
  ASSERT_EQ(cpus.calls.size(), 1u);
  EXPECT_EQ(cpus.calls[0].targets, cpus_of({1, 2}));
  EXPECT_TRUE(cpus.invlpgs.empty());
  for (unsigned c = 0; c < 3; ++c) {
    EXPECT_EQ(cpus.cr3_on(c), std::vector<u64>{a.cr3() | 2}) << "cpu " << c;
    EXPECT_EQ(tlb->counters(c).local_full_flushes, 1u);
  }
}

// flush_tlb_func steps by 1 << stride_shift: a 2 MiB-stride range INVLPGs once per
// huge page, and the ceiling counts strides, not 4 KiB pages.
TEST_F(X86TlbTest, RangeWithHugeStrideInvlpgsOncePerStride) {
  boot(1);
  run(0, &a);
  cpus.forget();
  Recorder r(cost());
  tlb->flush_tlb_mm_range(a, kVa, kVa + (4ull << 21), 21, false, r);
  const std::vector<u64> want{kVa, kVa + (1ull << 21), kVa + (2ull << 21), kVa + (3ull << 21)};
  EXPECT_EQ(cpus.invlpg_on(0), want);
  EXPECT_TRUE(cpus.cr3s.empty());
}

// The initiator's cycles (smp_call_function_many_cond: send, flush locally, wait):
// ipi_send × targets, tlb_flush_local × pages, then ipi_wait = ack − sends − local.
TEST_F(X86TlbTest, ShootdownCostStepsSumToTheAcknowledgement) {
  boot(3);
  for (unsigned c = 0; c < 3; ++c) run(c, &a);
  cpus.current = 0;
  cpus.ack = 9000;
  FaultRecord rec;
  Recorder r(cost(), &rec);
  r.charge(Step::pte_update);  // the fault's work before the flush
  tlb->flush_tlb_mm_range(a, kVa, kVa + 3 * kPageSize, kPageShift, false, r);

  const u64 sends = 2 * cost().ipi_send, local = 3 * cost().tlb_flush_local;
  ASSERT_EQ(rec.steps.size(), 4u);
  EXPECT_EQ(rec.steps[1].name, "ipi_send");
  EXPECT_EQ(rec.steps[1].cycles, sends);
  EXPECT_EQ(rec.steps[2].name, "tlb_flush_local");
  EXPECT_EQ(rec.steps[2].cycles, local);
  EXPECT_EQ(rec.steps[3].name, "ipi_wait");
  EXPECT_EQ(rec.steps[3].cycles, cpus.ack - sends - local);
  EXPECT_EQ(rec.total_cycles, cost().pte_update + cpus.ack);
  EXPECT_EQ(r.total(), rec.total_cycles);
  // The IPIs leave after what the operation already spent.
  ASSERT_EQ(cpus.calls.size(), 1u);
  EXPECT_EQ(cpus.calls[0].elapsed, cost().pte_update);
}

// ipi_wait is max(0, ...): acknowledgements that arrive while the initiator is still
// sending or flushing cost it nothing more (a zero step is not recorded).
TEST_F(X86TlbTest, ShootdownFasterThanSendsAndLocalFlushHasNoWait) {
  boot(3);
  for (unsigned c = 0; c < 3; ++c) run(c, &a);
  cpus.ack = 100;
  FaultRecord rec;
  flush(0, a, 1, false, &rec);
  ASSERT_EQ(rec.steps.size(), 2u);
  EXPECT_EQ(rec.steps[0].name, "ipi_send");
  EXPECT_EQ(rec.steps[1].name, "tlb_flush_local");
  EXPECT_EQ(rec.total_cycles, 2 * cost().ipi_send + cost().tlb_flush_local);
}

// flush_tlb_mm_range: cpumask_any_but(mm_cpumask(mm), cpu) finds nobody → local
// flush_tlb_func only: no IPI step at all.
TEST_F(X86TlbTest, FlushWithNoOtherCpuInMaskIsLocalOnly) {
  boot(4);
  run(0, &a);
  run(1, &b);
  cpus.ack = 9000;  // would show up as ipi_wait if an IPI were sent
  FaultRecord rec;
  flush(0, a, 1, false, &rec);
  EXPECT_TRUE(cpus.calls.empty());
  ASSERT_EQ(rec.steps.size(), 1u);
  EXPECT_EQ(rec.steps[0].name, "tlb_flush_local");
  EXPECT_EQ(rec.total_cycles, cost().tlb_flush_local);
  EXPECT_EQ(tlb->counters(0).shootdowns, 0u);
  EXPECT_EQ(tlb->counters(0).flushes_initiated, 1u);
}

// The IPI handler (flush_tlb_func on the target): acknowledged after interrupt entry
// plus its flush, the interrupt exit comes after the acknowledgement.
TEST_F(X86TlbTest, FlushTlbFuncHandlerReportsEntryPlusFlushBeforeAck) {
  boot(3);
  for (unsigned c = 0; c < 3; ++c) run(c, &a);
  flush(0, a, 5);
  flush(0, a, 34);
  ASSERT_EQ(cpus.calls.size(), 2u);
  for (const auto& call : cpus.calls) ASSERT_EQ(call.handled.size(), 2u);
  for (const auto& [cpu, h] : cpus.calls[0].handled) {  // 5 INVLPGs
    EXPECT_EQ(h.before_ack, cost().ipi_entry + 5 * cost().tlb_flush_local) << cpu;
    EXPECT_EQ(h.after_ack, cost().ipi_exit) << cpu;
  }
  for (const auto& [cpu, h] : cpus.calls[1].handled) {  // one CR3 reload
    EXPECT_EQ(h.before_ack, cost().ipi_entry + cost().tlb_flush_local) << cpu;
    EXPECT_EQ(h.after_ack, cost().ipi_exit) << cpu;
  }
  EXPECT_EQ(cpus.calls[0].handled[0].first, 1u);  // ascending order
  EXPECT_EQ(cpus.calls[0].handled[1].first, 2u);
}

}  // namespace
}  // namespace mmusim::kernel
