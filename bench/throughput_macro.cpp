// Whole-run throughput: simulated accesses per second of host time, and host bytes
// per simulated page, for a generated workload run through the full System (core,
// MMU, walker, kernel or bare mode). One run per process: SystemC elaborates once.
// bench/README.md says how to run it and lists measured figures.
//
//   throughput_macro [--pattern hot|random|seq|stlb-miss] [--accesses N] [--pages P]
//                    [--per-page K] [--gib G] [--seed S] [--config FILE] [--set KEY=VALUE]...
//                    [--text FILE] [--gen-only]
//
// Patterns (reads and writes are 8-byte, aligned, never crossing a page):
//   hot        OS mode (one automapped process). A warm-up writes each of P pages once
//              (default 32, inside the 64-entry L1 DTLB), then the measured part reads
//              and writes (3:1) them at random: the L1 DTLB hit path.
//   random     OS mode, no warm-up: reads and writes (3:1) at random over P pages
//              (e.g. 65536): TLB misses, walks, and a demand fault per first touch.
//   seq        OS mode, no warm-up: K accesses (--per-page K, default 512) to each page
//              in turn, cycling over P pages; the first access to each page is a write,
//              so every page is faulted in with a frame of its own (host memory per
//              simulated page: --per-page 1 touches a new page with every access).
//   stlb-miss  bare mode. The setup (`mode bare`, `set cr3`, then one `poke` per page-
//              table entry) maps G GiB (default 64) of linear address space with 4 KiB
//              pages; every entry has A preset (and D on the leaves), so the measured
//              reads make no A/D writes. The measured part reads 8 bytes at uniformly
//              random 4 KiB pages of the G GiB: nearly every access misses the L1 DTLB
//              and the STLB and walks.
//
// The generator ends its setup with `mark "measured"`. Everything reported as
// "measured" — host time, accesses, TLB, walk and cache counters, page faults — runs
// from that mark to the end of the run; the setup's time and memory are reported apart.
// `--text FILE` writes the workload as a text trace first and runs it through the trace
// reader (parsing is then part of the measurement; the mark is found the same way).
// `--gen-only` drains the event source without simulating: the generator's own cost,
// which is included in every simulated figure. Under valgrind --tool=callgrind the
// counters are zeroed at the mark, so a profile covers the measured part only.
//
// Configuration: `--config FILE` is loaded over the built-in (Skylake-like) defaults,
// then each `--set KEY=VALUE` in order, then the result is validated; a bad key or
// value is reported on stderr with exit status 2.
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>  // CALLGRIND_ZERO_STATS: a no-op unless run under callgrind
#define MMUSIM_CALLGRIND_ZERO_STATS() CALLGRIND_ZERO_STATS
#else
#define MMUSIM_CALLGRIND_ZERO_STATS() ((void)0)
#endif

#include "config/config.hpp"
#include "hw/system.hpp"
#include "hw/trace_source.hpp"
#include "mmu/pte.hpp"

using namespace mmusim;

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kBase = 0x7f0000000000;  // OS patterns: automapped user addresses
constexpr const char* kMarkName = "measured";

// Bare-mode (stlb-miss) layout. Linear: G GiB from 512 GiB up (PML4[1], PDPT[0..G-1]).
// Physical: PML4 0x1000, PDPT 0x2000, the G page directories from 1 MiB, the G*512 page
// tables from 16 MiB (contiguous, so the PTE of page k is at kPt + 8k), and data page k
// at 4 GiB + k * 4 KiB. Every data page has a frame of its own: the data reads go
// through the data caches (cache.data=true), and if all pages shared a few frames their
// lines would always hit L1D, leaving the page-table lines an unrealistically quiet
// cache. The frames cost no host memory: the reads carry no value, so no frame's
// contents are ever stored (the caches hold presence, not contents).
constexpr std::uint64_t kBareLa = 1ull << 39;
constexpr std::uint64_t kPml4 = 0x1000, kPdpt = 0x2000, kPd = 0x100000, kPt = 0x1000000;
constexpr std::uint64_t kData = 1ull << 32;
constexpr std::uint64_t kTableFlags = mmu::bit::P | mmu::bit::RW | mmu::bit::US | mmu::bit::A;
constexpr std::uint64_t kLeafFlags = kTableFlags | mmu::bit::D;

