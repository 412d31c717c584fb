// Tests of traces::Generator: each kind's events exactly where they are fixed
// (seq, stride, fork-server, threads) and statistically where they are random
// (uniform, zipf), determinism per seed, the samplers on their own, the command line,
// `mmusim gen` read back as text, and single-CPU workloads run through the simulated
// machine and its kernel model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli_support.hpp"
#include "config/config.hpp"
#include "hw/event_source.hpp"
#include "hw/system.hpp"
#include "traces/generator.hpp"
#include "traces/reader.hpp"
#include "traces/text_reader.hpp"

namespace mmusim::traces {
namespace {

using u64 = std::uint64_t;
constexpr u64 kBase = 0x7f0000000000ull;

std::vector<Event> all(const GeneratorSpec& spec) {
  Generator g(spec);
  std::vector<Event> out;
  Event ev;
  while (g.next(ev)) out.push_back(ev);
  EXPECT_FALSE(g.next(ev)) << "stays at the end";
  EXPECT_EQ(out.size(), g.total_events());
  EXPECT_EQ(g.events(), out.size());
  return out;
}

GeneratorSpec spec_of(GeneratorKind k, u64 accesses, u64 footprint, u64 seed = 1) {
  GeneratorSpec s;
  s.kind = k;
  s.accesses = accesses;
  s.footprint = footprint;
  s.seed = seed;
  return s;
}

std::vector<u64> addrs(const std::vector<Event>& evs) {
  std::vector<u64> a;
  for (const Event& e : evs) a.push_back(e.addr);
  return a;
}

const GeneratorKind kAllKinds[] = {GeneratorKind::Seq,   GeneratorKind::Stride,     GeneratorKind::Uniform,
                                   GeneratorKind::Zipf,  GeneratorKind::Chase,      GeneratorKind::ForkServer,
                                   GeneratorKind::Threads};

// ---------------------------------------------------------------------------------
// Every kind

TEST(Generator, DeterministicPerSeed) {
  for (GeneratorKind k : kAllKinds) {
    SCOPED_TRACE(generator_kind_name(k));
    GeneratorSpec s = spec_of(k, 5000, 1 << 20, 42);
    s.workers = 3;
    s.cpus = 3;
    s.mprotect_every = 100;
    const auto a = all(s), b = all(s);
    ASSERT_EQ(a, b) << "same seed, same events";
    s.seed = 43;
    const auto c = all(s);
    EXPECT_NE(a, c) << "another seed, other events";
  }
}

TEST(Generator, AccessesInsideTheFootprintWithLineNumbers) {
  for (GeneratorKind k : {GeneratorKind::Seq, GeneratorKind::Stride, GeneratorKind::Uniform, GeneratorKind::Zipf,
                          GeneratorKind::Chase}) {
    for (u64 footprint : {8ull, 4100ull, 12345ull, 1ull << 20}) {
      if (k == GeneratorKind::Chase && footprint < 64) continue;
      SCOPED_TRACE(std::string(generator_kind_name(k)) + " footprint " + std::to_string(footprint));
      GeneratorSpec s = spec_of(k, 20000, footprint, 5);
      s.stride = k == GeneratorKind::Seq ? 24 : 0;
      const auto evs = all(s);
      ASSERT_EQ(evs.size(), 20000u);
      u64 writes = 0;
      for (std::size_t i = 0; i < evs.size(); ++i) {
        const Event& e = evs[i];
        ASSERT_EQ(e.line, i + 1);
        ASSERT_TRUE(e.op == Op::Read || e.op == Op::Write);
        ASSERT_EQ(e.size, 8u);
        ASSERT_FALSE(e.has_value);
        ASSERT_GE(e.addr, kBase);
        ASSERT_LE(e.addr + e.size, kBase + footprint) << "event " << i;
        writes += e.op == Op::Write;
      }
      EXPECT_NEAR(static_cast<double>(writes) / 20000.0, 0.25, 0.02);
    }
  }
}

TEST(Generator, WriteFractionEnds) {
  GeneratorSpec s = spec_of(GeneratorKind::Uniform, 1000, 1 << 16);
  s.write_fraction = 0;
  for (const Event& e : all(s)) ASSERT_EQ(e.op, Op::Read);
  s.write_fraction = 1;
  for (const Event& e : all(s)) ASSERT_EQ(e.op, Op::Write);
}

TEST(Generator, BaseMovesEverything) {
  GeneratorSpec s = spec_of(GeneratorKind::Uniform, 1000, 1 << 16);
  s.base = 0x10000000;
  for (const Event& e : all(s)) {
    ASSERT_GE(e.addr, 0x10000000u);
    ASSERT_LE(e.addr + 8, 0x10000000u + (1 << 16));
  }
}

// ---------------------------------------------------------------------------------
// seq and stride

TEST(Generator, SeqSweepsAndWraps) {
  const auto evs = all(spec_of(GeneratorKind::Seq, 20, 64));
  std::vector<u64> expect;
  for (u64 i = 0; i < 20; ++i) expect.push_back(kBase + (i % 8) * 8);
  EXPECT_EQ(addrs(evs), expect);
}

TEST(Generator, SeqWithAStrideThatDoesNotDivideStartsAgainAtBase) {
  GeneratorSpec s = spec_of(GeneratorKind::Seq, 7, 64);
  s.stride = 24;  // 0, 24, 48; 72 would pass the end
  EXPECT_EQ(addrs(all(s)), (std::vector<u64>{kBase, kBase + 24, kBase + 48, kBase, kBase + 24, kBase + 48, kBase}));
  s.stride = 28;  // 0, 28, 56 (56 + 8 = 64 fits)
  EXPECT_EQ(addrs(all(s)), (std::vector<u64>{kBase, kBase + 28, kBase + 56, kBase, kBase + 28, kBase + 56, kBase}));
}

TEST(Generator, StrideDefaultsToOnePerPage) {
  const auto evs = all(spec_of(GeneratorKind::Stride, 9, 16 << 10));
  EXPECT_EQ(addrs(evs), (std::vector<u64>{kBase, kBase + 4096, kBase + 8192, kBase + 12288, kBase, kBase + 4096,
                                          kBase + 8192, kBase + 12288, kBase}));
  GeneratorSpec s = spec_of(GeneratorKind::Stride, 4, 1 << 20);
  s.stride = 64 << 10;
  EXPECT_EQ(addrs(all(s)), (std::vector<u64>{kBase, kBase + (64 << 10), kBase + (128 << 10), kBase + (192 << 10)}));
}

// ---------------------------------------------------------------------------------
// uniform

// 256 pages, 1000 accesses expected in each: Pearson's chi-square with 255 degrees of
// freedom has mean 255 and standard deviation 22.6; 6 sigma above is a broken sampler.
// Offsets within pages: the 512 slots are as even.
TEST(Generator, UniformCoversPagesEvenly) {
  const auto evs = all(spec_of(GeneratorKind::Uniform, 256000, 256 * 4096, 9));
  std::vector<u64> pages(256), slots(512);
  for (const Event& e : evs) {
    ASSERT_EQ(e.addr % 8, 0u) << "aligned";
    ++pages[(e.addr - kBase) / 4096];
    ++slots[(e.addr % 4096) / 8];
  }
  auto chi2 = [](const std::vector<u64>& counts, double expected) {
    double c = 0;
    for (u64 n : counts) c += (static_cast<double>(n) - expected) * (static_cast<double>(n) - expected) / expected;
    return c;
  };
  EXPECT_LT(chi2(pages, 1000.0), 255 + 6 * 22.6);
  EXPECT_LT(chi2(slots, 500.0), 511 + 6 * 32.0);
  EXPECT_GT(*std::min_element(pages.begin(), pages.end()), 800u);
}

// ---------------------------------------------------------------------------------
// zipf

double harmonic(u64 n, double s) {
  double h = 0;
  for (u64 k = n; k >= 1; --k) h += std::pow(static_cast<double>(k), -s);
  return h;
}

// The sampler alone against the exact distribution, for several exponents (1.0 takes
// the s -> 1 limits of the helpers): chi-square over all 1000 ranks (999 degrees of
// freedom: mean 999, sd 44.7) below 6 sd above the mean.
TEST(ZipfSampler, MatchesTheDistribution) {
  constexpr u64 kN = 1000, kDraws = 1'000'000;
  for (double s : {0.0, 0.5, 0.99, 1.0, 1.2, 2.0}) {
    SCOPED_TRACE("s = " + std::to_string(s));
    ZipfSampler z(kN, s);
    u64 state = 12345;
    auto unit = [&] {
      state += 0x9e3779b97f4a7c15ull;
      u64 x = state;
      x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
      x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
      x ^= x >> 31;
      return static_cast<double>(x >> 11) * 0x1.0p-53;
    };
    std::vector<u64> counts(kN + 1);
    for (u64 i = 0; i < kDraws; ++i) {
      const u64 k = z.sample(unit);
      ASSERT_GE(k, 1u);
      ASSERT_LE(k, kN);
      ++counts[k];
    }
    const double h = harmonic(kN, s);
    double chi2 = 0;
    for (u64 k = 1; k <= kN; ++k) {
      const double e = kDraws * std::pow(static_cast<double>(k), -s) / h;
      chi2 += (counts[k] - e) * (counts[k] - e) / e;
    }
    EXPECT_LT(chi2, 999 + 6 * 44.7);
  }
}

TEST(ZipfSampler, LargeDomainsNeedNoTable) {
  // 2^28 pages (1 TiB of 4 KiB pages), s = 0.99: rank 1's share is 1 / H(2^28, 0.99).
  constexpr u64 kN = 1ull << 28;
  ZipfSampler z(kN, 0.99);
  u64 state = 99, ones = 0, max = 0;
  auto unit = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<double>(state >> 11) * 0x1.0p-53;
  };
  constexpr u64 kDraws = 400000;
  for (u64 i = 0; i < kDraws; ++i) {
    const u64 k = z.sample(unit);
    ASSERT_LE(k, kN);
    ones += k == 1;
    max = std::max(max, k);
  }
  // H(n, s) by Euler-Maclaurin from its first 10^6 terms.
  const double m = 1e6, s = 0.99;
  const double h = harmonic(1000000, s) + (std::pow(static_cast<double>(kN), 1 - s) - std::pow(m, 1 - s)) / (1 - s) +
                   0.5 * (std::pow(static_cast<double>(kN), -s) - std::pow(m, -s));
  EXPECT_NEAR(static_cast<double>(ones) / kDraws, 1 / h, 0.003);
  EXPECT_GT(max, kN / 16) << "the tail is reached";
}

// Through the generator: pages ranked by address. s = 0.99 over 1000 pages: the top
// page's share is 1 / H(1000, 0.99) = 0.1294; the top ranks come in order, and the
// frequencies fall over the whole range.
TEST(Generator, ZipfPageFrequenciesFollowTheRanks) {
  GeneratorSpec s = spec_of(GeneratorKind::Zipf, 1'000'000, 1000 * 4096, 3);
  const auto evs = all(s);
  std::vector<double> freq(1000);
  for (const Event& e : evs) freq[(e.addr - kBase) / 4096] += 1.0 / static_cast<double>(evs.size());
  const double top = 1 / harmonic(1000, 0.99);
  EXPECT_NEAR(top, 0.1294, 0.0001);
  EXPECT_NEAR(freq[0], top, 0.003);
  for (int k = 1; k <= 10; ++k) {
    EXPECT_NEAR(freq[k - 1], top * std::pow(k, -0.99), 0.002) << "rank " << k;
    if (k > 1) {
      EXPECT_LT(freq[k - 1], freq[k - 2]) << "rank " << k;
    }
  }
  // Mean frequency by blocks of 100 ranks decreases.
  double prev = 1;
  for (int b = 0; b < 10; ++b) {
    double sum = 0;
    for (int k = b * 100; k < (b + 1) * 100; ++k) sum += freq[k];
    EXPECT_LT(sum, prev) << "block " << b;
    prev = sum;
  }
}

TEST(Generator, ZipfScrambledKeepsTheShares) {
  GeneratorSpec s = spec_of(GeneratorKind::Zipf, 200000, 1000 * 4096, 3);
  s.scramble = true;
  std::map<u64, u64> counts;
  for (const Event& e : all(s)) ++counts[(e.addr - kBase) / 4096];
  std::vector<u64> sorted;
  for (const auto& [page, n] : counts) sorted.push_back(n);
  std::sort(sorted.rbegin(), sorted.rend());
  EXPECT_NEAR(static_cast<double>(sorted[0]) / 200000, 1 / harmonic(1000, 0.99), 0.005);
  EXPECT_NE(counts.begin()->second, sorted[0]) << "the hottest page is not the first (almost surely)";
}

// ---------------------------------------------------------------------------------
// chase and the permutation

TEST(FeistelPermutation, IsABijection) {
  for (u64 n : {1ull, 2ull, 3ull, 5ull, 16ull, 17ull, 1000ull, 4097ull, 65536ull}) {
    FeistelPermutation p(n, n * 7 + 1);
    std::vector<bool> seen(n);
    for (u64 i = 0; i < n; ++i) {
      const u64 v = p(i);
      ASSERT_LT(v, n);
      ASSERT_FALSE(seen[v]) << "n = " << n << ": " << v << " twice";
      seen[v] = true;
    }
  }
}

TEST(Generator, ChaseVisitsEveryLineOncePerCycle) {
  constexpr u64 kLines = 1024;  // 64 KiB of 64-byte lines
  const auto evs = all(spec_of(GeneratorKind::Chase, 3 * kLines, kLines * 64, 8));
  std::vector<u64> order;
  for (const Event& e : evs) {
    ASSERT_EQ((e.addr - kBase) % 64, 0u);
    order.push_back((e.addr - kBase) / 64);
  }
  for (u64 cycle = 0; cycle < 3; ++cycle) {
    std::set<u64> lines(order.begin() + cycle * kLines, order.begin() + (cycle + 1) * kLines);
    EXPECT_EQ(lines.size(), kLines) << "cycle " << cycle;
    EXPECT_EQ(*lines.rbegin(), kLines - 1);
  }
  EXPECT_TRUE(std::equal(order.begin(), order.begin() + kLines, order.begin() + kLines)) << "the same cycle again";
  // Not a sweep: few successors are the next line.
  u64 adjacent = 0;
  for (u64 i = 1; i < kLines; ++i) adjacent += order[i] == order[i - 1] + 1;
  EXPECT_LT(adjacent, 10u);
}

TEST(Generator, ChaseByPages) {
  GeneratorSpec s = spec_of(GeneratorKind::Chase, 100, 100 * 4096, 2);
  s.stride = 4096;
  std::set<u64> pages;
  for (const Event& e : all(s)) {
    ASSERT_EQ((e.addr - kBase) % 4096, 0u);
    pages.insert((e.addr - kBase) / 4096);
  }
  EXPECT_EQ(pages.size(), 100u);
}

// ---------------------------------------------------------------------------------
// fork-server

TEST(Generator, ForkServerSequence) {
  GeneratorSpec s;
  s.kind = GeneratorKind::ForkServer;
  s.footprint = 4 * 4096;
  s.workers = 2;
  s.write_fraction = 0.5;
  s.seed = 7;
  const auto evs = all(s);
  ASSERT_EQ(evs.size(), 2 + 4 + 2 * (4 + 2u));
  for (std::size_t i = 0; i < evs.size(); ++i) EXPECT_EQ(evs[i].line, i + 1);

  std::size_t i = 0;
  const Event& spawn = evs[i++];
  EXPECT_EQ(spawn.op, Op::Spawn);
  EXPECT_EQ(spawn.pid, 1u);
  EXPECT_TRUE(spawn.automap);
  EXPECT_EQ(spawn.name, "fork-server");
  const Event& mmap = evs[i++];
  EXPECT_EQ(mmap.op, Op::Mmap);
  EXPECT_EQ(mmap.pid, 1u);
  EXPECT_EQ(mmap.addr, kBase);
  EXPECT_EQ(mmap.size, 4 * 4096u);
  EXPECT_EQ(mmap.prot, (Prot{.read = true, .write = true}));
  EXPECT_FALSE(mmap.shared || mmap.populate || mmap.huge || mmap.fixed);
  EXPECT_TRUE(mmap.file.empty());
  EXPECT_EQ(mmap.name, "heap");
  for (u64 p = 0; p < 4; ++p, ++i) {
    EXPECT_EQ(evs[i].op, Op::Write);
    EXPECT_EQ(evs[i].addr, kBase + p * 4096);
    EXPECT_EQ(evs[i].size, 8u);
  }
  for (std::uint32_t child : {2u, 3u}) {
    SCOPED_TRACE("worker " + std::to_string(child));
    EXPECT_EQ(evs[i].op, Op::Fork);
    EXPECT_EQ(evs[i].pid, 1u);
    EXPECT_EQ(evs[i].pid2, child);
    ++i;
    EXPECT_EQ(evs[i].op, Op::Switch);
    EXPECT_EQ(evs[i].pid, child);
    ++i;
    std::set<u64> pages;
    for (int w = 0; w < 2; ++w, ++i) {
      EXPECT_EQ(evs[i].op, Op::Write);
      EXPECT_EQ(evs[i].size, 8u);
      EXPECT_EQ(evs[i].addr % 8, 0u);
      EXPECT_GE(evs[i].addr, kBase);
      EXPECT_LE(evs[i].addr + 8, kBase + 4 * 4096);
      pages.insert((evs[i].addr - kBase) / 4096);
    }
    EXPECT_EQ(pages.size(), 2u) << "distinct pages";
    EXPECT_EQ(evs[i].op, Op::Exit);
    EXPECT_EQ(evs[i].pid, child);
    ++i;
    EXPECT_EQ(evs[i].op, Op::Switch);
    EXPECT_EQ(evs[i].pid, 1u);
    ++i;
  }
  EXPECT_EQ(i, evs.size());
}

TEST(Generator, ForkServerWorkersWriteInsideTheHeap) {
  GeneratorSpec s;
  s.kind = GeneratorKind::ForkServer;
  s.footprint = 1000 * 4096 + 100;  // rounded up to 1001 pages for the mmap
  s.workers = 20;
  s.write_fraction = 0.3;
  const auto evs = all(s);
  ASSERT_EQ(evs[1].size, 1001 * 4096u);
  std::uint32_t current = 1;
  std::set<u64> pages;
  u64 workers = 0;
  std::set<u64> first_pages;
  for (std::size_t i = 2 + 1001; i < evs.size(); ++i) {
    const Event& e = evs[i];
    if (e.op == Op::Switch) {
      current = e.pid;
      if (current != 1) {
        pages.clear();
        ++workers;
      } else {
        EXPECT_EQ(pages.size(), 300u) << "round(0.3 * 1001) distinct pages";
      }
    } else if (e.op == Op::Write) {
      ASSERT_NE(current, 1u) << "the parent only forks";
      ASSERT_GE(e.addr, kBase);
      ASSERT_LE(e.addr + 8, kBase + s.footprint);
      if (pages.empty()) first_pages.insert(e.addr / 4096);
      ASSERT_TRUE(pages.insert(e.addr / 4096).second) << "a page written twice by one worker";
    }
  }
  EXPECT_EQ(workers, 20u);
  EXPECT_GT(first_pages.size(), 10u) << "each worker picks its own pages";
}

TEST(Generator, ForkServerWithoutWorkers) {
  GeneratorSpec s;
  s.kind = GeneratorKind::ForkServer;
  s.footprint = 3 * 4096;
  s.workers = 0;
  const auto evs = all(s);
  ASSERT_EQ(evs.size(), 5u);
  EXPECT_EQ(evs.back().op, Op::Write);
}

// ---------------------------------------------------------------------------------
// threads

GeneratorSpec threads_spec(u64 cpus, u64 burst, u64 accesses, u64 footprint, u64 mprotect_every = 0) {
  GeneratorSpec s = spec_of(GeneratorKind::Threads, accesses, footprint, 11);
  s.cpus = cpus;
  s.burst = burst;
  s.mprotect_every = mprotect_every;
  return s;
}

bool is_access(const Event& e) { return e.op == Op::Read || e.op == Op::Write; }

// spawn, mmap, thread 1 2, thread 1 3, (cpu c, switch T) for each CPU; then bursts of
// 2 accesses on CPUs 0, 1, 2, 0, each after its `cpu` line, the last one short.
TEST(Generator, ThreadsSequence) {
  const auto evs = all(threads_spec(3, 2, 7, 3 * 4096 + 100));
  ASSERT_EQ(evs.size(), 2 + 2 + 2 * 3 + 7 + 4u);
  for (std::size_t i = 0; i < evs.size(); ++i) EXPECT_EQ(evs[i].line, i + 1);

  std::size_t i = 0;
  const Event& spawn = evs[i++];
  EXPECT_EQ(spawn.op, Op::Spawn);
  EXPECT_EQ(spawn.pid, 1u);
  EXPECT_FALSE(spawn.automap) << "every access is inside the heap";
  EXPECT_EQ(spawn.name, "threads");
  const Event& mmap = evs[i++];
  EXPECT_EQ(mmap.op, Op::Mmap);
  EXPECT_EQ(mmap.pid, 1u);
  EXPECT_EQ(mmap.addr, kBase);
  EXPECT_EQ(mmap.size, 4 * 4096u) << "the footprint rounded up to pages";
  EXPECT_EQ(mmap.prot, (Prot{.read = true, .write = true}));
  EXPECT_FALSE(mmap.shared || mmap.populate || mmap.huge || mmap.fixed);
  EXPECT_TRUE(mmap.file.empty());
  EXPECT_EQ(mmap.name, "heap");
  for (std::uint32_t tid : {2u, 3u}) {
    EXPECT_EQ(evs[i].op, Op::Thread);
    EXPECT_EQ(evs[i].pid, 1u);
    EXPECT_EQ(evs[i].pid2, tid);
    ++i;
  }
  for (std::uint32_t cpu : {0u, 1u, 2u}) {
    SCOPED_TRACE("cpu " + std::to_string(cpu));
    EXPECT_EQ(evs[i].op, Op::Cpu);
    EXPECT_EQ(evs[i].pid, cpu);
    ++i;
    EXPECT_EQ(evs[i].op, Op::Switch);
    EXPECT_EQ(evs[i].pid, cpu + 1) << "thread T runs on CPU T-1; the process's own thread on CPU 0";
    ++i;
  }
  for (std::uint32_t cpu : {0u, 1u, 2u, 0u}) {
    SCOPED_TRACE("burst on cpu " + std::to_string(cpu));
    EXPECT_EQ(evs[i].op, Op::Cpu);
    EXPECT_EQ(evs[i].pid, cpu);
    ++i;
    for (int a = 0; a < 2 && i < evs.size(); ++a, ++i) {
      ASSERT_TRUE(is_access(evs[i])) << "event " << i;
      EXPECT_EQ(evs[i].size, 8u);
      EXPECT_FALSE(evs[i].has_value);
      EXPECT_EQ(evs[i].addr % 8, 0u);
      EXPECT_GE(evs[i].addr, kBase);
      EXPECT_LE(evs[i].addr + 8, kBase + 4 * 4096);
    }
  }
  EXPECT_EQ(i, evs.size());
}

// One CPU: the set-up is `cpu 0; switch 1`, and no `cpu` line comes after it.
TEST(Generator, ThreadsOnOneCpu) {
  const auto evs = all(threads_spec(1, 4, 50, 8 * 4096));
  ASSERT_EQ(evs.size(), 2 + 2 + 50u);
  EXPECT_EQ(evs[0].op, Op::Spawn);
  EXPECT_EQ(evs[1].op, Op::Mmap);
  EXPECT_EQ(evs[2].op, Op::Cpu);
  EXPECT_EQ(evs[2].pid, 0u);
  EXPECT_EQ(evs[3].op, Op::Switch);
  EXPECT_EQ(evs[3].pid, 1u);
  for (std::size_t i = 4; i < evs.size(); ++i) ASSERT_TRUE(is_access(evs[i])) << "event " << i;
}

// Past the set-up, accesses come in bursts of --burst on the CPUs in turn (the last
// burst short), a `cpu` line only where the CPU changes, and they add up to --accesses.
TEST(Generator, ThreadsBurstsGoRoundTheCpus) {
  struct Case {
    u64 cpus, burst, accesses;
  };
  for (const Case& c : {Case{4, 64, 1000}, Case{2, 1, 101}, Case{5, 7, 35}, Case{64, 3, 1000}, Case{3, 1000, 10},
                        Case{2, 5, 0}}) {
    SCOPED_TRACE("cpus " + std::to_string(c.cpus) + " burst " + std::to_string(c.burst) + " accesses " +
                 std::to_string(c.accesses));
    const auto evs = all(threads_spec(c.cpus, c.burst, c.accesses, 64 * 4096 + 8));
    const std::size_t setup = 2 + (c.cpus - 1) + 2 * c.cpus;
    ASSERT_GE(evs.size(), setup);
    ASSERT_EQ(evs[setup - 2].op, Op::Cpu);
    std::uint32_t current = evs[setup - 2].pid;
    ASSERT_EQ(current, c.cpus - 1) << "the set-up ends on the last CPU";
    std::vector<u64> per_cpu(c.cpus), bursts;
    std::vector<std::uint32_t> order;
    u64 writes = 0;
    for (std::size_t i = setup; i < evs.size(); ++i) {
      const Event& e = evs[i];
      if (e.op == Op::Cpu) {
        ASSERT_NE(e.pid, current) << "event " << i << ": a cpu line that changes nothing";
        ASSERT_LT(e.pid, c.cpus);
        current = e.pid;
        order.push_back(current);
        bursts.push_back(0);
        continue;
      }
      ASSERT_TRUE(is_access(e)) << "event " << i;
      ASSERT_EQ(e.addr % 8, 0u);
      ASSERT_GE(e.addr, kBase);
      ASSERT_LE(e.addr + 8, kBase + 65 * 4096) << "inside the heap, all of its pages";
      if (c.cpus > 1) {
        ASSERT_FALSE(bursts.empty()) << "the first burst announces CPU 0";
        ++bursts.back();
      }
      ++per_cpu[current];
      writes += e.op == Op::Write;
    }
    u64 sum = 0;
    for (u64 n : per_cpu) sum += n;
    EXPECT_EQ(sum, c.accesses);
    if (c.accesses == 0) {
      EXPECT_EQ(evs.size(), setup) << "no burst, no cpu line";
      continue;
    }
    ASSERT_EQ(bursts.size(), (c.accesses + c.burst - 1) / c.burst);
    for (std::size_t b = 0; b < bursts.size(); ++b) {
      EXPECT_EQ(order[b], b % c.cpus) << "burst " << b;
      if (b + 1 < bursts.size()) {
        EXPECT_EQ(bursts[b], c.burst) << "burst " << b;
      } else {
        EXPECT_EQ(bursts[b], c.accesses - b * c.burst) << "the last burst has what is left";
      }
    }
    if (c.accesses >= 1000) {
      EXPECT_NEAR(static_cast<double>(writes) / static_cast<double>(c.accesses), 0.25, 0.05);
    }
  }
}

// After every --mprotect-every accesses (the last one included): mprotect r-- then
// rw- of one page of the heap, right after the access, before the next burst's cpu line.
TEST(Generator, ThreadsMprotectPairs) {
  constexpr u64 kEvery = 7, kAccesses = 700, kPages = 16;
  const auto evs = all(threads_spec(3, 5, kAccesses, kPages * 4096, kEvery));
  u64 accesses = 0, pairs = 0;
  std::set<u64> pages;
  for (std::size_t i = 0; i < evs.size(); ++i) {
    const Event& e = evs[i];
    if (is_access(e)) {
      ++accesses;
      if (accesses % kEvery == 0) {
        ASSERT_LT(i + 2, evs.size()) << "access " << accesses << " is followed by a pair";
        const Event& ro = evs[i + 1];
        const Event& rw = evs[i + 2];
        ASSERT_EQ(ro.op, Op::Mprotect) << "after access " << accesses;
        ASSERT_EQ(rw.op, Op::Mprotect) << "after access " << accesses;
        EXPECT_EQ(ro.pid, 1u);
        EXPECT_EQ(rw.pid, 1u);
        EXPECT_EQ(ro.prot, (Prot{.read = true}));
        EXPECT_EQ(rw.prot, (Prot{.read = true, .write = true}));
        EXPECT_EQ(ro.size, 4096u);
        EXPECT_EQ(rw.size, 4096u);
        EXPECT_EQ(ro.addr, rw.addr) << "the same page, back to what it was";
        EXPECT_EQ(ro.addr % 4096, 0u);
        EXPECT_GE(ro.addr, kBase);
        EXPECT_LT(ro.addr, kBase + kPages * 4096);
        pages.insert(ro.addr);
        ++pairs;
        i += 2;
      }
    } else {
      ASSERT_NE(e.op, Op::Mprotect) << "event " << i << ": an mprotect not after an N-th access";
    }
  }
  EXPECT_EQ(accesses, kAccesses);
  EXPECT_EQ(pairs, kAccesses / kEvery);
  EXPECT_GT(pages.size(), kPages / 2) << "pages drawn at random, not always the same";
  EXPECT_EQ(evs.back().op, Op::Mprotect) << "700 = 100 * 7: a pair after the last access too";
}

TEST(Generator, ThreadsDeterministicPerSeed) {
  GeneratorSpec s = threads_spec(4, 16, 3000, 1 << 20, 50);
  const auto a = all(s), b = all(s);
  ASSERT_EQ(a, b) << "same seed, same events";
  s.seed = 12;
  const auto c = all(s);
  ASSERT_EQ(a.size(), c.size()) << "the layout does not depend on the seed";
  EXPECT_NE(a, c) << "another seed, other addresses";
  for (std::size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i].op == Op::Cpu, c[i].op == Op::Cpu) << "event " << i;
}

