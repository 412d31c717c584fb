// Whole-run throughput: simulated accesses per second of host time, and host bytes
// per simulated page, for a generated workload run through the full System (core,
// MMU, walker, kernel). One run per process: SystemC elaborates once.
//
//   throughput_macro [--accesses N] [--pages P] [--pattern hot|random|seq] [--text FILE]
//
// `hot` touches P pages (default 32, inside the 64-entry L1 DTLB) at random: the
// TLB-hit path. `random` spreads over P pages (e.g. 65536): TLB misses and walks.
// `--text FILE` writes the workload as a text trace first and runs it through the
// trace reader, so parsing is part of the measurement.
#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <string>

#include <fmt/format.h>

#include "hw/system.hpp"
#include "hw/trace_source.hpp"

using namespace mmusim;

namespace {

constexpr std::uint64_t kBase = 0x7f0000000000;

// The generated workload: one process (created implicitly with automap), reads and
// writes (3:1) to 8-byte words of `pages` pages.
class Generator : public hw::EventSource {
 public:
  Generator(std::uint64_t accesses, std::uint64_t pages, std::string pattern)
      : left_(accesses), pages_(pages), pattern_(std::move(pattern)), rng_(42) {}
  bool next(traces::Event& ev) override {
    if (left_ == 0) return false;
    --left_;
    ev.reset_options();
    ev.line = ++line_;
    ev.op = (rng_() & 3) == 0 ? traces::Op::Write : traces::Op::Read;
    const std::uint64_t page = pattern_ == "seq" ? (line_ / 512) % pages_ : rng_() % pages_;
    ev.addr = kBase + page * 4096 + (rng_() & 511) * 8;
    ev.size = 8;
    return true;
  }
  const std::string& name() const override { return name_; }

 private:
  std::uint64_t left_, pages_, line_ = 0;
  std::string pattern_;
  std::mt19937_64 rng_;
  std::string name_ = "<generated>";
};

long max_rss_kib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t accesses = 10'000'000, pages = 32;
  std::string pattern = "hot", text;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--accesses") accesses = std::stoull(v);
    else if (k == "--pages") pages = std::stoull(v);
    else if (k == "--pattern") pattern = v;
    else if (k == "--text") text = v;
    else {
      std::cerr << "unknown option " << k << '\n';
      return 2;
    }
  }
  Generator gen(accesses, pages, pattern);
  std::unique_ptr<hw::EventSource> file_source;
  hw::EventSource* source = &gen;
  if (!text.empty()) {
    std::ofstream out(text);
    traces::Event ev;
    while (gen.next(ev))
      out << (ev.op == traces::Op::Write ? "w " : "r ") << fmt::format("{:#x}", ev.addr) << '\n';
    out.close();
    file_source = std::make_unique<hw::TraceSource>(text);
    source = file_source.get();
  }

  config::Config cfg;
  hw::quiet_systemc();
  hw::System sys(cfg, *source, hw::RunOptions{});
  const long rss_before = max_rss_kib();
  const auto t0 = std::chrono::steady_clock::now();
  sys.run();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (sys.core().error()) {
    std::cerr << *sys.core().error() << '\n';
    return 1;
  }
  const auto& s = sys.core().stats();
  const double rate = static_cast<double>(s.accesses) / secs;
  const long rss_growth = max_rss_kib() - rss_before;
  std::cout << fmt::format("pattern={} pages={} source={}\n", pattern, pages, text.empty() ? "generated" : "text");
  std::cout << fmt::format("accesses: {}  host seconds: {:.3f}  accesses/s: {:.2f} M\n", s.accesses, secs, rate / 1e6);
  std::cout << fmt::format("TLB hit rate: {:.2f}%  walks: {}  page faults: {}  simulated cycles: {}\n",
                           100.0 * static_cast<double>(s.tlb_hits) / static_cast<double>(s.translations),
                           sys.mmu().walker.stats().walks, s.page_faults, s.total_cycles());
  std::cout << fmt::format("host memory: max RSS grew {} KiB over the run = {:.0f} bytes per simulated page\n",
                           rss_growth, 1024.0 * static_cast<double>(rss_growth) / static_cast<double>(pages));
  return 0;
}
