#include "traces/generator.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string_view>

namespace mmusim::traces {

namespace {

constexpr std::uint64_t kAccessSize = 8;
constexpr std::uint64_t kUserTop = 1ull << 47;  // end of the canonical lower half (4-level paging)
constexpr std::uint32_t kParent = 1;            // fork-server: the server; workers are 2, 3, ...
                                                // threads: the process and its first thread

// A number in [0, n) from the high bits of r, by multiplication (Lemire), not division.
inline std::uint64_t below(std::uint64_t r, std::uint64_t n) {
  return static_cast<std::uint64_t>((static_cast<unsigned __int128>(r) * n) >> 64);
}

inline double unit(std::uint64_t r) { return static_cast<double>(r >> 11) * 0x1.0p-53; }  // [0, 1)

// The splitmix64 output function (a bijection of 64-bit words): the Feistel round function.
inline std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

struct KindName {
  GeneratorKind kind;
  const char* name;
};
constexpr KindName kKinds[] = {
    {GeneratorKind::Seq, "seq"},     {GeneratorKind::Stride, "stride"}, {GeneratorKind::Uniform, "uniform"},
    {GeneratorKind::Zipf, "zipf"},   {GeneratorKind::Chase, "chase"},   {GeneratorKind::ForkServer, "fork-server"},
    {GeneratorKind::Threads, "threads"},
};
constexpr const char* kKindList = "seq, stride, uniform, zipf, chase, fork-server or threads";

// The kinds that are nothing but accesses, in the implicit process.
bool access_kind(GeneratorKind k) { return k != GeneratorKind::ForkServer && k != GeneratorKind::Threads; }
// The kinds that map their footprint as a heap of whole pages.
bool heap_kind(GeneratorKind k) { return k == GeneratorKind::ForkServer || k == GeneratorKind::Threads; }

std::string str(double v) {
  std::string s = std::to_string(v);
  while (s.size() > 1 && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

[[noreturn]] void bad(const std::string& msg) { throw std::invalid_argument("generator: " + msg); }

// Decimal or 0x hex; with `size`, an optional K, M or G suffix (powers of two), as
// lengths are written in traces. Throws naming the option.
std::uint64_t parse_number(const std::string& opt, const std::string& v, bool size) {
  const char* what = size ? "a size: a number with an optional K, M or G suffix, e.g. 4096, 0x1000, 64K, 1G"
                          : "a whole number, decimal or 0x hex";
  std::string_view t = v;
  std::uint64_t mult = 1;
  if (size && !t.empty()) {
    switch (t.back()) {
      case 'K': case 'k': mult = 1ull << 10; break;
      case 'M': case 'm': mult = 1ull << 20; break;
      case 'G': case 'g': mult = 1ull << 30; break;
      default: break;
    }
    if (mult != 1) t.remove_suffix(1);
  }
  int base = 10;
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
    base = 16;
    t.remove_prefix(2);
  }
  if (t.empty()) bad("bad value '" + v + "' for " + opt + " (expected " + what + ")");
  std::uint64_t n = 0;
  for (char c : t) {
    unsigned d;
    if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
    else if (base == 16 && c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
    else if (base == 16 && c >= 'A' && c <= 'F') d = static_cast<unsigned>(c - 'A' + 10);
    else bad("bad value '" + v + "' for " + opt + " (expected " + what + ")");
    if (n > (std::numeric_limits<std::uint64_t>::max() - d) / static_cast<unsigned>(base))
      bad("value '" + v + "' for " + opt + " is too large");
    n = n * static_cast<unsigned>(base) + d;
  }
  if (n > std::numeric_limits<std::uint64_t>::max() / mult) bad("value '" + v + "' for " + opt + " is too large");
  return n * mult;
}

double parse_real(const std::string& opt, const std::string& v) {
  const char* begin = v.c_str();
  char* end = nullptr;
  errno = 0;
  const double d = std::strtod(begin, &end);
  if (v.empty() || end != begin + v.size() || errno == ERANGE || !std::isfinite(d))
    bad("bad value '" + v + "' for " + opt + " (expected a number, e.g. 0.25)");
  return d;
}

}  // namespace

const char* generator_kind_name(GeneratorKind k) {
  for (const KindName& kn : kKinds)
    if (kn.kind == k) return kn.name;
  return "?";
}

// ---------------------------------------------------------------------------------
// GeneratorSpec

std::uint64_t GeneratorSpec::effective_stride() const {
  if (stride != 0) return stride;
  switch (kind) {
    case GeneratorKind::Stride: return kGenPage;
    case GeneratorKind::Chase: return 64;
    default: return kAccessSize;
  }
}

void GeneratorSpec::validate() const {
  const std::string k = generator_kind_name(kind);
  if (!(write_fraction >= 0.0 && write_fraction <= 1.0))
    bad("--write-fraction must be between 0 and 1 (got " + str(write_fraction) + ")");
  if (!(zipf_exponent >= 0.0) || !std::isfinite(zipf_exponent))
    bad("--zipf-exponent must be 0 or more (got " + str(zipf_exponent) + ")");
  if (base % kGenPage != 0) bad("--base must be 4 KiB aligned (got " + std::to_string(base) + ")");
  const std::uint64_t len = heap_kind(kind) ? (footprint + kGenPage - 1) / kGenPage * kGenPage : footprint;
  if (footprint == 0 || len < footprint) bad("--footprint must be at least 1 byte");
  if (base >= kUserTop || len > kUserTop - base)
    bad("--base + --footprint must end within the 128 TiB user address space (0x800000000000)");
  const std::uint64_t stride_now = effective_stride();
  switch (kind) {
    case GeneratorKind::Seq:
    case GeneratorKind::Stride:
    case GeneratorKind::Uniform:
    case GeneratorKind::Zipf:
      if (footprint < kAccessSize) bad("--footprint must be at least 8 bytes for " + k + " (one 8-byte access)");
      break;
    case GeneratorKind::Chase:
      if (stride_now < kAccessSize) bad("--stride (the node size) must be at least 8 for chase");
      if (footprint < stride_now) bad("--footprint must hold at least one node of --stride bytes for chase");
      break;
    case GeneratorKind::ForkServer:
      if (workers > std::numeric_limits<std::uint32_t>::max() - 2)
        bad("--workers must be at most " + std::to_string(std::numeric_limits<std::uint32_t>::max() - 2) +
            " (each worker takes a new PID)");
      break;
    case GeneratorKind::Threads:
      if (cpus < 1 || cpus > kGenMaxCpus)
        bad("--cpus must be between 1 and " + std::to_string(kGenMaxCpus) + " (got " + std::to_string(cpus) + ")");
      if (burst < 1) bad("--burst must be at least 1 (got 0)");
      break;
  }
}

// ---------------------------------------------------------------------------------
// ZipfSampler

ZipfSampler::ZipfSampler(std::uint64_t n, double s) : n_(n < 1 ? 1 : n), exponent_(s) {
  h_x1_ = h_integral(1.5) - 1.0;
  h_n_ = h_integral(static_cast<double>(n_) + 0.5);
  threshold_ = 2.0 - h_integral_inverse(h_integral(2.5) - h(2.0));
}

// ---------------------------------------------------------------------------------
// FeistelPermutation

FeistelPermutation::FeistelPermutation(std::uint64_t n, std::uint64_t key) : n_(n < 1 ? 1 : n) {
  unsigned bits = 0;
  while (bits < 64 && (1ull << bits) < n_) ++bits;
  if (bits < 2) bits = 2;
  bits += bits & 1;
  half_ = bits / 2;
  mask_ = (1ull << half_) - 1;
  std::uint64_t s = key;
  for (std::uint64_t& k : keys_) {
    s += 0x9e3779b97f4a7c15ull;
    k = mix64(s);
  }
}

std::uint64_t FeistelPermutation::encrypt(std::uint64_t x) const {
  std::uint64_t l = x >> half_, r = x & mask_;
  for (std::uint64_t k : keys_) {
    const std::uint64_t t = l ^ (mix64(r ^ k) & mask_);
    l = r;
    r = t;
  }
  return (l << half_) | r;
}

std::uint64_t FeistelPermutation::operator()(std::uint64_t i) const {
  std::uint64_t x = encrypt(i);
  while (x >= n_) x = encrypt(x);  // cycle walking: x's cycle in the network returns to [0, n)
  return x;
}

// ---------------------------------------------------------------------------------
// Generator

Generator::Generator(const GeneratorSpec& spec) : spec_(spec), rng_{spec.seed} {
  spec_.validate();
  name_ = std::string("gen:") + generator_kind_name(spec_.kind);
  stride_ = spec_.effective_stride();
  all_writes_ = spec_.write_fraction >= 1.0;
  write_threshold_ = spec_.write_fraction <= 0.0 ? 0
                     : all_writes_              ? std::numeric_limits<std::uint64_t>::max()
                                                : static_cast<std::uint64_t>(spec_.write_fraction * 0x1.0p64);
  const std::uint64_t fp8 = spec_.footprint / kAccessSize * kAccessSize;
  // Keys of the permutations: from the seed, apart from the access stream's.
  const std::uint64_t key = mix64(spec_.seed ^ 0x5851f42d4c957f2dull);
  switch (spec_.kind) {
    case GeneratorKind::Seq:
    case GeneratorKind::Stride:
      limit_ = spec_.footprint - kAccessSize;
      break;
    case GeneratorKind::Uniform:
      limit_ = fp8 / kAccessSize;
      break;
    case GeneratorKind::Zipf:
      pages_ = (fp8 + kGenPage - 1) / kGenPage;
      zipf_ = ZipfSampler(pages_, spec_.zipf_exponent);
      if (spec_.scramble) perm_ = FeistelPermutation(pages_, key);
      break;
    case GeneratorKind::Chase:
      nodes_ = spec_.footprint / stride_;
      perm_ = FeistelPermutation(nodes_, key);
      break;
    case GeneratorKind::ForkServer:
      pages_ = (spec_.footprint + kGenPage - 1) / kGenPage;
      per_worker_ = static_cast<std::uint64_t>(std::llround(spec_.write_fraction * static_cast<double>(pages_)));
      if (per_worker_ > pages_) per_worker_ = pages_;
      break;
    case GeneratorKind::Threads:
      pages_ = (spec_.footprint + kGenPage - 1) / kGenPage;
      limit_ = pages_ * (kGenPage / kAccessSize);
      break;
  }
}

std::uint64_t Generator::total_events() const {
  if (access_kind(spec_.kind)) return spec_.accesses;
  if (spec_.kind == GeneratorKind::Threads) {
    const std::uint64_t n = spec_.accesses;
    const std::uint64_t bursts = n / spec_.burst + (n % spec_.burst != 0);
    const std::uint64_t protects = spec_.mprotect_every == 0 ? 0 : n / spec_.mprotect_every;
    return 2 + (spec_.cpus - 1) + 2 * spec_.cpus + n + (spec_.cpus > 1 ? bursts : 0) + 2 * protects;
  }
  return 2 + pages_ + spec_.workers * (4 + per_worker_);
}

bool Generator::is_write() {
  if (all_writes_) return true;
  return rng_() < write_threshold_;
}

std::uint64_t Generator::page_offset(std::uint64_t page) {
  const std::uint64_t start = page * kGenPage;
  const std::uint64_t end = spec_.footprint / kAccessSize * kAccessSize;
  const std::uint64_t slots = end - start >= kGenPage ? kGenPage / kAccessSize : (end - start) / kAccessSize;
  return start + below(rng_(), slots) * kAccessSize;
}

void Generator::heap_mmap(Event& ev) const {
  ev.reset_options();
  ev.op = Op::Mmap;
  ev.pid = kParent;
  ev.addr = spec_.base;
  ev.size = pages_ * kGenPage;
  ev.prot = Prot{.read = true, .write = true};
  ev.name = "heap";
}

void Generator::access(Event& ev, bool write, std::uint64_t addr) {
  ev.op = write ? Op::Write : Op::Read;
  ev.addr = addr;
  ev.size = kAccessSize;
}

bool Generator::next(Event& ev) {
  if (spec_.kind == GeneratorKind::ForkServer) return next_fork_server(ev);
  if (spec_.kind == GeneratorKind::Threads) return next_threads(ev);
  if (i_ >= spec_.accesses) return false;
  ev.reset_options();
  ev.line = ++line_;
  ++i_;
  std::uint64_t offset = 0;
  switch (spec_.kind) {
    case GeneratorKind::Seq:
    case GeneratorKind::Stride:
      offset = offset_;
      // The next one, or base again when it would not fit.
      offset_ = offset_ <= limit_ && limit_ - offset_ >= stride_ ? offset_ + stride_ : 0;
      break;
    case GeneratorKind::Uniform:
      offset = below(rng_(), limit_) * kAccessSize;
      break;
    case GeneratorKind::Zipf: {
      std::uint64_t page = zipf_.sample([this] { return unit(rng_()); }) - 1;
      if (spec_.scramble) page = perm_(page);
      offset = page_offset(page);
      break;
    }
    case GeneratorKind::Chase:
      offset = perm_(offset_) * stride_;
      if (++offset_ == nodes_) offset_ = 0;
      break;
    case GeneratorKind::ForkServer:
    case GeneratorKind::Threads:
      break;
  }
  access(ev, is_write(), spec_.base + offset);
  return true;
}

bool Generator::next_fork_server(Event& ev) {
  const auto worker_pid = [this] { return static_cast<std::uint32_t>(kParent + 1 + worker_); };
  // The stage after a worker's writes, or after the touch when there are no workers.
  const auto after_worker = [this] {
    ++worker_;
    i_ = 0;
    stage_ = worker_ < spec_.workers ? Stage::Fork : Stage::Done;
  };
  for (;;) {
    switch (stage_) {
      case Stage::Done:
        return false;
      case Stage::Spawn:
        ev.reset_options();
        ev.op = Op::Spawn;
        ev.pid = kParent;
        ev.name = "fork-server";
        ev.automap = true;
        stage_ = Stage::Mmap;
        break;
      case Stage::Mmap:
        heap_mmap(ev);
        stage_ = Stage::Touch;
        i_ = 0;
        break;
      case Stage::Touch:
        if (i_ == pages_) {
          worker_ = 0;
          stage_ = spec_.workers > 0 ? Stage::Fork : Stage::Done;
          continue;
        }
        ev.reset_options();
        access(ev, true, spec_.base + i_ * kGenPage);
        ++i_;
        break;
      case Stage::Fork:
        ev.reset_options();
        ev.op = Op::Fork;
        ev.pid = kParent;
        ev.pid2 = worker_pid();
        // This worker's pages: the first per_worker_ of a permutation keyed by seed and worker.
        perm_ = FeistelPermutation(pages_, mix64(spec_.seed ^ mix64(worker_ + 1)));
        stage_ = Stage::SwitchTo;
        break;
      case Stage::SwitchTo:
        ev.reset_options();
        ev.op = Op::Switch;
        ev.pid = worker_pid();
        stage_ = Stage::Writes;
        i_ = 0;
        break;
      case Stage::Writes:
        if (i_ == per_worker_) {
          stage_ = Stage::Exit;
          continue;
        }
        ev.reset_options();
        access(ev, true, spec_.base + page_offset(perm_(i_)));
        ++i_;
        break;
      case Stage::Exit:
        ev.reset_options();
        ev.op = Op::Exit;
        ev.pid = worker_pid();
        stage_ = Stage::SwitchBack;
        break;
      case Stage::SwitchBack:
        ev.reset_options();
        ev.op = Op::Switch;
        ev.pid = kParent;
        after_worker();
        break;
      default:  // another kind's stage: never reached
        return false;
    }
    ev.line = ++line_;
    return true;
  }
}

bool Generator::next_threads(Event& ev) {
  const std::uint64_t cpus = spec_.cpus;
  // What follows the i_-th access (or the set-up, at i_ = 0): the next access, preceded
  // by a `cpu` line where a burst starts and there is another CPU to move to.
  const auto to_access = [&] {
    if (i_ == spec_.accesses) stage_ = Stage::Done;
    else stage_ = cpus > 1 && i_ % spec_.burst == 0 ? Stage::RunCpu : Stage::Run;
  };
  const auto protect = [&](Event& e, bool writable) {
    e.reset_options();
    e.op = Op::Mprotect;
    e.pid = kParent;
    e.addr = protect_addr_;
    e.size = kGenPage;
    e.prot = Prot{.read = true, .write = writable};
  };
  for (;;) {
    switch (stage_) {
      case Stage::Done:
        return false;
      case Stage::Spawn:
        ev.reset_options();
        ev.op = Op::Spawn;
        ev.pid = kParent;
        ev.name = "threads";
        stage_ = Stage::Mmap;
        break;
      case Stage::Mmap:
        heap_mmap(ev);
        worker_ = 0;
        stage_ = cpus > 1 ? Stage::Thread : Stage::SetupCpu;
        break;
      case Stage::Thread:
        ev.reset_options();
        ev.op = Op::Thread;
        ev.pid = kParent;
        ev.pid2 = static_cast<std::uint32_t>(kParent + 1 + worker_);
        if (++worker_ == cpus - 1) {
          worker_ = 0;
          stage_ = Stage::SetupCpu;
        }
        break;
      case Stage::SetupCpu:
        ev.reset_options();
        ev.op = Op::Cpu;
        ev.pid = static_cast<std::uint32_t>(worker_);
        stage_ = Stage::SetupSwitch;
        break;
      case Stage::SetupSwitch:
        ev.reset_options();
        ev.op = Op::Switch;
        ev.pid = static_cast<std::uint32_t>(kParent + worker_);
        if (++worker_ == cpus) {
          i_ = 0;
          to_access();
        } else {
          stage_ = Stage::SetupCpu;
        }
        break;
      case Stage::RunCpu:
        ev.reset_options();
        ev.op = Op::Cpu;
        ev.pid = static_cast<std::uint32_t>(i_ / spec_.burst % cpus);
        stage_ = Stage::Run;
        break;
      case Stage::Run:
        ev.reset_options();
        access(ev, is_write(), spec_.base + below(rng_(), limit_) * kAccessSize);
        ++i_;
        if (spec_.mprotect_every != 0 && i_ % spec_.mprotect_every == 0) {
          stage_ = Stage::ProtectRo;
        } else {
          to_access();
        }
        break;
      case Stage::ProtectRo:
        protect_addr_ = spec_.base + below(rng_(), pages_) * kGenPage;
        protect(ev, false);
        stage_ = Stage::ProtectRw;
        break;
      case Stage::ProtectRw:
        protect(ev, true);
        to_access();
        break;
      default:  // another kind's stage: never reached
        return false;
    }
    ev.line = ++line_;
    return true;
  }
}

// ---------------------------------------------------------------------------------
// The command line

const char* Generator::usage() {
  return "KIND [options], KIND one of seq, stride, uniform, zipf, chase, fork-server, threads\n"
         "  --accesses N         accesses to generate, threads: over all CPUs (not fork-server;\n"
         "                       default 1000000)\n"
         "  --footprint SIZE     bytes accessed from --base, or the fork-server / threads heap\n"
         "                       (default 64M)\n"
         "  --stride SIZE        seq/stride: bytes between accesses (default 8 / 4096); chase: node size (64)\n"
         "  --write-fraction F   fraction of accesses that write; fork-server: of the heap pages each\n"
         "                       worker writes (default 0.25)\n"
         "  --zipf-exponent S    zipf: the exponent s (default 0.99); also --exponent\n"
         "  --scramble           zipf: scatter the popular pages over the footprint\n"
         "  --workers N          fork-server: workers forked one after another (default 4)\n"
         "  --cpus N             threads: CPUs, one thread on each, 1 to 64 (default 2)\n"
         "  --burst N            threads: accesses on a CPU before the next one's (default 64)\n"
         "  --mprotect-every N   threads: an mprotect r-- then rw- of a heap page after every N\n"
         "                       accesses (default 0: never)\n"
         "  --seed N             random seed (default 1)\n"
         "  --base ADDR          first address, 4 KiB aligned (default 0x7f0000000000)\n"
         "  Sizes take K, M, G (powers of two); numbers are decimal or 0x hex.\n";
}

GeneratorSpec Generator::parse(const std::vector<std::string>& args) {
  GeneratorSpec spec;
  bool have_kind = false;
  enum Opt : unsigned {
    Accesses, Footprint, Stride, WriteFraction, Exponent, Scramble, Seed, Workers, Base, Cpus, Burst, MprotectEvery,
    Count
  };
  struct OptName {
    const char* name;
    Opt opt;
  };
  static constexpr OptName kOpts[] = {
      {"--accesses", Accesses}, {"--footprint", Footprint},      {"--stride", Stride},
      {"--write-fraction", WriteFraction}, {"--zipf-exponent", Exponent}, {"--exponent", Exponent},
      {"--scramble", Scramble}, {"--seed", Seed}, {"--workers", Workers}, {"--base", Base},
      {"--cpus", Cpus}, {"--burst", Burst}, {"--mprotect-every", MprotectEvery},
  };
  std::string given_as[Count];  // how each option was spelt, if given

  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() < 2 || a.compare(0, 2, "--") != 0) {
      if (have_kind) bad("unexpected argument '" + a + "' (the kind is already " + generator_kind_name(spec.kind) + ")");
      bool found = false;
      for (const KindName& kn : kKinds) {
        if (a == kn.name) {
          spec.kind = kn.kind;
          found = true;
        }
      }
      if (!found) bad("unknown kind '" + a + "' (expected " + kKindList + ")");
      have_kind = true;
      continue;
    }
    const std::size_t eq = a.find('=');
    const std::string key = a.substr(0, eq);
    const OptName* o = nullptr;
    for (const OptName& on : kOpts)
      if (key == on.name) o = &on;
    if (!o) bad("unknown option '" + key + "'; options: --accesses, --footprint, --stride, --write-fraction, "
                "--zipf-exponent, --scramble, --seed, --workers, --base, --cpus, --burst, --mprotect-every");
    given_as[o->opt] = key;
    if (o->opt == Scramble) {
      if (eq != std::string::npos) bad("--scramble takes no value (got '" + a + "')");
      spec.scramble = true;
      continue;
    }
    std::string value;
    if (eq != std::string::npos) {
      value = a.substr(eq + 1);
    } else {
      if (i + 1 >= args.size()) bad(key + " needs a value");
      value = args[++i];
    }
    switch (o->opt) {
      case Accesses: spec.accesses = parse_number(key, value, false); break;
      case Footprint: spec.footprint = parse_number(key, value, true); break;
      case Stride:
        spec.stride = parse_number(key, value, true);
        if (spec.stride == 0) bad("--stride must be at least 1 (got '" + value + "')");
        break;
      case WriteFraction: spec.write_fraction = parse_real(key, value); break;
      case Exponent: spec.zipf_exponent = parse_real(key, value); break;
      case Seed: spec.seed = parse_number(key, value, false); break;
      case Workers: spec.workers = parse_number(key, value, false); break;
      case Base: spec.base = parse_number(key, value, true); break;
      case Cpus: spec.cpus = parse_number(key, value, false); break;
      case Burst: spec.burst = parse_number(key, value, false); break;
      case MprotectEvery: spec.mprotect_every = parse_number(key, value, false); break;
      case Scramble: case Count: break;
    }
  }
  if (!have_kind) bad(std::string("missing the kind (expected ") + kKindList + ")");

  // Options the kind does not read: most likely a mistake, so refuse them.
  const auto only_for = [&](Opt opt, bool applies, const char* kinds) {
    if (!given_as[opt].empty() && !applies)
      bad(given_as[opt] + " does not apply to " + generator_kind_name(spec.kind) + " (only to " + kinds + ")");
  };
  const GeneratorKind k = spec.kind;
  const bool threads = k == GeneratorKind::Threads;
  only_for(Accesses, access_kind(k) || threads, "seq, stride, uniform, zipf, chase and threads; fork-server's "
                                                "length follows from --footprint, --workers and --write-fraction");
  only_for(Stride, k == GeneratorKind::Seq || k == GeneratorKind::Stride || k == GeneratorKind::Chase,
           "seq, stride and chase");
  only_for(Exponent, k == GeneratorKind::Zipf, "zipf");
  only_for(Scramble, k == GeneratorKind::Zipf, "zipf");
  only_for(Workers, k == GeneratorKind::ForkServer, "fork-server");
  only_for(Cpus, threads, "threads");
  only_for(Burst, threads, "threads");
  only_for(MprotectEvery, threads, "threads");
  spec.validate();
  return spec;
}

}  // namespace mmusim::traces