// ---------------------------------------------------------------------------------
// Through the simulator

// The workload as the simulator runs it: every event accepted by the kernel model,
// one demand fault per heap page, then one copy-on-write fault per worker write.
class GeneratorSource : public hw::EventSource {
 public:
  explicit GeneratorSource(const GeneratorSpec& s) : g_(s) {}
  bool next(Event& ev) override { return g_.next(ev); }
  const std::string& name() const override { return g_.name(); }

 private:
  Generator g_;
};

TEST(GeneratorSimulated, ForkServerRunsInTheKernelModel) {
  GeneratorSpec s;
  s.kind = GeneratorKind::ForkServer;
  s.footprint = 64 * 4096;
  s.workers = 3;
  s.write_fraction = 0.25;
  config::Config cfg;
  config::validate(cfg);
  GeneratorSource src(s);
  hw::quiet_systemc();
  hw::RunOptions opts;
  opts.check = true;  // the kernel's invariant checker after every event
  hw::System sys(cfg, src, opts);
  sys.run();
  ASSERT_FALSE(sys.error()) << *sys.error();
  const stats::RunStats st = sys.stats();
  EXPECT_EQ(st.events, 2 + 64 + 3 * (4 + 16u));
  EXPECT_EQ(st.writes, 64 + 3 * 16u);
  EXPECT_EQ(st.page_faults, 64 + 3 * 16u) << "64 demand-zero faults, then 16 COW faults per worker";
}

