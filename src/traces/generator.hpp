// Synthetic workloads as a stream of trace events (../shared/TRACE_FORMAT.md),
// pulled one Event at a time: deterministic for a seed, with memory use that does not
// depend on the length or the footprint. `mmusim gen` writes them to a file; anything
// that takes events (an hw::EventSource adapter, a benchmark) can run them directly.
//
// Kinds (GeneratorSpec says which parameters each one reads):
//   seq          8-byte accesses at base, base+stride, ... (stride 8 by default),
//                starting again at base when the next one would pass the footprint.
//   stride       the same with a stride of 4096 by default: one access per page.
//   uniform      8-byte aligned accesses, uniformly random over the footprint.
//   zipf         pages of the footprint drawn from a Zipf distribution (rank k, the
//                k-th page from base unless scrambled, has probability k^-s / H(N,s)),
//                an 8-byte aligned offset uniform within the page.
//   chase        pointer chasing: the footprint cut into nodes of `stride` bytes (64 by
//                default: cache lines) visited in the order of one pseudorandom cycle
//                through all of them, the cycle repeated; the access is the first 8
//                bytes of each node.
//   fork-server  spawn 1 "fork-server" automap; mmap 1 BASE LEN rw- name="heap" (LEN:
//                the footprint rounded up to 4 KiB pages); one write to each heap page;
//                then `workers` times: fork 1 C; switch C; writes to round(write
//                fraction * pages) distinct heap pages in random order (an aligned
//                random offset in each); exit C; switch 1 — with C = 2, 3, ...
//   threads      one process whose threads run on `cpus` CPUs at once, for multi-core
//                runs (per-core TLBs, shootdowns): spawn 1 "threads"; mmap 1 BASE LEN
//                rw- name="heap" (LEN as for fork-server); thread 1 T for T = 2 ..
//                cpus; then for c = 0 .. cpus-1: cpu c; switch T (T = 1 on CPU 0,
//                c+1 elsewhere: thread T runs on CPU T-1). Then `accesses` accesses as
//                `uniform`'s but over the heap (all of its pages), in bursts of `burst`
//                on CPU 0, 1, .., cpus-1, 0, ... (the last burst may be short); a
//                `cpu c` line comes before each burst when cpus > 1 (the first one
//                too: the set-up ends on CPU cpus-1), never otherwise. With
//                `mprotect every` N > 0, after each N-th access (counted over the
//                whole trace, the last access included): mprotect 1 P 4096 r--;
//                mprotect 1 P 4096 rw- on a random heap page P, on the CPU of that
//                access, before any `cpu` line of the next burst.
// The access kinds emit only r/w events and no spawn: the trace runs in the implicit
// automap process 1 (TRACE_FORMAT.md). Reads and writes are 8 bytes without a value;
// each access is a write with probability `write fraction`. Event::line is the
// event's index + 1.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "traces/event.hpp"

namespace mmusim::traces {

enum class GeneratorKind : unsigned char { Seq, Stride, Uniform, Zipf, Chase, ForkServer, Threads };

// "seq", "stride", "uniform", "zipf", "chase", "fork-server", "threads"
const char* generator_kind_name(GeneratorKind k);

struct GeneratorSpec {
  GeneratorKind kind = GeneratorKind::Uniform;
  std::uint64_t accesses = 1'000'000;       // access kinds: how many; threads: over all CPUs
                                            // (fork-server: unused)
  std::uint64_t footprint = 64ull << 20;    // bytes accessed from base / the fork-server or
                                            // threads heap (rounded up to 4 KiB pages)
  std::uint64_t stride = 0;                 // seq, stride: bytes between accesses; chase: node size;
                                            // 0: the kind's default (seq 8, stride 4096, chase 64)
  double write_fraction = 0.25;             // of the accesses / of the heap pages each fork-server
                                            // worker writes
  double zipf_exponent = 0.99;              // zipf: s >= 0
  bool scramble = false;                    // zipf: ranks scattered over the pages, not in address order
  std::uint64_t seed = 1;
  std::uint64_t workers = 4;                // fork-server: processes forked one after another
  std::uint64_t cpus = 2;                   // threads: CPUs, one thread on each; 1 .. kGenMaxCpus
  std::uint64_t burst = 64;                 // threads: accesses on a CPU before the next one; >= 1
  std::uint64_t mprotect_every = 0;         // threads: accesses between mprotect pairs; 0: none
  std::uint64_t base = 0x7f0000000000ull;   // first address (page aligned); base + footprint <= 2^47