// splitmix64: one 64-bit draw per access, cheap enough that the generator stays a small
// part of what is measured (--gen-only shows how small), and deterministic per seed.
struct SplitMix64 {
  std::uint64_t s;
  std::uint64_t operator()() {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
};

// A number in [0, n) from the high bits of r, by multiplication (Lemire), not division:
// a 64-bit divide per access would be a visible part of a 30 ns access.
inline std::uint64_t below(std::uint64_t r, std::uint64_t n) {
  return static_cast<std::uint64_t>((static_cast<unsigned __int128>(r) * n) >> 64);
}

// The generated workload: the setup events of its pattern, `mark "measured"`, then
// `accesses` accesses.
class Generator : public hw::EventSource {
 public:
  Generator(const std::string& pattern, std::uint64_t accesses, std::uint64_t pages, std::uint64_t per_page,
            std::uint64_t gib, std::uint64_t seed)
      : accesses_(accesses), pages_(pages), per_page_(per_page), gib_(gib), rng_{seed} {
    hot_ = pattern == "hot";
    seq_ = pattern == "seq";
    if (pattern == "stlb-miss") {
      bare_ = true;
      pages_ = gib_ << 18;  // 4 KiB pages in G GiB
    }
  }

  bool next(traces::Event& ev) override {
    // A measured access sets every field the core reads of an access and leaves the
    // options as the previous access (or the mark) left them: cleared. Clearing them
    // again per access would be a third of the generator's cost.
    if (stage_ != Stage::Measured || i_ == 0) ev.reset_options();
    ev.line = ++line_;
    if (bare_) return next_bare(ev);
    if (stage_ == Stage::Setup) {
      if (hot_ && i_ < pages_) {
        // Warm-up: a write faults each page in writable and dirty, so the measured
        // writes hit too (a read first would map the zero page, then COW on a write).
        ev.op = traces::Op::Write;
        ev.addr = kBase + i_++ * 4096;
        ev.size = 8;
        return true;
      }
      return mark(ev);
    }
    if (i_ >= accesses_) return false;
    const std::uint64_t r = rng_();
    bool write = (r & 3) == 0;
    std::uint64_t page;
    if (seq_) {
      if (in_page_ == per_page_) {
        in_page_ = 0;
        if (++seq_page_ == pages_) {
          seq_page_ = 0;
          wrapped_ = true;
        }
      }
      page = seq_page_;
      write |= in_page_++ == 0 && !wrapped_;  // the first touch writes: the page gets a frame
    } else {
      page = below(r, pages_);
    }
    ev.op = write ? traces::Op::Write : traces::Op::Read;
    ev.addr = kBase + page * 4096 + ((r >> 2) & 511) * 8;
    ev.size = 8;
    ++i_;
    return true;
  }

  const std::string& name() const override { return name_; }
  bool bare() const { return bare_; }
  std::uint64_t pages() const { return pages_; }  // pages of the pattern, or mapped (bare)
  // Pages the run touches: exact for hot (the warm-up), seq and bare (mapped); for
  // random, the pattern's pages, which enough accesses touch nearly all of.
  std::uint64_t touched() const {
    if (!seq_) return pages_;
    return std::min(pages_, (accesses_ + per_page_ - 1) / per_page_);
  }
  std::uint64_t pokes() const { return pokes_; }

 private:
  enum class Stage { Setup, Measured };
  enum class Step { Mode, Cr3, Pml4, Pdpt, Pd, Pt, Mark };

  bool mark(traces::Event& ev) {
    ev.op = traces::Op::Mark;
    ev.name = kMarkName;
    stage_ = Stage::Measured;
    i_ = 0;
    return true;
  }

  void poke(traces::Event& ev, std::uint64_t pa, std::uint64_t value) {
    ev.op = traces::Op::Poke;
    ev.addr = pa;
    ev.value = value;
    ev.has_value = true;
    ev.size = 8;
    ++pokes_;
  }

