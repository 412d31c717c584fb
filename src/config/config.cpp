#include "config/config.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <tuple>
#include <type_traits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace mmusim::config {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Unsigned integers: decimal or 0x hex, with the trace format's K/M/G suffixes.
u64 parse_u64(std::string_view key, std::string_view v) {
  u64 mult = 1;
  if (!v.empty()) {
    switch (v.back()) {
      case 'K': mult = 1ull << 10; break;
      case 'M': mult = 1ull << 20; break;
      case 'G': mult = 1ull << 30; break;
      default: break;
    }
    if (mult != 1) v.remove_suffix(1);
  }
  int base = 10;
  if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
    base = 16;
    v.remove_prefix(2);
  }
  u64 out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out, base);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size())
    throw ConfigError(fmt::format("{}: bad value '{}' (expected an unsigned integer)", key, v));
  if (out > std::numeric_limits<u64>::max() / mult)
    throw ConfigError(fmt::format("{}: value '{}' is too large", key, v));
  return out * mult;
}

double parse_double(std::string_view key, std::string_view v) {
  double out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size() || !(out > 0) || !std::isfinite(out))
    throw ConfigError(fmt::format("{}: bad value '{}' (expected a positive number)", key, v));
  return out;
}

bool parse_bool(std::string_view key, std::string_view v) {
  if (v == "1" || v == "true" || v == "on") return true;
  if (v == "0" || v == "false" || v == "off") return false;
  throw ConfigError(fmt::format("{}: bad value '{}' (expected true/false, on/off or 1/0)", key, v));
}

// An enumeration, read and written by the names in `names` (indexed by value).
template <typename E, size_t N>
Param bind_enum(std::string key, std::string what, E& field, const std::array<const char*, N>& names) {
  std::string unit;
  for (const char* n : names) {
    if (!unit.empty()) unit += '|';
    unit += n;
  }
  Param p{std::move(key), unit, std::move(what), {}, {}};
  const std::string k = p.key;
  p.set = [k, unit, names, &field](std::string_view v) {
    for (size_t i = 0; i < N; ++i)
      if (v == names[i]) {
        field = static_cast<E>(i);
        return;
      }
    throw ConfigError(fmt::format("{}: bad value '{}' (expected {})", k, v, unit));
  };
  p.get = [names, &field] { return nlohmann::json(names[static_cast<size_t>(field)]); };
  return p;
}

template <typename T>
Param bind(std::string key, std::string unit, std::string what, T& field) {
  Param p{std::move(key), std::move(unit), std::move(what), {}, {}};
  const std::string k = p.key;
  if constexpr (std::is_same_v<T, bool>) {
    p.set = [k, &field](std::string_view v) { field = parse_bool(k, v); };
  } else if constexpr (std::is_floating_point_v<T>) {
    p.set = [k, &field](std::string_view v) { field = parse_double(k, v); };
  } else {
    p.set = [k, &field](std::string_view v) {
      const u64 x = parse_u64(k, v);
      if (x > std::numeric_limits<T>::max())
        throw ConfigError(fmt::format("{}: value {} is too large", k, x));
      field = static_cast<T>(x);
    };
  }
  p.get = [&field] { return nlohmann::json(field); };
  return p;
}

}  // namespace

// The two geometry keys of one set-associative array: PREFIX.entries, PREFIX.ways.
// (Qualified: with std::string arguments, unqualified bind would also find std::bind.)
void bind_array(std::vector<Param>& out, const std::string& prefix, const std::string& what, TlbArrayConfig& a) {
  out.push_back(config::bind(prefix + ".entries", "entries", what + " entries", a.entries));
  out.push_back(config::bind(prefix + ".ways", "ways", what + " associativity", a.ways));
}

constexpr unsigned kMaxTlbEntries = 1u << 20;
constexpr u64 kMaxCacheLines = 1ull << 23;

// Indexed by tlb::Replacement.
constexpr std::array kReplacementNames{"lru", "plru", "random", "srrip"};
// Indexed by TlbArrays.
constexpr std::array kTlbArraysNames{"split", "4k+2m", "unified"};
// The page-size names of a TLB level's arrays, and the arrays in that order.
constexpr std::array kTlbArrayNames{"4k", "2m", "1g"};
std::array<TlbArrayConfig*, 3> arrays_of(TlbLevelConfig& t) { return {&t.a4k, &t.a2m, &t.a1g}; }
std::array<const TlbArrayConfig*, 3> arrays_of(const TlbLevelConfig& t) { return {&t.a4k, &t.a2m, &t.a1g}; }