  // The stride (or node size) in force: `stride`, or the kind's default.
  std::uint64_t effective_stride() const;

  // Throws std::invalid_argument naming the offending option (as spelt by parse())
  // when the spec cannot be generated.
  void validate() const;
};

// Page size of the heap and of zipf's pages.
inline constexpr std::uint64_t kGenPage = 4096;
// Most CPUs `threads` spreads over (a TLB-shootdown IPI mask of 64 CPUs is plenty for
// the machines simulated).
inline constexpr std::uint64_t kGenMaxCpus = 64;

// Rejection-inversion sampling of a Zipf distribution over {1..n}: P(k) ∝ k^-s, for
// any s >= 0, in O(1) expected time and memory whatever n (no table, no harmonic
// sum). W. Hörmann and G. Derflinger, "Rejection-inversion to generate variates from
// monotone discrete distributions", ACM TOMACS 6(3):169-184, 1996; the numerically
// stable helpers for s near 1 follow the form used by Apache Commons Math's sampler.
class ZipfSampler {
 public:
  ZipfSampler(std::uint64_t n, double s);
  // A rank in [1, n]. `next_unit()` gives uniform doubles in [0, 1): one per attempt,
  // and nearly every attempt is accepted.
  template <typename Unit>
  std::uint64_t sample(Unit&& next_unit) const {
    for (;;) {
      const double u = h_n_ + next_unit() * (h_x1_ - h_n_);  // uniform in (h_x1_, h_n_]
      const double x = h_integral_inverse(u);
      std::uint64_t k = static_cast<std::uint64_t>(x + 0.5);
      if (k < 1) k = 1;
      if (k > n_) k = n_;
      const double kd = static_cast<double>(k);
      if (kd - x <= threshold_ || u >= h_integral(kd + 0.5) - h(kd)) return k;
    }
  }
  std::uint64_t n() const { return n_; }

 private:
  std::uint64_t n_;
  double exponent_;
  double h_x1_, h_n_, threshold_;
  // h(x) = x^-s, its integral H(x) = (x^(1-s) - 1) / (1-s) (log x at s = 1) and H's
  // inverse, written with log1p/expm1 so that they stay exact as s approaches 1.
  static double helper1(double x) {  // log1p(x) / x
    return std::fabs(x) > 1e-8 ? std::log1p(x) / x : 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x));
  }
  static double helper2(double x) {  // expm1(x) / x
    return std::fabs(x) > 1e-8 ? std::expm1(x) / x : 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x));
  }
  double h(double x) const { return std::exp(-exponent_ * std::log(x)); }
  double h_integral(double x) const {
    const double log_x = std::log(x);
    return helper2((1.0 - exponent_) * log_x) * log_x;
  }
  double h_integral_inverse(double x) const {
    double t = x * (1.0 - exponent_);
    if (t < -1.0) t = -1.0;  // rounding: H's range ends there
    return std::exp(helper1(t) * x);
  }
};

// A pseudorandom permutation of [0, n) that is computed, not stored: a balanced
// Feistel network over the smallest even number of bits that holds n (M. Luby and
// C. Rackoff, "How to construct pseudorandom permutations from pseudorandom
// functions", SIAM J. Comput. 17(2), 1988), restricted to [0, n) by cycle walking
// (J. Black and P. Rogaway, "Ciphers with arbitrary finite domains", CT-RSA 2002):
// re-encrypt until the value falls inside; fewer than 4 passes through the network on
// average, since the network's domain is less than 4n. Four rounds, as Luby and
// Rackoff's construction of a strong pseudorandom permutation has, each keyed from
// the seed with the splitmix64 mixer as its round function.
class FeistelPermutation {
 public:
  FeistelPermutation(std::uint64_t n, std::uint64_t key);
  std::uint64_t operator()(std::uint64_t i) const;  // i < n
  std::uint64_t n() const { return n_; }