// One CPU only: a multi-core machine is not simulated yet. The set-up, the heap and
// the mprotect pairs are accepted by the kernel model and its checker; each heap page
// faults in once, on its first access (the pairs go back to rw-, so a later write does
// not fault).
TEST(GeneratorSimulated, ThreadsOnOneCpuRunInTheKernelModel) {
  GeneratorSpec s = threads_spec(1, 64, 2000, 32 * 4096, 100);
  config::Config cfg;
  config::validate(cfg);
  GeneratorSource src(s);
  hw::quiet_systemc();
  hw::RunOptions opts;
  opts.check = true;
  hw::System sys(cfg, src, opts);
  sys.run();
  ASSERT_FALSE(sys.error()) << *sys.error();
  const stats::RunStats st = sys.stats();
  EXPECT_EQ(st.events, 4 + 2000 + 2 * 20u);
  EXPECT_EQ(st.reads + st.writes, 2000u);
}

// ---------------------------------------------------------------------------------
// The command line

TEST(GeneratorParse, ReadsEveryOption) {
  GeneratorSpec s = Generator::parse({"uniform", "--accesses", "1000000", "--footprint", "1G", "--seed", "7"});
  EXPECT_EQ(s.kind, GeneratorKind::Uniform);
  EXPECT_EQ(s.accesses, 1000000u);
  EXPECT_EQ(s.footprint, 1ull << 30);
  EXPECT_EQ(s.seed, 7u);

  s = Generator::parse({"--footprint=64K", "zipf", "--zipf-exponent", "1.2", "--write-fraction=0", "--scramble",
                        "--base", "0x10000000", "--accesses", "0x10"});
  EXPECT_EQ(s.kind, GeneratorKind::Zipf);
  EXPECT_EQ(s.footprint, 64u << 10);
  EXPECT_EQ(s.zipf_exponent, 1.2);
  EXPECT_EQ(s.write_fraction, 0.0);
  EXPECT_TRUE(s.scramble);
  EXPECT_EQ(s.base, 0x10000000u);
  EXPECT_EQ(s.accesses, 16u);

  s = Generator::parse({"fork-server", "--workers", "8", "--footprint", "2M", "--write-fraction", "0.5"});
  EXPECT_EQ(s.kind, GeneratorKind::ForkServer);
  EXPECT_EQ(s.workers, 8u);
  EXPECT_EQ(s.footprint, 2u << 20);
  EXPECT_EQ(s.write_fraction, 0.5);

  EXPECT_EQ(Generator::parse({"chase", "--stride", "4K"}).effective_stride(), 4096u);
  EXPECT_EQ(Generator::parse({"chase"}).effective_stride(), 64u);
  EXPECT_EQ(Generator::parse({"seq"}).effective_stride(), 8u);
  EXPECT_EQ(Generator::parse({"stride"}).effective_stride(), 4096u);
  EXPECT_EQ(Generator::parse({"zipf", "--exponent", "2"}).zipf_exponent, 2.0);
  s = Generator::parse({"threads", "--cpus", "8", "--burst=16", "--mprotect-every", "1000", "--accesses", "5000",
                        "--footprint", "1M", "--write-fraction", "0.5", "--base", "0x10000000"});
  EXPECT_EQ(s.kind, GeneratorKind::Threads);
  EXPECT_EQ(s.cpus, 8u);
  EXPECT_EQ(s.burst, 16u);
  EXPECT_EQ(s.mprotect_every, 1000u);
  EXPECT_EQ(s.accesses, 5000u);
  EXPECT_EQ(s.footprint, 1u << 20);
  EXPECT_EQ(s.write_fraction, 0.5);
  EXPECT_EQ(s.base, 0x10000000u);
  s = Generator::parse({"threads"});
  EXPECT_EQ(s.cpus, 2u);
  EXPECT_EQ(s.burst, 64u);
  EXPECT_EQ(s.mprotect_every, 0u);
  EXPECT_EQ(Generator::parse({"threads", "--cpus", "64", "--burst", "1"}).cpus, 64u);

  for (GeneratorKind k : kAllKinds) EXPECT_EQ(Generator::parse({generator_kind_name(k)}).kind, k);
}

