#include "tlb/tlb.hpp"

namespace mmusim::tlb {

Tlb::Tlb(sc_core::sc_module_name name, const config::TlbLevelConfig& cfg, u64 seed)
    : sc_module(name), organisation_(cfg.arrays), latency_(cfg.latency_cycles) {
  const config::TlbArrayConfig* by_size[3] = {&cfg.a4k, &cfg.a2m, &cfg.a1g};
  static constexpr const char* kNames[3] = {"4k", "2m", "1g"};
  int array_of_size[3] = {-1, -1, -1};  // the array whose native size s is, if any
  for (unsigned s = 0; s < 3; ++s) {
    const bool folded = s > 0 && (cfg.arrays == config::TlbArrays::Unified ||
                                  (s == 1 && cfg.arrays == config::TlbArrays::Shared4k2m));
    if (folded) {
      array_of_size[s] = 0;  // the 4k array holds this size as its own entries
      continue;
    }
    if (by_size[s]->entries == 0) continue;
    array_of_size[s] = static_cast<int>(array_count_);
    arrays_[array_count_++] = std::make_unique<TlbArray>(std::string(basename()) + "." + kNames[s],
                                                         by_size[s]->entries, by_size[s]->ways,
                                                         by_size[s]->replacement, seed);
  }
  if (array_of_size[0] != 0) throw std::invalid_argument(std::string(basename()) + ": no 4k array");
  // A size without an array is smashed into the next smaller size that has one.
  for (unsigned s = 0; s < 3; ++s) {
    unsigned native = s;
    while (array_of_size[native] < 0) --native;
    route_[s] = {static_cast<unsigned char>(array_of_size[native]), static_cast<mmu::PageSize>(native)};
    holds_[route_[s].array] |= 1u << s;
  }
}

void Tlb::fill(u64 la, u32 pcid, const mmu::Translation& t, bool global) {
  const unsigned s = static_cast<unsigned>(t.size);
  if (pending_miss_) {
    ++stats_.misses_by_size[s];
    pending_miss_ = false;
  }
  const Route r = route_[s];
  arrays_[r.array]->fill(la, pcid, t, global, r.size);
}

void Tlb::invalidate_page(u64 la, u32 pcid, Flush cause) {
  for (unsigned i = 0; i < array_count_; ++i) arrays_[i]->invalidate_page(la, pcid, cause);
}

void Tlb::invalidate_page_non_global(u64 la, u32 pcid, Flush cause) {
  for (unsigned i = 0; i < array_count_; ++i) arrays_[i]->invalidate_page_non_global(la, pcid, cause);
}

void Tlb::invalidate_pcid(u32 pcid, Flush cause) {
  for (unsigned i = 0; i < array_count_; ++i) arrays_[i]->invalidate_pcid(pcid, cause);
}

void Tlb::invalidate_all(Flush cause) {
  for (unsigned i = 0; i < array_count_; ++i) arrays_[i]->invalidate_all(cause);
}

void Tlb::invalidate_all_non_global(Flush cause) {
  for (unsigned i = 0; i < array_count_; ++i) arrays_[i]->invalidate_all_non_global(cause);
}

SizeStats Tlb::size_stats(mmu::PageSize s) const {
  SizeStats sum;
  for (unsigned i = 0; i < array_count_; ++i) {
    const SizeStats& a = arrays_[i]->stats(s);
    sum.hits += a.hits;
    sum.fills += a.fills;
    sum.evictions += a.evictions;
    for (unsigned c = 0; c < kFlushCauses; ++c) sum.invalidations[c] += a.invalidations[c];
  }
  return sum;
}

unsigned Tlb::valid_entries() const {
  unsigned n = 0;
  for (unsigned i = 0; i < array_count_; ++i) n += arrays_[i]->valid_entries();
  return n;
}

}  // namespace mmusim::tlb
