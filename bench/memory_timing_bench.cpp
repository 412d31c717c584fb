// Micro-benchmarks of the data-cache latency model on the default (Skylake-like)
// hierarchy: an L1D hit on the set's most recent way, an L1D hit elsewhere in the
// set, a working set served by the LLC, and a stream of DRAM misses.
#include <benchmark/benchmark.h>

#include <cstdint>

#include "config/config.hpp"
#include "hw/memory_timing.hpp"

using namespace mmusim;

namespace {
constexpr std::uint64_t kLine = 64;

hw::MemoryTiming warmed(std::uint64_t lines) {
  hw::MemoryTiming m{config::Config{}};
  for (std::uint64_t i = 0; i < lines; ++i) m.access(i * kLine, false, hw::Requester::PageWalk);
  return m;
}
}  // namespace

// The same PTE line again and again: the MRU-way fast path.
static void BM_L1dHitSameLine(benchmark::State& state) {
  hw::MemoryTiming m = warmed(1);
  std::uint64_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(m.access((i++ & 7) * 8, false, hw::Requester::PageWalk));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_L1dHitSameLine);

// 256 lines (16 KiB) in rotation: every access hits L1D, rarely on the MRU way.
static void BM_L1dHitRotating(benchmark::State& state) {
  hw::MemoryTiming m = warmed(256);
  std::uint64_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(m.access((i++ & 255) * kLine, false, hw::Requester::PageWalk));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_L1dHitRotating);

// 4 MiB (65536 lines) touched at a stride of 4 KiB + 64, as a walk's PTE lines spread
// over pages: more than L2 holds, less than the LLC, so after the first pass nearly
// every access is an LLC hit that refills L2 and L1D.
static void BM_LlcHits(benchmark::State& state) {
  hw::MemoryTiming m{config::Config{}};
  std::uint64_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m.access(((i++ * 4160) & ((4u << 20) - 1)), false, hw::Requester::PageWalk));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LlcHits);

// Every access a new line: a miss everywhere, three fills and their evictions.
static void BM_DramStream(benchmark::State& state) {
  hw::MemoryTiming m{config::Config{}};
  std::uint64_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m.access(i * kLine, (i & 3) == 0, hw::Requester::Data));
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DramStream);
