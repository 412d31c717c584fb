// Micro-benchmarks of the translation hot path: a TLB array hit, the rights check that
// every hit runs, a full 4-level walk over sparse memory (pure functions); then the
// SystemC modules: a tlb::Tlb level hit, and mmu::Mmu::translate on an L1 DTLB hit and
// on an STLB miss (a walk through the data-cache model). Each reports items/s.
//
// SystemC modules cannot be built after sc_start, and Google Benchmark calls each
// benchmark function several times in one process: every module is therefore built
// once, in one function-local static (Modules), before the single sc_start that ends
// elaboration. BM_TlbLevelHit and the Mmu benchmarks all go through it.
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "config/config.hpp"
#include "hw/memory_timing.hpp"
#include "hw/phys_mem.hpp"
#include "hw/sparse_memory.hpp"
#include "mmu/mmu.hpp"
#include "mmu/rights.hpp"
#include "mmu/walk.hpp"
#include "tlb/tlb.hpp"
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

// ---- SystemC modules ---------------------------------------------------------------

namespace {

namespace bit = mmu::bit;
constexpr mmu::u64 kTableFlags = bit::P | bit::RW | bit::US | bit::A;
constexpr mmu::u64 kLeafFlags = kTableFlags | bit::D;

// One MMU over sparse physical memory with the built-in (Skylake-like) configuration:
// data caches (mem.model=caches), STLB, paging-structure caches. Page tables map `gib`
// GiB from linear 512 GiB (PML4[1]) with 4 KiB pages, A (and D on leaves) preset so a
// read makes no A/D write: PML4 0x1000, PDPT 0x2000, PDs from 1 MiB, PTs from 16 MiB
// (contiguous), data page k at 4 GiB + 4 KiB·k. The layout of throughput_macro's
// stlb-miss pattern.
struct Machine {
  static constexpr mmu::u64 kLa = 1ull << 39;
  config::Config cfg;
  hw::SparseMemory store;
  hw::MemoryTiming timing;
  hw::PhysMem mem;
  mmu::Mmu mmu;
  mmu::ControlRegs cr;
  mmu::u64 pages;

  Machine(const char* name, mmu::u64 gib)
      : timing(cfg),
        mem((std::string(name) + "_mem").c_str(), store, sc_core::SC_ZERO_TIME, cfg.mem.maxphyaddr),
        mmu(name, cfg, sc_core::sc_time(1.0 / cfg.core.frequency_ghz, sc_core::SC_NS), timing),
        pages(gib << 18) {
    mmu.walker.socket.bind(mem.socket);
    store.write64(0x1000 + 8 * mmu::table_index(kLa, mmu::Level::PML4E), 0x2000 | kTableFlags);
    for (mmu::u64 i = 0; i < gib; ++i) store.write64(0x2000 + 8 * i, (0x100000 + 4096 * i) | kTableFlags);
    for (mmu::u64 i = 0; i < gib * 512; ++i) store.write64(0x100000 + 8 * i, (0x1000000 + 4096 * i) | kTableFlags);
    for (mmu::u64 i = 0; i < pages; ++i) store.write64(0x1000000 + 8 * i, ((1ull << 32) + 4096 * i) | kLeafFlags);
    cr.cr3 = 0x1000;
  }
  mmu::Translated read(mmu::u64 page, mmu::u64 offset = 8) {
    mmu::Access a;
    a.la = kLa + page * 4096 + offset;
    return mmu.translate(a, cr);
  }
};

// Every module the benchmarks use, elaborated once.
struct Modules {
  tlb::Tlb l1d;
  Machine hot;    // 1 GiB mapped; the L1-hit benchmark uses 32 of its pages
  Machine big;    // 8 GiB mapped: 2M pages, 1365 times the 1536-entry STLB
  Modules() : l1d("bench_l1d", config::Config{}.tlb.l1d, 1), hot("mmu_hot", 1), big("mmu_big", 8) {
    sc_core::sc_start(sc_core::SC_ZERO_TIME);  // ends elaboration: the sockets are bound
  }
};

Modules& modules() {
  static Modules m;
  return m;
}

}  // namespace

// A lookup hit in a split L1 DTLB level (Skylake: 64-entry 4-way 4K array, 2M and 1G
// arrays beside it), 32 resident 4 KiB pages.
static void BM_TlbLevelHit(benchmark::State& state) {
  tlb::Tlb& t = modules().l1d;
  mmu::Translation tr;
  tr.rw = tr.us = true;
  for (std::uint64_t p = 0; p < 32; ++p) {
    tr.page_pa = 0x100000 + p * 4096;
    t.fill(p * 4096, 0, tr, false);
  }
  std::uint64_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(t.lookup((i++ & 31) * 4096 + 8, 0));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TlbLevelHit);

// Mmu::translate of a read that hits the L1 DTLB (32 pages cycled): canonical check,
// lookup, rights check at use. No walk after the first pass.
static void BM_MmuTranslateL1Hit(benchmark::State& state) {
  Machine& m = modules().hot;
  for (mmu::u64 p = 0; p < 32; ++p) m.read(p);  // warm: 32 pages in the 64-entry L1 DTLB
  const auto before = m.mmu.l1d().stats();
  std::uint64_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(m.read(i++ & 31).pa);
  const auto& after = m.mmu.l1d().stats();
  state.counters["l1d_hit_pct"] =
      100.0 * static_cast<double>(after.hits - before.hits) / static_cast<double>(after.lookups - before.lookups);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MmuTranslateL1Hit);

// Mmu::translate of a read at a uniformly random page of 8 GiB: misses the L1 DTLB and
// the STLB almost always, so each item is both lookups, a PSC lookup, a walk (its
// entry loads through the L1D/L2/LLC model and DMI) and the fills. The random pages
// are drawn beforehand, so the generator is not measured.
static void BM_MmuTranslateStlbMiss(benchmark::State& state) {
  Machine& m = modules().big;
  std::vector<mmu::u64> order(1u << 20);
  std::uint64_t x = 0x9e3779b97f4a7c15ull;
  for (auto& p : order) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift64
    p = x % m.pages;
  }
  const auto l2_before = m.mmu.l2()->stats();
  const auto w_before = m.mmu.walker.stats().walks;
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m.read(order[i]).pa);
    i = (i + 1) & (order.size() - 1);
  }
  const auto& l2 = m.mmu.l2()->stats();
  state.counters["stlb_miss_pct"] =
      100.0 * static_cast<double>(l2.misses - l2_before.misses) / static_cast<double>(l2.lookups - l2_before.lookups);
  state.counters["walks_per_item"] =
      static_cast<double>(m.mmu.walker.stats().walks - w_before) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MmuTranslateStlbMiss);