// Every key of one TLB level: tlb.NAME.{4k,2m,1g}.{entries,ways,replacement},
// tlb.NAME.arrays and tlb.NAME.latency.
void bind_tlb(std::vector<Param>& out, const std::string& name, const std::string& what, TlbLevelConfig& t) {
  const std::string prefix = "tlb." + name;
  const auto arrays = arrays_of(t);
  for (size_t i = 0; i < arrays.size(); ++i) {
    const std::string key = prefix + "." + kTlbArrayNames[i];
    const std::string array_what = what + " " + kTlbArrayNames[i] + " array";
    bind_array(out, key, array_what, *arrays[i]);
    out.push_back(bind_enum(key + ".replacement", array_what + " replacement policy", arrays[i]->replacement,
                            kReplacementNames));
  }
  out.push_back(bind_enum(prefix + ".arrays", what + ": which array holds which page size", t.arrays,
                          kTlbArraysNames));
  out.push_back(config::bind(prefix + ".latency", "cycles", what + " lookup", t.latency_cycles));
}

void bind_cache(std::vector<Param>& out, const std::string& name, const std::string& what, CacheLevelConfig& c) {
  const std::string prefix = "cache." + name;
  out.push_back(config::bind(prefix + ".sets", "sets", what + " sets", c.sets));
  out.push_back(config::bind(prefix + ".ways", "ways", what + " associativity", c.ways));
  out.push_back(config::bind(prefix + ".line", "bytes", what + " line size", c.line_bytes));
  out.push_back(config::bind(prefix + ".latency", "cycles", "an access " + what + " serves", c.latency_cycles));
}