  bool next_bare(traces::Event& ev) {
    if (stage_ == Stage::Measured) {
      if (i_ >= accesses_) return false;
      const std::uint64_t r = rng_();
      ev.op = traces::Op::Read;
      ev.addr = kBareLa + below(r, pages_) * 4096 + (r & 511) * 8;
      ev.size = 8;
      ++i_;
      return true;
    }
    const std::uint64_t tables = gib_ * 512;  // page tables = PD entries
    switch (step_) {
      case Step::Mode:
        ev.op = traces::Op::Mode;
        ev.name = "bare";
        step_ = Step::Cr3;
        return true;
      case Step::Cr3:
        ev.op = traces::Op::Set;
        ev.sets.emplace_back("cr3", kPml4);
        step_ = Step::Pml4;
        return true;
      case Step::Pml4:
        poke(ev, kPml4 + 8 * mmu::table_index(kBareLa, mmu::Level::PML4E), kPdpt | kTableFlags);
        step_ = Step::Pdpt;
        i_ = 0;
        return true;
      case Step::Pdpt:
        poke(ev, kPdpt + 8 * i_, (kPd + 4096 * i_) | kTableFlags);
        if (++i_ == gib_) {
          step_ = Step::Pd;
          i_ = 0;
        }
        return true;
      case Step::Pd:
        poke(ev, kPd + 8 * i_, (kPt + 4096 * i_) | kTableFlags);
        if (++i_ == tables) {
          step_ = Step::Pt;
          i_ = 0;
        }
        return true;
      case Step::Pt:
        poke(ev, kPt + 8 * i_, (kData + 4096 * i_) | kLeafFlags);
        if (++i_ == pages_) step_ = Step::Mark;
        return true;
      case Step::Mark:
        return mark(ev);
    }
    return false;
  }

  std::uint64_t accesses_, pages_, per_page_, gib_;
  SplitMix64 rng_;
  bool hot_ = false, seq_ = false, bare_ = false;
  std::uint64_t seq_page_ = 0, in_page_ = 0;  // seq: the page, and accesses to it so far
  bool wrapped_ = false;                      // seq: every page has been touched
  Stage stage_ = Stage::Setup;
  Step step_ = Step::Mode;
  std::uint64_t i_ = 0, line_ = 0, pokes_ = 0;
  std::string name_ = "<generated>";
};

// CPU time of the process (every SystemC process runs on the one host thread). On a
// shared machine wall time counts the time other programs held the CPU; CPU time
// does not, so both are reported.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

long max_rss_kib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

// What the counters were when the measured part began.
struct Snapshot {
  tlb::LevelStats l1d, l2;
  mmu::WalkStats walker;
  std::vector<std::uint64_t> walk_bins;
  std::array<std::uint64_t, hw::kServedByCount> data_served{};
  std::uint64_t walk_count = 0, walk_sum = 0;
};

// Passes events through; at `mark "measured"` records the time, the max RSS and (when
// given a System) its counters, so that the measured part excludes the setup.
class Measured : public hw::EventSource {
 public:
  explicit Measured(hw::EventSource& inner) : inner_(inner) {}
  bool next(traces::Event& ev) override {
    if (!inner_.next(ev)) return false;
    if (marked_) ++events_;
    else if (ev.op == traces::Op::Mark) at_mark(ev);
    return true;
  }
  const std::string& name() const override { return inner_.name(); }

  void watch(const hw::System* sys) { sys_ = sys; }
  bool marked() const { return marked_; }
  Clock::time_point t_mark() const { return t_mark_; }
  double cpu_mark() const { return cpu_mark_; }
  long rss_at_mark() const { return rss_at_mark_; }
  std::uint64_t events() const { return events_; }  // after the mark
  const Snapshot& at_mark() const { return snap_; }

 private:
  // Out of line, so that the per-access path above stays a few instructions.
  [[gnu::noinline]] void at_mark(const traces::Event& ev) {
    if (ev.name != kMarkName) return;
    marked_ = true;
    rss_at_mark_ = max_rss_kib();
    if (sys_) take(*sys_);
    // Under callgrind, the profile starts here: its costs are the measured part's.
    MMUSIM_CALLGRIND_ZERO_STATS();
    cpu_mark_ = cpu_seconds();
    t_mark_ = Clock::now();  // last: the snapshot is not measured
  }

  void take(const hw::System& s) {
    snap_.l1d = s.mmu().l1d().stats();
    if (s.mmu().l2()) snap_.l2 = s.mmu().l2()->stats();
    snap_.walker = s.mmu().walker.stats();
    const auto& h = s.mmu().walk_latency();
    snap_.walk_bins.resize(h.bins());
    for (std::size_t b = 0; b < h.bins(); ++b) snap_.walk_bins[b] = h.bin_count(b);
    snap_.walk_count = h.count();
    snap_.walk_sum = h.sum();
    for (std::size_t l = 0; l < hw::kServedByCount; ++l)
      snap_.data_served[l] = s.timing().served(hw::Requester::Data, static_cast<hw::ServedBy>(l));
  }