// Each bad command line is refused with a message that names the argument at fault.
TEST(GeneratorParse, ErrorsNameTheArgument) {
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> mentions;
  };
  const std::vector<Case> cases = {
      {{}, {"missing the kind", "uniform"}},
      {{"--seed", "3"}, {"missing the kind"}},
      {{"unifrom"}, {"unknown kind 'unifrom'", "fork-server", "threads"}},
      {{"uniform", "zipf"}, {"unexpected argument 'zipf'"}},
      {{"uniform", "--acceses", "5"}, {"unknown option '--acceses'"}},
      {{"uniform", "--accesses"}, {"--accesses needs a value"}},
      {{"uniform", "--accesses", "lots"}, {"'lots'", "--accesses"}},
      {{"uniform", "--accesses", "10M"}, {"'10M'", "--accesses"}},
      {{"uniform", "--footprint", "12Q"}, {"'12Q'", "--footprint", "K, M or G"}},
      {{"uniform", "--footprint", "0"}, {"--footprint"}},
      {{"uniform", "--footprint", "99999999999999999999"}, {"--footprint", "too large"}},
      {{"uniform", "--footprint", "2T"}, {"'2T'", "--footprint"}},
      {{"uniform", "--footprint", "4G", "--base", "0x7fffff000000"}, {"--base", "--footprint", "128 TiB"}},
      {{"uniform", "--base", "0x1234"}, {"--base", "aligned"}},
      {{"uniform", "--write-fraction", "1.5"}, {"--write-fraction", "between 0 and 1", "1.5"}},
      {{"uniform", "--write-fraction", "half"}, {"'half'", "--write-fraction"}},
      {{"zipf", "--zipf-exponent", "-1"}, {"--zipf-exponent"}},
      {{"zipf", "--exponent", "nan"}, {"'nan'", "--exponent"}},
      {{"uniform", "--seed=x"}, {"'x'", "--seed"}},
      {{"uniform", "--workers", "3"}, {"--workers does not apply to uniform"}},
      {{"fork-server", "--accesses", "3"}, {"--accesses does not apply to fork-server"}},
      {{"uniform", "--stride", "64"}, {"--stride does not apply to uniform"}},
      {{"seq", "--exponent", "1"}, {"--exponent does not apply to seq"}},
      {{"uniform", "--scramble"}, {"--scramble does not apply to uniform"}},
      {{"zipf", "--scramble=1"}, {"--scramble takes no value"}},
      {{"seq", "--stride", "0"}, {"--stride must be at least 1"}},
      {{"chase", "--stride", "4"}, {"--stride", "at least 8"}},
      {{"chase", "--footprint", "32"}, {"--footprint", "node"}},
      {{"seq", "--footprint", "4"}, {"--footprint", "at least 8"}},
      {{"threads", "--cpus", "0"}, {"--cpus", "between 1 and 64", "got 0"}},
      {{"threads", "--cpus", "65"}, {"--cpus", "between 1 and 64", "got 65"}},
      {{"threads", "--cpus", "two"}, {"'two'", "--cpus"}},
      {{"threads", "--burst", "0"}, {"--burst", "at least 1"}},
      {{"threads", "--mprotect-every", "-1"}, {"'-1'", "--mprotect-every"}},
      {{"threads", "--workers", "2"}, {"--workers does not apply to threads"}},
      {{"threads", "--stride", "64"}, {"--stride does not apply to threads"}},
      {{"uniform", "--cpus", "2"}, {"--cpus does not apply to uniform", "threads"}},
      {{"fork-server", "--burst", "8"}, {"--burst does not apply to fork-server"}},
      {{"zipf", "--mprotect-every", "8"}, {"--mprotect-every does not apply to zipf"}},
      {{"threads", "--footprint", "4G", "--base", "0x7fffff000000"}, {"--base", "--footprint", "128 TiB"}},
  };
  for (const Case& c : cases) {
    std::string line;
    for (const auto& a : c.args) line += a + " ";
    SCOPED_TRACE(line);
    try {
      Generator::parse(c.args);
      ADD_FAILURE() << "accepted";
    } catch (const std::invalid_argument& e) {
      for (const auto& m : c.mentions) EXPECT_NE(std::string(e.what()).find(m), std::string::npos) << e.what();
    }
  }
}