std::vector<Param> params(Config& c) {
  auto& k = c.kernel.cost;
  std::vector<Param> out = {
      bind("cores", "cores", "CPUs, each with its own TLBs, walker and L1D/L2 (the LLC is shared)", c.cores),
      bind("core.frequency_ghz", "GHz", "core clock, converts cycles to time", c.core.frequency_ghz),
      bind("core.quantum_cycles", "cycles", "temporal-decoupling quantum", c.core.quantum_cycles),
      bind("core.strict_timing", "bool", "synchronise with SystemC at every access", c.core.strict_timing),
      bind("core.cr3_write_cycles", "cycles", "MOV to CR3 on a context switch", c.core.cr3_write_cycles),
      bind("cr4.pcide", "bool", "OS mode: the kernel tags address spaces with PCIDs", c.cr4.pcide),
      bind("mem.size", "bytes", "physical memory the kernel may allocate", c.mem.size_bytes),
      bind("mem.maxphyaddr", "bits", "physical-address width M", c.mem.maxphyaddr),
      bind_enum("mem.model", "memory timing: a fixed latency, or the data caches", c.mem.model,
                std::array{"fixed", "caches"}),
      bind("mem.latency", "cycles", "mem.model=fixed: one physical-memory access", c.mem.latency_cycles),
      bind("cache.dram_latency", "cycles", "an access no cache serves", c.cache.dram_latency_cycles),
      bind("cache.data", "bool", "trace data accesses go through the data caches", c.cache.data),
      bind("tlb.seed", "number", "seed of the random replacement policy", c.tlb.seed),
      bind("psc.hit_cycles", "cycles", "paging-structure cache hit", c.psc.hit_cycles),
      bind("kernel.cost.exception_entry", "cycles", "#PF delivery and kernel entry", k.exception_entry),
      bind("kernel.cost.exception_exit", "cycles", "return to user (IRET)", k.exception_exit),
      bind("kernel.cost.vma_lookup", "cycles", "find the VMA of the address", k.vma_lookup),
      bind("kernel.cost.pgtable_walk", "cycles", "software page-table walk and PTE lock", k.pgtable_walk),
      bind("kernel.cost.pgtable_alloc", "cycles", "allocate and clear one page-table page", k.pgtable_alloc),
      bind("kernel.cost.frame_alloc", "cycles", "allocate one 4 KiB frame", k.frame_alloc),
      bind("kernel.cost.zero_bandwidth", "bytes/cycle", "clearing memory (zero-fill, huge pages)", k.zero_bandwidth),
      bind("kernel.cost.copy_bandwidth", "bytes/cycle", "copying memory (copy-on-write)", k.copy_bandwidth),
      bind("kernel.cost.pte_update", "cycles", "write one PTE", k.pte_update),
      bind("kernel.cost.rmap_update", "cycles", "add or remove one reverse mapping", k.rmap_update),
      bind("kernel.cost.tlb_flush_local", "cycles", "INVLPG of one page", k.tlb_flush_local),
      bind("kernel.cost.fork_per_pte", "cycles", "fork: copy one present PTE", k.fork_per_pte),
      bind("kernel.cost.signal_delivery", "cycles", "deliver SIGSEGV/SIGBUS", k.signal_delivery),
      bind("kernel.cost.context_switch", "cycles", "scheduler and switch_to, CR3 write apart", k.context_switch),
      bind("kernel.cost.ipi_send", "cycles", "shootdown: send one IPI (per target)", k.ipi_send),
      bind("kernel.cost.ipi_delivery", "cycles", "shootdown: IPI sent until the target takes it", k.ipi_delivery),
      bind("kernel.cost.ipi_entry", "cycles", "shootdown target: interrupt entry", k.ipi_entry),
      bind("kernel.cost.ipi_exit", "cycles", "shootdown target: interrupt exit", k.ipi_exit),
      bind("kernel.cost.ipi_ack", "cycles", "shootdown: acknowledgement reaches the initiator", k.ipi_ack),
      bind("kernel.automap_exec", "bool", "automapped pages are executable", c.kernel.automap_exec),
      bind("kernel.tlb_flush_ceiling", "pages", "a TLB flush of more pages flushes the whole address space",
           c.kernel.tlb_flush_ceiling),
      bind("kernel.fault_around_pages", "pages", "pages a file read fault maps around it", c.kernel.fault_around_pages),
      bind("kernel.file_folio_pages", "pages", "page-cache folio size", c.kernel.file_folio_pages),
      bind_enum("kernel.thp", "transparent huge pages for anonymous memory", c.kernel.thp,
                std::array{"never", "madvise", "always"}),
      bind("kernel.thp_use_zero_page", "bool", "THP read faults map the huge zero page", c.kernel.thp_use_zero_page),
      bind_enum("kernel.cow", "copy-on-write: at the first write, or at map time", c.kernel.cow,
                std::array{"lazy", "eager"}),
  };
  bind_cache(out, "l1d", "L1 data cache", c.cache.l1d);
  bind_cache(out, "l2", "L2 cache", c.cache.l2);
  bind_cache(out, "llc", "last-level cache", c.cache.llc);
  bind_tlb(out, "l1d", "L1 data TLB", c.tlb.l1d);
  bind_tlb(out, "l1i", "L1 instruction TLB", c.tlb.l1i);
  bind_tlb(out, "l2", "L2 TLB (STLB)", c.tlb.l2);
  bind_tlb(out, "l2i", "L2 instruction TLB", c.tlb.l2i);
  // A paging-structure cache level with 0 entries is off.
  bind_array(out, "psc.pml5e", "PML5E paging-structure cache", c.psc.pml5e);
  bind_array(out, "psc.pml4e", "PML4E paging-structure cache", c.psc.pml4e);
  bind_array(out, "psc.pdpte", "PDPTE paging-structure cache", c.psc.pdpte);
  bind_array(out, "psc.pde", "PDE paging-structure cache", c.psc.pde);
  return out;
}

void set(Config& cfg, std::string_view assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string_view::npos)
    throw ConfigError(fmt::format("'{}': expected KEY=VALUE", assignment));
  const std::string_view key = trim(assignment.substr(0, eq));
  const std::string_view value = trim(assignment.substr(eq + 1));
  for (auto& p : params(cfg)) {
    if (p.key == key) {
      p.set(value);
      return;
    }
  }
  throw ConfigError(fmt::format("unknown configuration key '{}' (`mmusim config` lists them)", key));
}

