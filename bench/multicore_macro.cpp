// Multi-core throughput: simulated accesses per second of host time for one workload
// of a fixed number of accesses, spread over 1, 2, 4 or 8 simulated cores. The
// workload is the generator's `threads` kind (src/traces/generator.hpp): one process,
// a thread per CPU, uniform 8-byte accesses over a shared heap in bursts of --burst
// accesses per CPU, round robin, with an optional mprotect pair (two shootdowns)
// every --mprotect-every accesses. One run per process: SystemC elaborates once.
// bench/README.md lists measured figures.
//
//   multicore_macro [--cores N] [--accesses N] [--burst B] [--footprint BYTES]
//                   [--mprotect-every K] [--seed S] [--set KEY=VALUE]...
//
// What it shows: the per-access cost of the machine at N cores against 1, i.e. what
// the hand-over of the trace between cores (two SystemC thread switches) and the
// synchronisation (core.quantum_cycles, or core.strict_timing=true) add.
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "config/config.hpp"
#include "hw/event_source.hpp"
#include "hw/system.hpp"
#include "traces/generator.hpp"

namespace {

using namespace mmusim;

class GeneratorSource : public hw::EventSource {
 public:
  explicit GeneratorSource(const traces::GeneratorSpec& spec) : gen_(spec) {}
  bool next(traces::Event& ev) override { return gen_.next(ev); }
  const std::string& name() const override { return name_; }

 private:
  traces::Generator gen_;
  std::string name_ = "threads";
};

constexpr const char* kUsage =
    "usage: multicore_macro [--cores N] [--accesses N] [--burst B] [--footprint BYTES] [--mprotect-every K]\n"
    "                       [--seed S] [--set KEY=VALUE]...\n";

}  // namespace

int main(int argc, char** argv) {
  traces::GeneratorSpec spec;
  spec.kind = traces::GeneratorKind::Threads;
  spec.accesses = 4'000'000;
  spec.footprint = 1 << 20;
  spec.burst = 64;
  spec.cpus = 1;
  std::vector<std::string> sets;
  config::Config cfg;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string k = argv[i];
      if (k == "--help" || k == "-h") {
        std::cout << kUsage;
        return 0;
      }
      if (i + 1 >= argc) throw std::invalid_argument(k + " needs a value");
      const std::string v = argv[++i];
      if (k == "--cores") spec.cpus = std::stoull(v);
      else if (k == "--accesses") spec.accesses = std::stoull(v);
      else if (k == "--burst") spec.burst = std::stoull(v);
      else if (k == "--footprint") spec.footprint = std::stoull(v);
      else if (k == "--mprotect-every") spec.mprotect_every = std::stoull(v);
      else if (k == "--seed") spec.seed = std::stoull(v);
      else if (k == "--set") sets.push_back(v);
      else throw std::invalid_argument("unknown option " + k);
    }
    spec.validate();
    cfg.cores = static_cast<unsigned>(spec.cpus);
    for (const auto& s : sets) config::set(cfg, s);
    config::validate(cfg);
  } catch (const std::exception& e) {
    std::cerr << "multicore_macro: " << e.what() << '\n' << kUsage;
    return 2;
  }

  GeneratorSource source(spec);
  hw::quiet_systemc();
  hw::System sys(cfg, source, hw::RunOptions{});
  const auto t0 = std::chrono::steady_clock::now();
  sys.run();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (sys.error()) {
    std::cerr << *sys.error() << '\n';
    return 1;
  }
  const stats::RunStats s = sys.stats();
  const double n = static_cast<double>(s.accesses);
  const std::uint64_t hand_overs = spec.cpus > 1 ? (spec.accesses + spec.burst - 1) / spec.burst : 0;
  std::cout << fmt::format(
      "cores={} accesses={} burst={} mprotect_every={} strict={} quantum={}: {:.3f} s host, {:.2f} M accesses/s, "
      "{:.1f} ns/access; {} hand-overs, {} shootdowns, {} IPIs; "
      "elapsed {} cycles, busy {} cycles\n",
      spec.cpus, s.accesses, spec.burst, spec.mprotect_every, cfg.core.strict_timing, cfg.core.quantum_cycles, secs,
      n / secs / 1e6, 1e9 * secs / n, hand_overs, s.shootdowns_sent, s.ipis_sent, sys.elapsed_cycles(),
      s.total_cycles());
  return 0;
}