TEST(GeneratorParse, TheConstructorValidatesToo) {
  GeneratorSpec s;
  s.write_fraction = -0.1;
  EXPECT_THROW(Generator{s}, std::invalid_argument);
  s = GeneratorSpec{};
  s.footprint = 0;
  EXPECT_THROW(Generator{s}, std::invalid_argument);
  s = GeneratorSpec{};
  s.kind = GeneratorKind::Threads;
  s.cpus = 0;
  EXPECT_THROW(Generator{s}, std::invalid_argument);
  s.cpus = 65;
  EXPECT_THROW(Generator{s}, std::invalid_argument);
  s.cpus = 2;
  s.burst = 0;
  EXPECT_THROW(Generator{s}, std::invalid_argument);
}

// ---------------------------------------------------------------------------------
// `mmusim gen` files

// What `mmusim gen` writes reads back as the generator's events, field for field but
// the line number (the file's first line is `mmutrace 1`). One Event is reused on
// either side, as a reader reuses it: the generator must set exactly the fields the
// text reader sets for the same line, and leave the others as they were. Files named
// .trace are read by TextReader, others (binary) by whatever open_reader detects.
class GeneratorFile : public cli_test::TempDirTest {
 protected:
  void expect_reads_back(const std::string& gen_args, const std::string& file) {
    const std::string path = (dir_ / file).string();
    const cli_test::Result r = mmusim("gen " + gen_args + " -o " + path);
    ASSERT_EQ(r.status, 0) << r.all();
    std::vector<std::string> args;
    std::istringstream in(gen_args);
    for (std::string a; in >> a;) args.push_back(a);
    Generator g(Generator::parse(args));
    const bool text = path.ends_with(".trace");
    const std::unique_ptr<Reader> reader = text ? std::make_unique<TextReader>(path) : open_reader(path);
    Event want, got;
    u64 n = 0;
    while (g.next(want)) {
      ASSERT_TRUE(reader->next(got)) << "the file ends at event " << n;
      Event want_unlined = want, got_unlined = got;
      want_unlined.line = got_unlined.line = 0;
      ASSERT_EQ(got_unlined, want_unlined) << "event " << n << " (generated line " << want.line << ")";
      ++n;
    }
    EXPECT_FALSE(reader->next(got)) << "more events in the file than generated";
    EXPECT_EQ(n, g.total_events());
  }
};

TEST_F(GeneratorFile, ThreadsTextReadsBack) {
  const std::string args =
      "threads --cpus 4 --burst 10 --mprotect-every 33 --accesses 1000 --footprint 100K --seed 5";
  expect_reads_back(args, "threads.trace");
}

TEST_F(GeneratorFile, ThreadsBinaryReadsBack) {
  expect_reads_back("threads --cpus 3 --burst 7 --mprotect-every 20 --accesses 500 --footprint 64K", "threads.mmut");
}

TEST_F(GeneratorFile, ForkServerTextReadsBack) {
  expect_reads_back("fork-server --footprint 64K --workers 3 --write-fraction 0.5 --seed 3", "fs.trace");
}

}  // namespace
}  // namespace mmusim::traces