void load_file(Config& cfg, const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(fmt::format("{}: error: cannot open configuration file", path));
  std::string line;
  // A key given twice in one file is a mistake (which value was meant?), not an override.
  std::map<std::string, unsigned, std::less<>> first_line;
  for (unsigned n = 1; std::getline(in, line); ++n) {
    std::string_view s = line;
    if (auto hash = s.find('#'); hash != std::string_view::npos) s = s.substr(0, hash);
    s = trim(s);
    if (s.empty()) continue;
    try {
      set(cfg, s);
      const std::string key(trim(s.substr(0, s.find('='))));
      if (const auto [it, fresh] = first_line.emplace(key, n); !fresh)
        throw ConfigError(fmt::format("{}: set twice in this file (first on line {})", key, it->second));
    } catch (const ConfigError& e) {
      throw ConfigError(fmt::format("{}:{}: error: {}", path, n, e.what()));
    }
  }
}

void validate(const Config& c) {
  // One set-associative array: ways divide entries into a power-of-two number of
  // sets. `may_be_off`: 0 entries switch the array off (a paging-structure cache level).
  auto check_array = [](const std::string& key, const TlbArrayConfig& t, bool may_be_off) {
    if (may_be_off && t.entries == 0) return;
    if (t.entries == 0) throw ConfigError(fmt::format("{}.entries: must be nonzero", key));
    if (t.ways == 0) throw ConfigError(fmt::format("{}.ways: must be nonzero", key));
    if (t.entries % t.ways != 0)
      throw ConfigError(fmt::format("{}.ways: {} ways do not divide {} entries", key, t.ways, t.entries));
    const unsigned sets = t.entries / t.ways;
    if ((sets & (sets - 1)) != 0)
      throw ConfigError(fmt::format("{}.entries: {} entries / {} ways = {} sets, not a power of two", key, t.entries,
                                    t.ways, sets));
    // A bound well above any real TLB, so that a typo is an error, not an allocation failure.
    if (t.entries > kMaxTlbEntries)
      throw ConfigError(fmt::format("{}.entries: {} is more than {}", key, t.entries, kMaxTlbEntries));
  };
  for (const auto& [name, t, required] :
       {std::tuple{"l1d", &c.tlb.l1d, true}, std::tuple{"l1i", &c.tlb.l1i, true},
        std::tuple{"l2", &c.tlb.l2, false}, std::tuple{"l2i", &c.tlb.l2i, false}}) {
    const std::string prefix = std::string("tlb.") + name;
    const auto arrays = arrays_of(*t);
    if (t->a4k.entries == 0) {
      if (required) throw ConfigError(fmt::format("{}.4k.entries: must be nonzero", prefix));
      for (size_t i = 1; i < arrays.size(); ++i)
        if (arrays[i]->entries != 0)
          throw ConfigError(fmt::format("{}.{}.entries: the level is absent ({}.4k.entries = 0), so it must be 0",
                                        prefix, kTlbArrayNames[i], prefix));
      continue;
    }
    // The arrays a shared organisation folds into the 4k one must be empty.
    for (size_t i = 1; i < arrays.size(); ++i) {
      const bool folded = t->arrays == TlbArrays::Unified || (i == 1 && t->arrays == TlbArrays::Shared4k2m);
      if (folded && arrays[i]->entries != 0)
        throw ConfigError(fmt::format("{0}.{1}.entries: with {0}.arrays = {2} the 4k array holds {1} pages, so "
                                      "this must be 0", prefix, kTlbArrayNames[i],
                                      kTlbArraysNames[static_cast<size_t>(t->arrays)]));
    }
    for (size_t i = 0; i < arrays.size(); ++i) {
      const std::string key = prefix + "." + kTlbArrayNames[i];
      check_array(key, *arrays[i], i > 0);
      const unsigned ways = arrays[i]->ways;
      if (arrays[i]->entries && arrays[i]->replacement == tlb::Replacement::TreePlru &&
          ((ways & (ways - 1)) != 0 || ways > 64))
        throw ConfigError(fmt::format("{}.replacement: plru needs a power-of-two number of ways (at most 64), "
                                      "not {}", key, ways));
    }
    if (name != std::string_view("l1d") && name != std::string_view("l1i") && t->latency_cycles == 0)
      throw ConfigError(fmt::format("{}.latency: must be at least 1 cycle", prefix));
  }
  for (const auto& [name, l] : {std::pair{"l1d", &c.cache.l1d}, std::pair{"l2", &c.cache.l2},
                                std::pair{"llc", &c.cache.llc}}) {
    const std::string prefix = std::string("cache.") + name;
    if (l->sets == 0 || (l->sets & (l->sets - 1)) != 0)
      throw ConfigError(fmt::format("{}.sets: {} is not a power of two", prefix, l->sets));
    if (l->ways == 0) throw ConfigError(fmt::format("{}.ways: must be nonzero", prefix));
    // The model keeps tag state per line: bound the size well above any real cache
    // (512 MiB of 64-byte lines) so that a typo is an error, not an allocation failure.
    if (static_cast<u64>(l->sets) * l->ways > kMaxCacheLines)
      throw ConfigError(fmt::format("{}.ways: {} sets x {} ways is more than {} lines", prefix, l->sets, l->ways,
                                    kMaxCacheLines));
    if (l->line_bytes < 8 || l->line_bytes > 4096 || (l->line_bytes & (l->line_bytes - 1)) != 0)
      throw ConfigError(fmt::format("{}.line: {} is not a power of two from 8 to 4096 bytes", prefix, l->line_bytes));
    if (l->latency_cycles == 0) throw ConfigError(fmt::format("{}.latency: must be at least 1 cycle", prefix));
  }
  if (c.cache.dram_latency_cycles == 0) throw ConfigError("cache.dram_latency: must be at least 1 cycle");
  // A line moves between levels whole (memory_timing.hpp), so the levels share one line
  // size; and a level further from the core is no faster than the one above it.
  if (c.cache.l2.line_bytes != c.cache.l1d.line_bytes || c.cache.llc.line_bytes != c.cache.l1d.line_bytes)
    throw ConfigError(fmt::format("cache.{}.line: every level must have the line size of cache.l1d.line ({} bytes)",
                                  c.cache.l2.line_bytes != c.cache.l1d.line_bytes ? "l2" : "llc",
                                  c.cache.l1d.line_bytes));
  if (c.cache.l2.latency_cycles < c.cache.l1d.latency_cycles)
    throw ConfigError("cache.l2.latency: less than cache.l1d.latency");
  if (c.cache.llc.latency_cycles < c.cache.l2.latency_cycles)
    throw ConfigError("cache.llc.latency: less than cache.l2.latency");
  if (c.cache.dram_latency_cycles < c.cache.llc.latency_cycles)
    throw ConfigError("cache.dram_latency: less than cache.llc.latency");
  for (const auto& [name, t] : {std::pair{"pml5e", &c.psc.pml5e}, std::pair{"pml4e", &c.psc.pml4e},
                                std::pair{"pdpte", &c.psc.pdpte}, std::pair{"pde", &c.psc.pde}})
    check_array(std::string("psc.") + name, *t, true);
  if (c.mem.maxphyaddr < 32 || c.mem.maxphyaddr > 52)
    throw ConfigError(fmt::format("mem.maxphyaddr: {} is outside 32..52", c.mem.maxphyaddr));
  if (c.mem.size_bytes < (1ull << 20) || c.mem.size_bytes % 4096 != 0)
    throw ConfigError("mem.size: must be a multiple of 4 KiB and at least 1M");
  if (c.mem.size_bytes > (1ull << c.mem.maxphyaddr))
    throw ConfigError("mem.size: larger than 2^mem.maxphyaddr");
  if (c.mem.latency_cycles == 0) throw ConfigError("mem.latency: must be at least 1 cycle");
  if (c.core.quantum_cycles == 0) throw ConfigError("core.quantum_cycles: must be at least 1");
  if (c.cores == 0 || c.cores > kMaxCores)
    throw ConfigError(fmt::format("cores: {} is outside 1..{}", c.cores, kMaxCores));
  auto power_of_two_pages = [](const char* key, unsigned v) {
    if (v == 0 || v > 512 || (v & (v - 1)) != 0)
      throw ConfigError(fmt::format("{}: {} is not a power of two from 1 to 512 pages", key, v));
  };
  power_of_two_pages("kernel.fault_around_pages", c.kernel.fault_around_pages);
  power_of_two_pages("kernel.file_folio_pages", c.kernel.file_folio_pages);
}

nlohmann::json to_json(Config& cfg) {
  nlohmann::json j = nlohmann::json::object();
  for (auto& p : params(cfg)) j[p.key] = p.get();
  return j;
}

}  // namespace mmusim::config
