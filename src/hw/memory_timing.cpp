#include "hw/memory_timing.hpp"

#include <stdexcept>
#include <string>

namespace mmusim::hw {

const char* name(ServedBy level) {
  switch (level) {
    case ServedBy::L1d: return "l1d";
    case ServedBy::L2: return "l2";
    case ServedBy::Llc: return "llc";
    case ServedBy::Dram: return "dram";
    case ServedBy::Fixed: return "fixed";
  }
  return "?";
}

const char* name(Requester who) {
  switch (who) {
    case Requester::PageWalk: return "page_walk";
    case Requester::Data: return "data";
  }
  return "?";
}

namespace {
Cache make_cache(const config::CacheLevelConfig& c) { return Cache(c.sets, c.ways, c.line_bytes); }
}  // namespace

MemoryTiming::MemoryTiming(const config::Config& cfg, Cache& llc) : MemoryTiming(cfg, nullptr, &llc) {}

MemoryTiming::MemoryTiming(const config::Config& cfg)
    : MemoryTiming(cfg, std::make_unique<Cache>(make_cache(cfg.cache.llc)), nullptr) {}

MemoryTiming::MemoryTiming(const config::Config& cfg, std::unique_ptr<Cache> own_llc, Cache* shared_llc)
    : fixed_(cfg.mem.model == config::MemoryModel::Fixed),
      data_through_caches_(cfg.cache.data),
      latency_cycles_{cfg.cache.l1d.latency_cycles, cfg.cache.l2.latency_cycles, cfg.cache.llc.latency_cycles,
                      cfg.cache.dram_latency_cycles, cfg.mem.latency_cycles},
      own_llc_(std::move(own_llc)),
      l1d_(make_cache(cfg.cache.l1d)),
      l2_(make_cache(cfg.cache.l2)),
      llc_(shared_llc ? *shared_llc : *own_llc_) {}

Served MemoryTiming::miss(std::uint64_t pa, bool write, Requester who) {
  // Not the MRU line of its L1D set. Each level that misses installs the line in the
  // pass that looked for it (the line is filled into every level above the one that
  // serves it). The write itself lands in L1D, so the levels below are only read.
  const Cache::Outcome l1 = l1d_.access(pa, write);
  if (l1.hit) return count(who, ServedBy::L1d);
  ServedBy by = ServedBy::L2;
  const Cache::Outcome l2 = l2_.access(pa, false);
  if (!l2.hit) {
    const Cache::Outcome llc = llc_.access(pa, false);
    by = llc.hit ? ServedBy::Llc : ServedBy::Dram;
    write_back(ServedBy::Llc, llc.written_back);
  }
  // Lowest level first, the way the line travels up; a victim written back from a
  // level lands in the one below, which already holds the new line.
  write_back(ServedBy::L2, l2.written_back);
  write_back(ServedBy::L1d, l1.written_back);
  return count(who, by);
}

void MemoryTiming::write_back(ServedBy from, std::optional<std::uint64_t> victim_pa) {
  // Write-allocate at every level: the written-back line is filled dirty into the next
  // level, whose own dirty victim goes on down. The LLC's go to DRAM, which keeps no
  // state: its Cache::Stats::writebacks is the count of DRAM writes.
  if (!victim_pa) return;
  if (from == ServedBy::L1d)
    write_back(ServedBy::L2, l2_.fill(*victim_pa, true));
  else if (from == ServedBy::L2)
    write_back(ServedBy::Llc, llc_.fill(*victim_pa, true));
}

void MemoryTiming::invalidate_all() {
  l1d_.invalidate_all();
  l2_.invalidate_all();
  llc_.invalidate_all();
}

std::uint64_t MemoryTiming::accesses(Requester who) const {
  std::uint64_t sum = 0;
  for (std::uint64_t n : served_[static_cast<std::size_t>(who)]) sum += n;
  return sum;
}

const Cache& MemoryTiming::level(ServedBy level) const {
  switch (level) {
    case ServedBy::L1d: return l1d_;
    case ServedBy::L2: return l2_;
    case ServedBy::Llc: return llc_;
    case ServedBy::Dram:
    case ServedBy::Fixed: break;
  }
  throw std::invalid_argument(std::string("memory timing: no cache at level ") + name(level));
}

}  // namespace mmusim::hw