 private:
  static constexpr int kRounds = 4;
  std::uint64_t n_;
  unsigned half_;
  std::uint64_t mask_;
  std::uint64_t keys_[kRounds];
  std::uint64_t encrypt(std::uint64_t x) const;
};

class Generator {
 public:
  // Throws std::invalid_argument (GeneratorSpec::validate) for an impossible spec.
  explicit Generator(const GeneratorSpec& spec);

  // The next event, or false at the end. Sets every field the event's text line would
  // set and clears the options, as the text reader does.
  bool next(Event& ev);

  // For error messages in place of a file name: "gen:KIND".
  const std::string& name() const { return name_; }
  const GeneratorSpec& spec() const { return spec_; }
  std::uint64_t events() const { return line_; }  // emitted so far
  // How many events the whole workload has.
  std::uint64_t total_events() const;

  // A command line: KIND then options, e.g. {"uniform", "--accesses", "1000000",
  // "--footprint", "1G", "--seed", "7"}. Options take their value as the next
  // argument or after '=' (--seed=7):
  //   --accesses N  --footprint SIZE  --stride SIZE  --write-fraction F
  //   --zipf-exponent S (or --exponent)  --scramble  --seed N  --workers N  --base ADDR
  //   --cpus N  --burst N  --mprotect-every N
  // Numbers are decimal or 0x hex; SIZEs also take K, M, G (powers of two). An option
  // the kind does not use is an error. Throws std::invalid_argument naming the
  // argument at fault.
  static GeneratorSpec parse(const std::vector<std::string>& args);
  // The command-line summary, for --help texts.
  static const char* usage();

 private:
  struct SplitMix64 {
    std::uint64_t s;
    std::uint64_t operator()() {
      std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      return z ^ (z >> 31);
    }
  };
  enum class Stage : unsigned char {
    Spawn, Mmap, Done,
    Touch, Fork, SwitchTo, Writes, Exit, SwitchBack,                   // fork-server
    Thread, SetupCpu, SetupSwitch, RunCpu, Run, ProtectRo, ProtectRw,  // threads
  };

  GeneratorSpec spec_;
  std::string name_;
  SplitMix64 rng_;
  std::uint64_t line_ = 0;
  std::uint64_t i_ = 0;               // accesses emitted (access kinds, threads); index in the
                                       // stage (fork-server)
  std::uint64_t write_threshold_ = 0;  // a draw below it is a write
  bool all_writes_ = false;
  std::uint64_t stride_ = 8;
  std::uint64_t limit_ = 0;            // seq: last offset an access may start at; uniform, threads:
                                       // 8-byte slots
  std::uint64_t offset_ = 0;           // seq: offset of the next access
  std::uint64_t pages_ = 0;            // zipf, fork-server, threads
  std::uint64_t nodes_ = 0;            // chase
  std::uint64_t per_worker_ = 0;       // fork-server: pages each worker writes
  std::uint64_t worker_ = 0;           // fork-server: current worker, 0-based; threads: the
                                       // CPU being set up
  std::uint64_t protect_addr_ = 0;     // threads: the page of the mprotect pair under way
  Stage stage_ = Stage::Spawn;
  ZipfSampler zipf_{1, 1.0};
  FeistelPermutation perm_{1, 0};      // chase: node order; zipf: scramble; fork-server: the worker's pages

  bool is_write();
  std::uint64_t page_offset(std::uint64_t page);  // an aligned offset in `page` within the footprint
  void access(Event& ev, bool write, std::uint64_t addr);
  // `mmap 1 BASE LEN rw- name="heap"` of fork-server and threads.
  void heap_mmap(Event& ev) const;
  bool next_fork_server(Event& ev);
  bool next_threads(Event& ev);
};

}  // namespace mmusim::traces
