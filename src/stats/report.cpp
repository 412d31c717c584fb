#include "stats/report.hpp"

#include <iterator>
#include <vector>
#include <ostream>

#include <fmt/format.h>

#include "kernel/kernel.hpp"
#include "kernel/page.hpp"

namespace mmusim::stats {
namespace {

const char* psc_name(mmu::Level l) {
  switch (l) {
    case mmu::Level::PML5E: return "pml5e";
    case mmu::Level::PML4E: return "pml4e";
    case mmu::Level::PDPTE: return "pdpte";
    default: return "pde";
  }
}

constexpr const char* kPageSizeNames[3] = {"4k", "2m", "1g"};
constexpr const char* kTlbArraysNames[3] = {"split", "4k+2m", "unified"};
constexpr const char* kReplacementNames[4] = {"lru", "plru", "random", "srrip"};

// One TLB level: its lookups, its arrays, and per page size hits, misses, fills,
// evictions and invalidations by cause (issue 4, counters).
nlohmann::json tlb_json(const tlb::Tlb& t) {
  const tlb::LevelStats& s = t.stats();
  nlohmann::json arrays = nlohmann::json::array();
  for (unsigned i = 0; i < t.array_count(); ++i) {
    const tlb::TlbArray& a = t.array(i);
    nlohmann::json holds = nlohmann::json::array();
    for (unsigned sz = 0; sz < 3; ++sz)
      if (t.holds(i) & (1u << sz)) holds.push_back(kPageSizeNames[sz]);
    arrays.push_back({{"name", a.name()}, {"entries", a.entries()}, {"ways", a.ways()},
                      {"replacement", kReplacementNames[static_cast<unsigned>(a.policy())]},
                      {"holds", std::move(holds)}});
  }
  nlohmann::json by_size = nlohmann::json::object();
  for (unsigned sz = 0; sz < 3; ++sz) {
    const tlb::SizeStats ss = t.size_stats(static_cast<mmu::PageSize>(sz));
    nlohmann::json causes = nlohmann::json::object();
    for (unsigned c = 0; c < tlb::kFlushCauses; ++c) causes[tlb::kFlushNames[c]] = ss.invalidations[c];
    by_size[kPageSizeNames[sz]] = {{"hits", ss.hits}, {"misses", s.misses_by_size[sz]}, {"fills", ss.fills},
                                   {"evictions", ss.evictions}, {"invalidations", std::move(causes)}};
  }
  return {{"organisation", kTlbArraysNames[static_cast<unsigned>(t.organisation())]},
          {"latency_cycles", t.latency_cycles()},
          {"lookups", s.lookups},
          {"hits", s.hits},
          {"misses", s.misses},
          {"arrays", std::move(arrays)},
          {"by_page_size", std::move(by_size)}};
}

// The TLB levels a run has, in lookup order.
std::vector<const tlb::Tlb*> tlb_levels(const mmu::Mmu& m) {
  std::vector<const tlb::Tlb*> out = {&m.l1d(), &m.l1i()};
  if (m.l2()) out.push_back(m.l2());
  if (m.l2i()) out.push_back(m.l2i());
  return out;
}

// Where accesses of `who` were served, by level name.
nlohmann::json served_json(const hw::MemoryTiming& t, hw::Requester who) {
  nlohmann::json j = nlohmann::json::object();
  for (size_t l = 0; l < hw::kServedByCount; ++l) j[hw::name(static_cast<hw::ServedBy>(l))] = t.served(who, static_cast<hw::ServedBy>(l));
  return j;
}

nlohmann::json memory_timing_json(const hw::MemoryTiming& t) {
  nlohmann::json j = {{"model", t.model() == config::MemoryModel::Fixed ? "fixed" : "caches"},
                      {"data_through_caches", t.data_through_caches()},
                      {"page_walk", served_json(t, hw::Requester::PageWalk)},
                      {"data", served_json(t, hw::Requester::Data)}};
  if (t.model() == config::MemoryModel::Caches) {
    nlohmann::json caches = nlohmann::json::object();
    for (hw::ServedBy l : {hw::ServedBy::L1d, hw::ServedBy::L2, hw::ServedBy::Llc}) {
      const hw::Cache::Stats& c = t.level(l).stats();
      caches[hw::name(l)] = {{"hits", c.hits}, {"misses", c.misses}, {"fills", c.fills},
                             {"evictions", c.evictions}, {"writebacks", c.writebacks}};
    }
    j["caches"] = std::move(caches);
  }
  return j;
}

// Resolution kinds in the order the reports list them.
constexpr kernel::Resolution kSummaryKinds[] = {
    kernel::Resolution::AnonymousPage, kernel::Resolution::ZeroPage, kernel::Resolution::CowCopy,
    kernel::Resolution::CowReuse,      kernel::Resolution::PageCache, kernel::Resolution::Spurious,
    kernel::Resolution::Sigsegv,       kernel::Resolution::Sigbus,    kernel::Resolution::Oom};
static_assert(std::size(kSummaryKinds) == kernel::kResolutionCount, "every fault kind is reported");

nlohmann::json task_json(const kernel::TaskCounters& c) {
  nlohmann::json by = nlohmann::json::object();
  for (kernel::Resolution r : kSummaryKinds) by[std::string(kernel::to_string(r))] = c.by_resolution[static_cast<size_t>(r)];
  return {{"minflt", c.minflt},
          {"majflt", c.majflt},
          {"automaps", c.automaps},
          {"fault_cycles", c.fault_cycles},
          {"faults", std::move(by)},
          {"context_switches", c.context_switches},
          {"shootdowns", {{"sent", c.shootdowns},
                          {"ipis_sent", c.ipis_sent},
                          {"wait_cycles", c.ipi_wait_cycles},
                          {"ipis_received", c.ipis_received},
                          {"handler_cycles", c.ipi_handler_cycles},
                          {"tlb_entries_lost", c.tlb_entries_shot}}}};
}

nlohmann::json cycles_json(const std::array<u64, static_cast<size_t>(CycleKind::Count)>& cycles) {
  nlohmann::json j = nlohmann::json::object();
  u64 total = 0;
  for (size_t i = 0; i < cycles.size(); ++i) {
    j[std::string(kCycleKindNames[i])] = cycles[i];
    total += cycles[i];
  }
  j["total"] = total;
  return j;
}

// A latency distribution in nanoseconds at the configured clock: the same keys as
// LatencyHistogram::to_json (count apart, which has no unit).
nlohmann::json latency_ns_json(const LatencyHistogram& h, const config::Config& cfg) {
  nlohmann::json j = h.to_json();
  for (auto& [key, value] : j.items())
    if (key != "count") value = value.get<double>() / cfg.core.frequency_ghz;
  return j;
}

// The paging-structure caches, one object per level (SDM §4.10.3), lowest first.
nlohmann::json psc_json(const mmu::PagingStructureCache& p) {
  nlohmann::json j = nlohmann::json::object();
  for (mmu::Level l : mmu::PagingStructureCache::kLevels) {
    const mmu::PscArrayStats& s = p.stats(l);
    j[std::string(psc_name(l))] = {{"entries", p.geometry(l).entries}, {"ways", p.geometry(l).ways},
                                   {"hits", s.hits}, {"misses", s.misses}, {"fills", s.fills},
                                   {"evictions", s.evictions}, {"invalidations", s.invalidations}};
  }
  return j;
}

std::string percent(u64 part, u64 whole) {
  return whole ? fmt::format("{:.1f}%", 100.0 * static_cast<double>(part) / static_cast<double>(whole)) : "-";
}

// One core's translation hardware: its TLBs, walks, memory timing and PSCs.
void hardware_json(nlohmann::json& j, const hw::System& sys, unsigned cpu) {
  const mmu::Mmu& m = sys.mmu(cpu);
  nlohmann::json tlb = {{"rewalks_rights", m.stats().rewalks_rights}, {"rewalks_dirty", m.stats().rewalks_dirty}};
  for (const tlb::Tlb* t : tlb_levels(m)) tlb[t->basename()] = tlb_json(*t);
  j["tlb"] = std::move(tlb);
  const mmu::WalkStats& w = m.walker.stats();
  j["walks"] = {{"count", w.walks}, {"entry_loads", w.loads}, {"dmi_loads", w.dmi_loads}, {"ad_writes", w.ad_writes},
                {"cycles", w.cycles}, {"faults", w.faults}, {"partial_walks", w.partial_walks},
                {"levels_skipped", w.levels_skipped}, {"latency", m.walk_latency().to_json()},
                {"served", served_json(sys.timing(cpu), hw::Requester::PageWalk)}};
  j["memory"] = memory_timing_json(sys.timing(cpu));
  j["psc"] = psc_json(m.psc());
}

// One core's clock, what it did, and its part in context switches and TLB shootdowns.
nlohmann::json cpu_json(const hw::System& sys, unsigned cpu) {
  const hw::Core& c = sys.core(cpu);
  const RunStats& s = c.stats();
  nlohmann::json j = {{"cpu", cpu},
                      {"clock_cycles", c.clock()},
                      {"idle_cycles", s.idle_cycles},
                      {"cycles", cycles_json(s.cycles)},
                      {"accesses", s.accesses},
                      {"page_faults", s.page_faults},
                      {"context_switches", s.context_switches},
                      {"cr3_loads", s.cr3_loads},
                      {"cr3_flushes", s.cr3_flushes},
                      {"switch_tlb_entries_lost", s.switch_tlb_entries_lost},
                      {"shootdowns", {{"sent", s.shootdowns_sent},
                                      {"ipis_sent", s.ipis_sent},
                                      {"wait_cycles", s.ipi_wait_cycles},
                                      {"ipis_received", s.ipis_received},
                                      {"handler_cycles", s.cycles[static_cast<size_t>(CycleKind::Ipi)]},
                                      {"tlb_entries_lost", s.tlb_entries_shot}}}};
  if (const kernel::X86Tlb* t = sys.kernel_tlb()) {
    const kernel::CpuTlbCounters& k = t->counters(cpu);
    j["kernel_tlb"] = {{"switch_cr3_writes", k.cr3_writes}, {"switch_cr3_noflush", k.cr3_noflush},
                       {"asid_reuses", k.asid_reuses}, {"flushes_initiated", k.flushes_initiated},
                       {"lazy_skips", k.lazy_skips}, {"page_flushes", k.local_page_flushes},
                       {"full_flushes", k.local_full_flushes}};
  }
  if (sys.cores() > 1) hardware_json(j, sys, cpu);
  return j;
}

}  // namespace

nlohmann::json run_json(const hw::System& sys, config::Config& cfg, const std::string& trace) {
  const RunStats s = sys.stats();
  nlohmann::json j;
  // Keys are only added within a version, never renamed or removed (docs/outputs.md).
  j["stats_version"] = 1;
  j["mmusim_version"] = MMUSIM_VERSION;
  j["trace"] = trace;
  j["mode"] = sys.bare_mode() ? "bare" : "os";
  j["config"] = config::to_json(cfg);
  j["accesses"] = {{"total", s.accesses}, {"reads", s.reads}, {"writes", s.writes},
                   {"fetches", s.fetches}, {"page_splits", s.page_splits}};
  // One core: its hardware at the top level, as before there were several. Several:
  // each core's under `cpus`.
  if (sys.cores() == 1) hardware_json(j, sys, 0);
  nlohmann::json cpus = nlohmann::json::array();
  for (unsigned c = 0; c < sys.cores(); ++c) cpus.push_back(cpu_json(sys, c));
  j["cpus"] = std::move(cpus);
  u64 noncanonical = 0;
  for (unsigned c = 0; c < sys.cores(); ++c) noncanonical += sys.mmu(c).stats().noncanonical;
  j["exceptions"] = {{"page_faults", s.page_faults}, {"gp", s.gp_faults}, {"ss", s.ss_faults},
                     {"noncanonical", noncanonical}};
  nlohmann::json faults = nlohmann::json::object();
  for (kernel::Resolution r : kSummaryKinds) {
    const FaultKindStats& f = s.faults[static_cast<size_t>(r)];
    faults[std::string(kernel::to_string(r))] = {{"count", f.count},
                                                 {"cycles", f.cycles},
                                                 {"max_cycles", f.max_cycles},
                                                 {"latency", f.latency.to_json()},
                                                 {"latency_ns", latency_ns_json(f.latency, cfg)}};
  }
  faults["pmd_level"] = s.huge_faults;
  j["faults"] = std::move(faults);
  j["cycles"] = cycles_json(s.cycles);
  j["elapsed_cycles"] = sys.elapsed_cycles();
  j["simulated_ns"] = cfg.cycles_to_ns(sys.elapsed_cycles());
  j["context_switches"] = s.context_switches;
  j["cr3_loads"] = s.cr3_loads;
  j["switch_tlb_entries_lost"] = s.switch_tlb_entries_lost;
  j["shootdowns"] = {{"sent", s.shootdowns_sent}, {"ipis", s.ipis_sent}, {"wait_cycles", s.ipi_wait_cycles},
                     {"handler_cycles", s.cycles[static_cast<size_t>(CycleKind::Ipi)]},
                     {"tlb_entries_lost", s.tlb_entries_shot}};
  j["signals"] = s.signals;
  j["skipped_lines"] = s.skipped;
  j["expectations"] = {{"checked", s.expectations}, {"failed", s.expectations_failed}};
  if (const kernel::Kernel* k = sys.kernel()) {
    nlohmann::json procs = nlohmann::json::object();
    for (std::uint32_t pid : sys.known_pids()) {
      nlohmann::json t = task_json(k->counters(pid));
      t["alive"] = k->exists(pid);
      procs[std::to_string(pid)] = std::move(t);
    }
    j["processes"] = std::move(procs);
    // Memory the modelled kernel holds at the end of the run, in 4 KiB frames (the
    // zero page, page tables, anonymous pages and page caches), and its peak: what
    // kernel.cow=eager and lazy copy-on-write are compared by.
    j["kernel"] = {{"frames_in_use", k->frames().in_use()},
                   {"page_cache_frames", k->page_cache_frames()},
                   {"peak_frames_in_use", k->frames().peak_in_use()}};
  }
  nlohmann::json phases = nlohmann::json::array();
  for (const Phase& p : s.phases) {
    nlohmann::json tasks = nlohmann::json::object();
    for (const auto& [pid, c] : p.tasks) tasks[std::to_string(pid)] = task_json(c);
    phases.push_back({{"name", p.name},
                      {"start_line", p.start_line},
                      {"accesses", p.counters.accesses},
                      {"translations", p.counters.translations},
                      {"tlb_hits", p.counters.tlb_hits},
                      {"page_faults", p.counters.page_faults},
                      {"cycles", cycles_json(p.counters.cycles)},
                      {"processes", std::move(tasks)}});
  }
  j["phases"] = std::move(phases);
  j["physical_memory"] = {{"resident_frames", sys.store().resident_frames()},
                          {"transactions", sys.memory().transactions()}};
  return j;
}

namespace {

// A core's TLBs, walks and paging-structure caches, as summary lines.
void print_hardware(std::ostream& out, const mmu::Mmu& m) {
  for (const tlb::Tlb* t : tlb_levels(m)) {
    const tlb::LevelStats& ts = t->stats();
    std::string by_size;
    for (unsigned sz = 0; sz < 3; ++sz)
      by_size += fmt::format("{}{} {}", sz ? ", " : "", kPageSizeNames[sz], ts.misses_by_size[sz]);
    u64 evictions = 0, invalidations = 0;
    for (unsigned sz = 0; sz < 3; ++sz) {
      const tlb::SizeStats ss = t->size_stats(static_cast<mmu::PageSize>(sz));
      evictions += ss.evictions;
      invalidations += ss.invalidated();
    }
    out << fmt::format("TLB {:<9} {} lookups, {} misses ({} miss rate; by page size {}), {} evictions, "
                       "{} invalidations\n",
                       t->basename(), ts.lookups, ts.misses, percent(ts.misses, ts.lookups), by_size, evictions,
                       invalidations);
  }
  const mmu::WalkStats& w = m.walker.stats();
  const LatencyHistogram& wl = m.walk_latency();
  out << fmt::format("walks         {} ({} entry loads, {} A/D updates, {} ended in a fault); latency {:.1f} cycles "
                     "average, p99 {}, max {}\n",
                     w.walks, w.loads, w.ad_writes, w.faults, wl.mean(), wl.percentile(0.99), wl.max());
  if (w.loads + w.ad_writes) {
    std::string where;
    for (size_t l = 0; l < hw::kServedByCount; ++l)
      if (w.served[l])
        where += fmt::format("{}{} {}", where.empty() ? "" : ", ", hw::name(static_cast<hw::ServedBy>(l)),
                             percent(w.served[l], w.loads + w.ad_writes));
    out << fmt::format("  entries from {}\n", where);
  }
  std::string psc;
  for (mmu::Level l : mmu::PagingStructureCache::kLevels) {
    const mmu::PscArrayStats& ps = m.psc().stats(l);
    if (m.psc().enabled(l))
      psc += fmt::format("{}{} {}/{}", psc.empty() ? "" : ", ", psc_name(l), ps.hits, ps.hits + ps.misses);
  }
  out << fmt::format("PSC           {} walks started part-way, {} levels skipped (hits/lookups: {})\n",
                     w.partial_walks, w.levels_skipped, psc.empty() ? "disabled" : psc);
}

}  // namespace

void print_summary(std::ostream& out, const hw::System& sys, const std::string& trace) {
  const RunStats s = sys.stats();
  const config::Config& cfg = sys.config();
  out << fmt::format("\n== mmusim summary: {} ({} mode{}) ==\n", trace, sys.bare_mode() ? "bare" : "OS",
                     sys.cores() > 1 ? fmt::format(", {} cores", sys.cores()) : "");
  out << fmt::format("accesses      {} (reads {}, writes {}, fetches {}; {} crossed a page)\n", s.accesses, s.reads,
                     s.writes, s.fetches, s.page_splits);
  if (sys.cores() == 1) print_hardware(out, sys.mmu(0));
  for (unsigned c = 0; sys.cores() > 1 && c < sys.cores(); ++c) {
    const RunStats& cs = sys.core(c).stats();
    out << fmt::format("cpu {:<9} {} accesses, {} busy + {} idle cycles; {} context switches, {} CR3 loads ({} "
                       "flushing); shootdowns: {} sent ({} IPIs, {} cycles waiting), {} IPIs taken ({} cycles, {} "
                       "TLB entries lost)\n",
                       c, cs.accesses, cs.total_cycles(), cs.idle_cycles, cs.context_switches, cs.cr3_loads,
                       cs.cr3_flushes, cs.shootdowns_sent, cs.ipis_sent, cs.ipi_wait_cycles, cs.ipis_received,
                       cs.cycles[static_cast<size_t>(CycleKind::Ipi)], cs.tlb_entries_shot);
    print_hardware(out, sys.mmu(c));
  }
  out << fmt::format("exceptions    {} #PF, {} #GP, {} #SS\n", s.page_faults, s.gp_faults, s.ss_faults);
  if (sys.kernel()) {
    std::string kinds;
    for (kernel::Resolution r : kSummaryKinds) {
      const FaultKindStats& f = s.faults[static_cast<size_t>(r)];
      const bool always = r == kernel::Resolution::AnonymousPage || r == kernel::Resolution::ZeroPage ||
                          r == kernel::Resolution::CowCopy || r == kernel::Resolution::CowReuse ||
                          r == kernel::Resolution::Sigsegv;
      if (f.count || always)
        kinds += fmt::format("{}{} {}", kinds.empty() ? "" : ", ", kernel::to_string(r), f.count);
    }
    if (s.huge_faults) kinds += fmt::format(" ({} at PMD level: 2 MiB)", s.huge_faults);
    out << fmt::format("faults        {}\n", kinds);
    // Each kind's latency distribution, in µs at the configured clock.
    out << fmt::format("{:<27} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}   (us)\n", "fault latency", "count",
                       "mean", "p50", "p90", "p99", "p99.9", "max");
    const auto us = [&](double cycles) { return cycles / cfg.core.frequency_ghz / 1000.0; };
    for (kernel::Resolution r : kSummaryKinds) {
      const LatencyHistogram& h = s.faults[static_cast<size_t>(r)].latency;
      if (!h.count()) continue;
      out << fmt::format("  {:<25} {:>8} {:>9.3f} {:>9.3f} {:>9.3f} {:>9.3f} {:>9.3f} {:>9.3f}\n", kernel::to_string(r),
                         h.count(), us(h.mean()), us(static_cast<double>(h.percentile(0.5))),
                         us(static_cast<double>(h.percentile(0.9))), us(static_cast<double>(h.percentile(0.99))),
                         us(static_cast<double>(h.percentile(0.999))), us(static_cast<double>(h.max())));
    }
    const kernel::Kernel& k = *sys.kernel();
    out << fmt::format("memory        {} frames in use ({} in page caches), peak {}\n", k.frames().in_use(),
                       k.page_cache_frames(), k.frames().peak_in_use());
  }
  std::string parts;
  for (size_t i = 0; i < s.cycles.size(); ++i)
    if (s.cycles[i]) parts += fmt::format("{}{} {}", parts.empty() ? "" : ", ", kCycleKindNames[i], s.cycles[i]);
  out << fmt::format("cycles        {} ({:.3f} us at {} GHz): {}\n", s.total_cycles(),
                     cfg.cycles_to_ns(s.total_cycles()) / 1000.0, cfg.core.frequency_ghz, parts);
  if (sys.cores() > 1)
    out << fmt::format("elapsed       {} cycles ({:.3f} us): the latest core clock; cycles above add up every "
                       "core's busy time\n",
                       sys.elapsed_cycles(), cfg.cycles_to_ns(sys.elapsed_cycles()) / 1000.0);
  if (s.expectations)
    out << fmt::format("expectations  {} checked, {} failed\n", s.expectations, s.expectations_failed);
  if (s.skipped) out << fmt::format("skipped       {} lines (--keep-going)\n", s.skipped);

  // Phases, when the trace marks any: what each one cost, and each task's faults.
  if (s.phases.size() > 1) {
    out << "phases (mark)\n";
    for (const Phase& p : s.phases) {
      u64 cycles = 0;
      for (u64 c : p.counters.cycles) cycles += c;
      std::string faults;
      for (const auto& [pid, c] : p.tasks)
        if (c.minflt) faults += fmt::format("{}pid {}: {}", faults.empty() ? "" : ", ", pid, c.minflt);
      out << fmt::format("  line {:<6} {:>9} accesses {:>11} cycles  minflt {:<14} {}\n", p.start_line,
                         p.counters.accesses, cycles, faults.empty() ? "0" : faults,
                         p.name.empty() ? "(start)" : "\"" + p.name + "\"");
    }
  }

  // The first fault of each kind, with the kernel path that handled it, innermost
  // first as a kernel stack trace reads, and the cost steps that add up to its total.
  for (const auto& [kind, ex] : sys.fault_examples()) {
    const kernel::FaultRecord& r = ex.record;
    out << fmt::format("\nfirst {} fault: line {}, pid {}, address {:#x}, error code {:#x}: {} cycles ({:.2f} us)\n",
                       kernel::to_string(kind), ex.line, ex.pid, r.address, r.error_code, r.total_cycles,
                       cfg.cycles_to_ns(r.total_cycles) / 1000.0);
    out << "  kernel path (innermost first; cycles include callees):\n";
    for (const auto& f : r.path) out << fmt::format("    {:<22} {:>8}\n", f.function, f.cycles);
    std::string steps;
    for (const auto& st : r.steps) steps += fmt::format("{}{} {}", steps.empty() ? "" : ", ", st.name, st.cycles);
    out << "  steps: " << steps << '\n';
  }
}

}  // namespace mmusim::stats
