#include "tlb/tlb.hpp"

#include <stdexcept>

namespace mmusim::tlb {

Tlb::Tlb(std::string name, unsigned entries, unsigned ways)
    : name_(std::move(name)), ways_(ways), set_mask_(0), entries_(entries) {
  const unsigned sets = ways ? entries / ways : 0;
  if (ways == 0 || entries % ways != 0 || sets == 0 || (sets & (sets - 1)) != 0)
    throw std::invalid_argument(name_ + ": entries/ways must be a power-of-two number of sets");
  set_mask_ = sets - 1;
}

void Tlb::invalidate(Entry& e) {
  if (!e.valid) return;
  e.valid = false;
  ++stats_.invalidations;
  if (--size_count_[e.size] == 0) sizes_present_ &= ~(1u << e.size);
}

void Tlb::fill(u64 la, u32 pcid, const mmu::Translation& t, bool global) {
  const unsigned s = static_cast<unsigned>(t.size);
  const u64 vpn = la >> (12 + 9 * s);
  Entry* set = &entries_[(vpn & set_mask_) * ways_];
  Entry* victim = &set[0];
  for (unsigned w = 0; w < ways_; ++w) {
    Entry& e = set[w];
    // The same page is cached at most once: a re-walk replaces the stale entry.
    if (e.valid && e.vpn == vpn && e.size == s && (e.global || e.pcid == pcid)) {
      victim = &e;
      break;
    }
    if (!e.valid) {
      if (victim->valid) victim = &e;
    } else if (victim->valid && e.stamp < victim->stamp) {
      victim = &e;
    }
  }
  if (victim->valid) {
    if (victim->vpn != vpn || victim->size != s) ++stats_.evictions;
    --size_count_[victim->size];
    if (size_count_[victim->size] == 0) sizes_present_ &= ~(1u << victim->size);
  }
  victim->vpn = vpn;
  victim->stamp = ++clock_;
  victim->t = t;
  victim->pcid = pcid;
  victim->size = static_cast<unsigned char>(s);
  victim->global = global;
  victim->valid = true;
  ++size_count_[s];
  sizes_present_ |= 1u << s;
  ++stats_.fills;
}

template <typename F>
void Tlb::for_each_match(u64 la, u32 pcid, F&& f) {
  for (unsigned s = 0; s < 3; ++s) {
    if (!(sizes_present_ & (1u << s))) continue;
    const u64 vpn = la >> (12 + 9 * s);
    Entry* set = &entries_[(vpn & set_mask_) * ways_];
    for (unsigned w = 0; w < ways_; ++w) {
      Entry& e = set[w];
      if (e.valid && e.vpn == vpn && e.size == s && (e.global || e.pcid == pcid)) f(e);
    }
  }
}

void Tlb::invalidate_page(u64 la, u32 pcid) {
  for_each_match(la, pcid, [this](Entry& e) { invalidate(e); });
}

void Tlb::invalidate_page_non_global(u64 la, u32 pcid) {
  for_each_match(la, pcid, [this](Entry& e) {
    if (!e.global) invalidate(e);
  });
}

void Tlb::invalidate_pcid(u32 pcid) {
  for (Entry& e : entries_)
    if (e.valid && !e.global && e.pcid == pcid) invalidate(e);
}

void Tlb::invalidate_all() {
  for (Entry& e : entries_) invalidate(e);
}

void Tlb::invalidate_all_non_global() {
  for (Entry& e : entries_)
    if (e.valid && !e.global) invalidate(e);
}

unsigned Tlb::valid_entries() const {
  unsigned n = 0;
  for (const Entry& e : entries_) n += e.valid;
  return n;
}

}  // namespace mmusim::tlb
