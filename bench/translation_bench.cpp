// Micro-benchmarks of the translation hot path: a TLB hit, the rights check that
// every hit runs, and a full 4-level walk over sparse memory.
#include <benchmark/benchmark.h>

#include "hw/sparse_memory.hpp"
#include "mmu/rights.hpp"
#include "mmu/walk.hpp"
#include "tlb/tlb_array.hpp"

using namespace mmusim;

static void BM_TlbHit(benchmark::State& state) {
  tlb::TlbArray t("l1d.4k", 64, 4);
  mmu::Translation tr;
  tr.rw = tr.us = true;
  for (std::uint64_t p = 0; p < 32; ++p) {
    tr.page_pa = 0x100000 + p * 4096;
    t.fill(p * 4096, 0, tr, false);
  }
  std::uint64_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(t.lookup((i++ & 31) * 4096 + 8, 0));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TlbHit);

static void BM_RightsCheck(benchmark::State& state) {
  mmu::Translation t;
  t.rw = t.us = t.dirty = true;
  mmu::Access a;
  a.type = mmu::AccessType::Write;
  a.user_mode = true;
  mmu::ControlRegs cr;
  cr.cpl = 3;
  cr.efer_nxe = true;
  for (auto _ : state) benchmark::DoNotOptimize(mmu::rights_violation(t, a, cr));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RightsCheck);

namespace {
struct Mem : mmu::PagingMemory {
  hw::SparseMemory m;
  mmu::u64 load64(mmu::u64 pa) override { return m.read64(pa); }
  bool cmpxchg64(mmu::u64 pa, mmu::u64 e, mmu::u64 d) override { return m.cmpxchg64(pa, e, d); }
};
}  // namespace

static void BM_Walk4Level(benchmark::State& state) {
  Mem mem;
  // PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000 -> PT 0x4000 -> page 0x5000, A/D preset.
  mem.m.write64(0x1000, 0x2027);
  mem.m.write64(0x2000, 0x3027);
  mem.m.write64(0x3000, 0x4027);
  mem.m.write64(0x4000, 0x5067);
  mmu::ControlRegs cr;
  cr.cr3 = 0x1000;
  mmu::Access a;
  a.la = 0x123;
  for (auto _ : state) benchmark::DoNotOptimize(mmu::walk(mem, a, cr));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Walk4Level);
