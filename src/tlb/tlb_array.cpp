#include "tlb/tlb_array.hpp"

#include <stdexcept>

namespace mmusim::tlb {

TlbArray::TlbArray(std::string name, unsigned entries, unsigned ways, Replacement policy, u64 seed)
    : name_(std::move(name)), ways_(ways), set_mask_(0), entries_(entries), keys_(entries, 0),
      stamps_(entries, 0), policy_(policy),
      rng_(seed ? seed : 1) {
  const unsigned sets = ways ? entries / ways : 0;
  if (ways == 0 || entries % ways != 0 || sets == 0 || (sets & (sets - 1)) != 0)
    throw std::invalid_argument(name_ + ": entries/ways must be a power-of-two number of sets");
  if (policy == Replacement::TreePlru && ((ways & (ways - 1)) != 0 || ways > 64))
    throw std::invalid_argument(name_ + ": tree-PLRU needs a power-of-two number of ways, at most 64");
  set_mask_ = sets - 1;
  if (policy == Replacement::TreePlru) plru_.assign(sets, 0);
}

// Tree-PLRU over `ways_` leaves: inner node n has children 2n+1 and 2n+2 (heap
// order); its bit says which subtree holds the victim (0 left, 1 right). A use
// points every node on the path away from the way used.
void TlbArray::plru_touch(u64 set_index, unsigned way) {
  u64& bits = plru_[set_index];
  unsigned node = 0;
  for (unsigned span = ways_; span > 1; span /= 2) {
    const bool right = (way % span) >= span / 2;
    if (right) bits &= ~(1ull << node);  // used the right half: the victim is on the left
    else bits |= 1ull << node;
    node = 2 * node + (right ? 2 : 1);
  }
}

unsigned TlbArray::victim(u64 set_index) {
  TlbEntry* set = &entries_[set_index * ways_];
  for (unsigned w = 0; w < ways_; ++w)
    if (!set[w].valid) return w;
  switch (policy_) {
    case Replacement::Lru: {
      unsigned v = 0;
      for (unsigned w = 1; w < ways_; ++w)
        if (stamps_[set_index * ways_ + w] < stamps_[set_index * ways_ + v]) v = w;
      return v;
    }
    case Replacement::TreePlru: {
      const u64 bits = plru_[set_index];
      unsigned node = 0, way = 0;
      for (unsigned span = ways_; span > 1; span /= 2) {
        const bool right = bits & (1ull << node);
        if (right) way += span / 2;
        node = 2 * node + (right ? 2 : 1);
      }
      return way;
    }
    case Replacement::Random:
      // xorshift64 (Marsaglia 2003): cheap, and the same sequence for the same seed.
      rng_ ^= rng_ << 13;
      rng_ ^= rng_ >> 7;
      rng_ ^= rng_ << 17;
      return static_cast<unsigned>(rng_ % ways_);
    case Replacement::Srrip:
      // The first way predicted to be re-referenced in the distant future (RRPV 3);
      // if there is none, every way ages by one and the search repeats.
      for (;;) {
        for (unsigned w = 0; w < ways_; ++w)
          if (set[w].rrpv >= 3) return w;
        for (unsigned w = 0; w < ways_; ++w) ++set[w].rrpv;
      }
  }
  return 0;
}

void TlbArray::count_in(const TlbEntry& e) {
  ++size_count_[e.size];
  sizes_present_ |= 1u << e.size;
  smashed_ += e.size != e.page_size;
}

void TlbArray::count_out(const TlbEntry& e) {
  if (--size_count_[e.size] == 0) sizes_present_ &= ~(1u << e.size);
  smashed_ -= e.size != e.page_size;
}

void TlbArray::invalidate(TlbEntry& e, Flush cause) {
  if (!e.valid) return;
  e.valid = false;
  keys_[static_cast<size_t>(&e - entries_.data())] = 0;
  ++stats_[e.page_size].invalidations[static_cast<unsigned>(cause)];
  count_out(e);
}

void TlbArray::fill(u64 la, u32 pcid, const mmu::Translation& t, bool global, mmu::PageSize entry_size) {
  const unsigned s = static_cast<unsigned>(entry_size);
  const u64 vpn = la >> (12 + 9 * s);
  const u64 set_index = vpn & set_mask_;
  TlbEntry* set = &entries_[set_index * ways_];
  // One pass over the set: the entry for the same page if there is one (a page is
  // cached at most once: a re-walk replaces the stale entry), else the first invalid
  // way, else the least recently used; other policies choose among full sets below.
  unsigned way = ways_, invalid = ways_, lru = 0;
  const u64 key = key_of(vpn, s);
  const u64* keys = &keys_[set_index * ways_];
  const u64* stamps = &stamps_[set_index * ways_];
  for (unsigned w = 0; w < ways_; ++w) {
    if (keys[w] == 0) {
      if (invalid == ways_) invalid = w;
      continue;
    }
    if (keys[w] == key && (set[w].global || set[w].pcid == pcid)) {
      way = w;
      break;
    }
    if (stamps[w] < stamps[lru]) lru = w;
  }
  if (way == ways_) way = invalid != ways_ ? invalid : policy_ == Replacement::Lru ? lru : victim(set_index);
  TlbEntry& e = set[way];
  if (e.valid) {
    if (e.vpn != vpn || e.size != s) ++stats_[e.page_size].evictions;
    count_out(e);
  }
  e.vpn = vpn;
  // SRRIP inserts with a long re-reference prediction (RRPV 2), so a line that is
  // never used again leaves before lines that were (ISCA 2010, §3).
  e.rrpv = 2;
  e.t = t;
  if (entry_size != t.size) {  // smashed: the part of the page this entry covers
    e.t.size = entry_size;
    e.t.page_pa = t.page_pa | (la & (mmu::page_bytes(t.size) - 1) & ~(mmu::page_bytes(entry_size) - 1));
  }
  e.pcid = pcid;
  e.size = static_cast<unsigned char>(s);
  e.page_size = static_cast<unsigned char>(t.size);
  e.global = global;
  e.valid = true;
  keys_[set_index * ways_ + way] = key_of(vpn, s);
  count_in(e);
  ++stats_[e.page_size].fills;
  if (policy_ != Replacement::Srrip) touch(set_index, way);
}

template <typename F>
void TlbArray::for_each_match(u64 la, u32 pcid, F&& f) {
  auto matches_tag = [pcid](const TlbEntry& e) { return e.valid && (e.global || e.pcid == pcid); };
  for (unsigned s = 0; s < 3; ++s) {
    if (!(sizes_present_ & (1u << s))) continue;
    const u64 vpn = la >> (12 + 9 * s);
    TlbEntry* set = &entries_[(vpn & set_mask_) * ways_];
    for (unsigned w = 0; w < ways_; ++w) {
      TlbEntry& e = set[w];
      if (matches_tag(e) && e.vpn == vpn && e.size == s) f(e);
    }
  }
  // The other pieces of a smashed page sit in other sets: only a full search finds
  // them, needed only while the array holds any.
  if (smashed_ == 0) return;
  for (TlbEntry& e : entries_) {
    if (!matches_tag(e) || e.size == e.page_size) continue;
    const unsigned page_shift = 12 + 9 * e.page_size;
    if (((e.vpn << (12 + 9 * e.size)) >> page_shift) == (la >> page_shift)) f(e);
  }
}

void TlbArray::invalidate_page(u64 la, u32 pcid, Flush cause) {
  for_each_match(la, pcid, [this, cause](TlbEntry& e) { invalidate(e, cause); });
}

void TlbArray::invalidate_page_non_global(u64 la, u32 pcid, Flush cause) {
  for_each_match(la, pcid, [this, cause](TlbEntry& e) {
    if (!e.global) invalidate(e, cause);
  });
}

void TlbArray::invalidate_pcid(u32 pcid, Flush cause) {
  for (TlbEntry& e : entries_)
    if (e.valid && !e.global && e.pcid == pcid) invalidate(e, cause);
}

void TlbArray::invalidate_all(Flush cause) {
  for (TlbEntry& e : entries_) invalidate(e, cause);
}

void TlbArray::invalidate_all_non_global(Flush cause) {
  for (TlbEntry& e : entries_)
    if (e.valid && !e.global) invalidate(e, cause);
}

unsigned TlbArray::valid_entries() const {
  unsigned n = 0;
  for (const TlbEntry& e : entries_) n += e.valid;
  return n;
}

}  // namespace mmusim::tlb