  hw::EventSource& inner_;
  const hw::System* sys_ = nullptr;
  bool marked_ = false;
  Clock::time_point t_mark_{};
  double cpu_mark_ = 0;
  long rss_at_mark_ = 0;
  std::uint64_t events_ = 0;
  Snapshot snap_;
};

// Nearest-rank percentile of the walks recorded since the snapshot (bin differences),
// read as the bin's lower edge as LatencyHistogram::percentile does.
std::uint64_t percentile_since(const stats::LatencyHistogram& h, const Snapshot& s, double q) {
  const std::uint64_t n = h.count() - s.walk_count;
  if (n == 0) return 0;
  const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(n))));
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < h.bins(); ++b) {
    seen += h.bin_count(b) - (b < s.walk_bins.size() ? s.walk_bins[b] : 0);
    if (seen >= rank) return h.lower_edge(b);
  }
  return h.max();
}

double pct(std::uint64_t part, std::uint64_t whole) {
  return whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

void write_text(hw::EventSource& gen, const std::string& path) {
  std::ofstream out(path);
  traces::Event ev;
  while (gen.next(ev)) {
    switch (ev.op) {
      case traces::Op::Read: out << fmt::format("r {:#x}\n", ev.addr); break;
      case traces::Op::Write: out << fmt::format("w {:#x}\n", ev.addr); break;
      case traces::Op::Mode: out << "mode " << ev.name << '\n'; break;
      case traces::Op::Set:
        out << "set";
        for (const auto& [k, v] : ev.sets) out << fmt::format(" {}={:#x}", k, v);
        out << '\n';
        break;
      case traces::Op::Poke: out << fmt::format("poke {:#x} {:#x}\n", ev.addr, ev.value); break;
      case traces::Op::Mark: out << "mark \"" << ev.name << "\"\n"; break;
      default: throw std::logic_error("write_text: an event the generator does not make");
    }
  }
}

constexpr const char* kUsage =
    "usage: throughput_macro [--pattern hot|random|seq|stlb-miss] [--accesses N] [--pages P] [--per-page K] [--gib G]\n"
    "                        [--seed S] [--config FILE] [--set KEY=VALUE]... [--text FILE] [--gen-only]\n";

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t accesses = 10'000'000, pages = 32, per_page = 512, gib = 64, seed = 42;
  std::string pattern = "hot", text, config_file;
  std::vector<std::string> sets;
  bool gen_only = false;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string k = argv[i];
      if (k == "--gen-only") {
        gen_only = true;
        continue;
      }
      if (k == "--help" || k == "-h") {
        std::cout << kUsage;
        return 0;
      }
      if (i + 1 >= argc) throw std::invalid_argument(k + " needs a value");
      const std::string v = argv[++i];
      if (k == "--accesses") accesses = std::stoull(v);
      else if (k == "--pages") pages = std::stoull(v);
      else if (k == "--per-page") per_page = std::stoull(v);
      else if (k == "--gib") gib = std::stoull(v);
      else if (k == "--seed") seed = std::stoull(v);
      else if (k == "--pattern") pattern = v;
      else if (k == "--text") text = v;
      else if (k == "--config") config_file = v;
      else if (k == "--set") sets.push_back(v);
      else throw std::invalid_argument("unknown option " + k);
    }
    if (pattern != "hot" && pattern != "random" && pattern != "seq" && pattern != "stlb-miss")
      throw std::invalid_argument("unknown pattern '" + pattern + "' (expected hot, random, seq or stlb-miss)");
    if (pages == 0 || per_page == 0) throw std::invalid_argument("--pages and --per-page must be at least 1");
    if (gib == 0 || gib > 512) throw std::invalid_argument("--gib must be 1..512 (one PDPT)");
  } catch (const std::exception& e) {
    std::cerr << "throughput_macro: " << e.what() << '\n' << kUsage;
    return 2;
  }

  config::Config cfg;
  try {
    if (!config_file.empty()) config::load_file(cfg, config_file);
    for (const auto& s : sets) config::set(cfg, s);
    config::validate(cfg);
  } catch (const std::exception& e) {
    std::cerr << "throughput_macro: configuration: " << e.what() << '\n';
    return 2;
  }

  Generator gen(pattern, accesses, pages, per_page, gib, seed);
  std::unique_ptr<hw::EventSource> file_source;
  hw::EventSource* inner = &gen;
  if (!text.empty()) {
    write_text(gen, text);
    file_source = std::make_unique<hw::TraceSource>(text);
    inner = file_source.get();
  }
  Measured source(*inner);
  const std::string header =
      fmt::format("pattern={} {} source={} config={}{}", pattern,
                  gen.bare() ? fmt::format("gib={} mapped_pages={}", gib, gen.pages()) : fmt::format("pages={}", pages),
                  text.empty() ? "generated" : "text", config_file.empty() ? "built-in" : config_file,
                  sets.empty() ? "" : " set=" + fmt::format("{}", fmt::join(sets, ",")));

  if (gen_only) {
    const auto t0 = Clock::now();
    traces::Event ev;
    while (source.next(ev)) {
    }
    const auto t1 = Clock::now();
    const double cpu_secs = cpu_seconds() - source.cpu_mark();
    const double setup = std::chrono::duration<double>(source.t_mark() - t0).count();
    const double secs = std::chrono::duration<double>(t1 - source.t_mark()).count();
    const auto events = static_cast<double>(source.events());
    std::cout << header << " gen-only\n";
    std::cout << fmt::format("generator only: setup {:.3f} s, measured events: {}  host seconds: {:.3f}  "
                             "events/s: {:.2f} M ({:.1f} ns each); CPU: {:.1f} ns each\n",
                             setup, source.events(), secs, events / secs / 1e6, 1e9 * secs / events,
                             1e9 * cpu_secs / events);
    std::cout << fmt::format("summary: pattern={} gen_only=1 events={} secs={:.4f} rate_M={:.3f} cpu_secs={:.4f} "
                             "cpu_rate_M={:.3f} ns_each={:.2f} cpu_ns_each={:.2f}\n",
                             pattern, source.events(), secs, events / secs / 1e6, cpu_secs, events / cpu_secs / 1e6,
                             1e9 * secs / events, 1e9 * cpu_secs / events);
    return 0;
  }

  hw::quiet_systemc();
  hw::System sys(cfg, source, hw::RunOptions{});
  source.watch(&sys);
  const long rss_before = max_rss_kib();  // the machine is built; its run has not begun
  const auto t0 = Clock::now();
  sys.run();
  const auto t1 = Clock::now();
  const double cpu_end = cpu_seconds();
  if (sys.error()) {
    std::cerr << *sys.error() << '\n';
    return 1;
  }
  if (!source.marked()) {
    std::cerr << "throughput_macro: the workload never reached mark \"" << kMarkName << "\"\n";
    return 1;
  }
  const long rss_end = max_rss_kib();
  const double setup_secs = std::chrono::duration<double>(source.t_mark() - t0).count();
  const double secs = std::chrono::duration<double>(t1 - source.t_mark()).count();
  const double cpu_secs = cpu_end - source.cpu_mark();

  const stats::RunStats s = sys.stats();
  const stats::Phase& phase = s.phases.back();  // from mark "measured" to the end
  const std::uint64_t n = phase.counters.accesses;
  const double rate = static_cast<double>(n) / secs;
  const Snapshot& at = source.at_mark();
  const auto& l1 = sys.mmu().l1d().stats();
  const std::uint64_t l1_lookups = l1.lookups - at.l1d.lookups, l1_hits = l1.hits - at.l1d.hits,
                      l1_misses = l1.misses - at.l1d.misses;
  std::uint64_t l2_lookups = 0, l2_misses = 0;
  if (const tlb::Tlb* l2 = sys.mmu().l2()) {
    l2_lookups = l2->stats().lookups - at.l2.lookups;
    l2_misses = l2->stats().misses - at.l2.misses;
  }
  const mmu::WalkStats& w = sys.mmu().walker.stats();
  const auto& wl = sys.mmu().walk_latency();
  const std::uint64_t walks = wl.count() - at.walk_count;

  std::cout << header << '\n';
  const double cpu_rate = static_cast<double>(n) / cpu_secs;
  std::cout << fmt::format("measured: accesses: {}  host seconds: {:.3f}  accesses/s: {:.2f} M  ({:.1f} ns each); "
                           "CPU seconds: {:.3f} = {:.2f} M per CPU-second\n",
                           n, secs, rate / 1e6, 1e9 * secs / static_cast<double>(n), cpu_secs, cpu_rate / 1e6);
  std::cout << fmt::format("setup: {} events ({} pokes) in {:.3f} s before the measured part\n",
                           s.events - source.events(), gen.pokes(), setup_secs);
  std::cout << fmt::format(
      "L1 DTLB: {} lookups, hit rate {:.2f}%, miss rate {:.2f}%  |  L2 STLB: {} lookups, miss rate {:.2f}% "
      "(of its lookups; {:.2f}% of accesses)\n",
      l1_lookups, pct(l1_hits, l1_lookups), pct(l1_misses, l1_lookups), l2_lookups, pct(l2_misses, l2_lookups),
      pct(l2_misses, n));
  std::cout << fmt::format("walks: {}  entry loads: {}  A/D writes: {}  partial (PSC) walks: {}  walk latency: "
                           "mean {:.1f}, p50 {}, p99 {} cycles\n",
                           walks, w.loads - at.walker.loads, w.ad_writes - at.walker.ad_writes,
                           w.partial_walks - at.walker.partial_walks,
                           walks ? static_cast<double>(wl.sum() - at.walk_sum) / static_cast<double>(walks) : 0.0,
                           percentile_since(wl, at, 0.5), percentile_since(wl, at, 0.99));
  std::string served, data;
  const std::uint64_t wtotal = [&] {
    std::uint64_t t = 0;
    for (std::size_t l = 0; l < hw::kServedByCount; ++l) t += w.served[l] - at.walker.served[l];
    return t;
  }();
  std::uint64_t dtotal = 0;
  for (std::size_t l = 0; l < hw::kServedByCount; ++l)
    dtotal += sys.timing().served(hw::Requester::Data, static_cast<hw::ServedBy>(l)) - at.data_served[l];
  for (std::size_t l = 0; l < hw::kServedByCount; ++l) {
    const auto level = static_cast<hw::ServedBy>(l);
    served += fmt::format(" {} {:.1f}%", hw::name(level), pct(w.served[l] - at.walker.served[l], wtotal));
    data += fmt::format(" {} {:.1f}%",  hw::name(level),
                        pct(sys.timing().served(hw::Requester::Data, level) - at.data_served[l], dtotal));
  }
  std::cout << "page-table accesses served by:" << served << '\n';
  std::cout << "data accesses served by:" << data
            << (sys.timing().data_through_caches() ? "" : "  (cache.data=false: modelled as L1D hits)") << '\n';
  std::cout << fmt::format("page faults: {} in the measured part, {} in the whole run  simulated cycles: {}\n",
                           phase.counters.page_faults, s.page_faults, s.total_cycles());
  const long setup_growth = source.rss_at_mark() - rss_before;
  const long run_growth = rss_end - rss_before;
  const double pages_touched = static_cast<double>(gen.touched());
  const double per_page_run = 1024.0 * static_cast<double>(run_growth) / pages_touched;
  const double per_page_setup = 1024.0 * static_cast<double>(setup_growth) / pages_touched;
  std::cout << fmt::format("host memory: max RSS {} KiB; grew {} KiB over the run ({} KiB in the setup) for {} "
                           "simulated pages {} = {:.1f} bytes per page over the run, {:.1f} in the setup\n",
                           rss_end, run_growth, setup_growth, gen.touched(), gen.bare() ? "mapped" : "touched",
                           per_page_run, per_page_setup);
  std::cout << fmt::format("stored frames: {} ({} KiB of frame contents)\n", sys.store().resident_frames(),
                           sys.store().resident_frames() * 4);
  const double walk_mean = walks ? static_cast<double>(wl.sum() - at.walk_sum) / static_cast<double>(walks) : 0.0;
  std::cout << fmt::format(
      "summary: pattern={} accesses={} secs={:.4f} rate_M={:.3f} cpu_secs={:.4f} cpu_rate_M={:.3f} setup_secs={:.3f} "
      "l1d_hit_pct={:.3f} "
      "l2_miss_pct={:.3f} walks={} walk_mean={:.1f} walk_p99={} pf_measured={} max_rss_kib={} "
      "bytes_per_page_run={:.1f} bytes_per_page_setup={:.1f}\n",
      pattern, n, secs, rate / 1e6, cpu_secs, cpu_rate / 1e6, setup_secs, pct(l1_hits, l1_lookups), pct(l2_misses, l2_lookups), walks,
      walk_mean, percentile_since(wl, at, 0.99), phase.counters.page_faults, rss_end, per_page_run, per_page_setup);
  return 0;
}
