// One set-associative array of a TLB (SDM Vol. 3A §4.10.2): the building block of
// a TLB level, which has one array per page size or one shared by several sizes.
// Entries keep the raw rights combined over the walk (mmu::Translation), never a
// permission computed for one mode, so CR0.WP, RFLAGS.AC and PKRU changes need no
// flush (§4.10.2.2); they are tagged with a PCID or marked global (§4.10.1, §4.10.2.4).
//
// An entry may be smaller than the page it translates: a level without an array for
// 1G pages caches a 1G page as the 2M entry that covers the address ("smashing",
// §4.10.2.3 allows a large page to be cached as several smaller entries). Such an
// entry remembers its page's size, because INVLPG of any address in the page must
// drop every entry for it (§4.10.4.1).
//
// Plain C++: the tlb::Tlb module owns its arrays and calls them on the core's thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mmu/types.hpp"
#include "tlb/flush.hpp"
#include "tlb/replacement.hpp"

namespace mmusim::tlb {

using u64 = std::uint64_t;
using u32 = std::uint32_t;

// Counters of one page size (that of the translated page, smashed or not).
struct SizeStats {
  u64 hits = 0;
  u64 fills = 0;
  u64 evictions = 0;   // valid entries replaced by a fill
  u64 invalidations[kFlushCauses] = {};  // entries removed, by cause

  u64 invalidated() const {
    u64 n = 0;
    for (u64 v : invalidations) n += v;
    return n;
  }
};

struct TlbEntry {
  u64 vpn = 0;             // la >> the entry's page shift
  mmu::Translation t;      // for a smashed entry: the part of the page the entry covers
  u32 pcid = 0;
  unsigned char size = 0;       // the entry's granularity (mmu::PageSize)
  unsigned char page_size = 0;  // the translated page's size: > size when smashed
  unsigned char rrpv = 0;       // SRRIP: re-reference prediction value, 0 (near) .. 3 (distant)
  bool global = false;
  bool valid = false;

  // The translation of the whole page, as the walk produced it.
  mmu::Translation page() const {
    mmu::Translation whole = t;
    whole.size = static_cast<mmu::PageSize>(page_size);
    whole.page_pa = t.page_pa & ~(mmu::page_bytes(whole.size) - 1);
    return whole;
  }
};

class TlbArray {
 public:
  // Throws std::invalid_argument unless ways divide entries into a power-of-two
  // number of sets (and, for tree-PLRU, ways are a power of two up to 64).
  TlbArray(std::string name, unsigned entries, unsigned ways, Replacement policy = Replacement::Lru,
           u64 seed = 1);

  // The entry translating `la` in address space `pcid` (or a global one), or nullptr.
  // A hit makes the entry most recently used.
  const TlbEntry* lookup(u64 la, u32 pcid) {
    for (unsigned s = 0; s < 3; ++s) {
      if (!(sizes_present_ & (1u << s))) continue;
      const u64 vpn = la >> (12 + 9 * s);
      const u64 set_index = vpn & set_mask_;
      const u64 key = key_of(vpn, s);
      const u64* keys = &keys_[set_index * ways_];
      for (unsigned w = 0; w < ways_; ++w) {
        if (keys[w] != key) continue;
        TlbEntry& e = entries_[set_index * ways_ + w];
        if (e.global || e.pcid == pcid) {
          touch(set_index, w);
          ++stats_[e.page_size].hits;
          return &e;
        }
      }
    }
    return nullptr;
  }

  // The entry lookup() would return, found the same way, but without making it most
  // recently used or counting a hit: a report (`mmusim explain`) can show what the
  // array holds without changing what the next lookup finds or evicts.
  const TlbEntry* probe(u64 la, u32 pcid) const {
    for (unsigned s = 0; s < 3; ++s) {
      if (!(sizes_present_ & (1u << s))) continue;
      const u64 vpn = la >> (12 + 9 * s);
      const u64 set_index = vpn & set_mask_;
      const u64 key = key_of(vpn, s);
      for (unsigned w = 0; w < ways_; ++w) {
        if (keys_[set_index * ways_ + w] != key) continue;
        const TlbEntry& e = entries_[set_index * ways_ + w];
        if (e.global || e.pcid == pcid) return &e;
      }
    }
    return nullptr;
  }

  // Caches `t` for `la` as an entry of size `entry_size` (t.size, or smaller to smash
  // a large page). `global` is the leaf's G with CR4.PGE=1 (SDM §4.10.2.4).
  void fill(u64 la, u32 pcid, const mmu::Translation& t, bool global, mmu::PageSize entry_size);
  void fill(u64 la, u32 pcid, const mmu::Translation& t, bool global) { fill(la, pcid, t, global, t.size); }

  // INVLPG: the entries for the page containing `la` in `pcid`, and global entries
  // for it in any PCID, of any page size (SDM §4.10.4.1).
  void invalidate_page(u64 la, u32 pcid, Flush cause = Flush::Invlpg);
  // INVPCID type 0: the non-global entries for the page containing `la` in `pcid`;
  // global ones stay (SDM §4.10.4.1, INVPCID).
  void invalidate_page_non_global(u64 la, u32 pcid, Flush cause = Flush::InvpcidAddress);
  // MOV to CR3 without the no-flush hint, INVPCID type 1: every non-global entry of `pcid`.
  void invalidate_pcid(u32 pcid, Flush cause = Flush::Cr3);
  // MOV to CR4 changing PGE, INVPCID type 2: everything, globals included.
  void invalidate_all(Flush cause = Flush::InvpcidAll);
  // INVPCID type 3: every non-global entry of every PCID.
  void invalidate_all_non_global(Flush cause = Flush::InvpcidNonGlobal);

  const std::string& name() const { return name_; }
  Replacement policy() const { return policy_; }
  unsigned entries() const { return static_cast<unsigned>(entries_.size()); }
  unsigned ways() const { return ways_; }
  // Counters of the entries whose page has size `s` (mmu::PageSize).
  const SizeStats& stats(mmu::PageSize s) const { return stats_[static_cast<unsigned>(s)]; }
  unsigned valid_entries() const;

 private:
  void invalidate(TlbEntry& e, Flush cause);
  // The tag a lookup compares first: page number, entry size and a valid bit in one
  // word, kept beside the entries (keys_) so that a search of a set reads 8 bytes a
  // way, not a whole entry; PCID and global are checked on the entry it selects.
  static u64 key_of(u64 vpn, unsigned size) { return vpn << 3 | u64{size} << 1 | 1; }
  // The policy's bookkeeping for a hit or a fill of `way` in set `set_index`.
  void touch(u64 set_index, unsigned way) {
    switch (policy_) {
      case Replacement::Lru: stamps_[set_index * ways_ + way] = ++clock_; return;
      case Replacement::TreePlru: plru_touch(set_index, way); return;
      case Replacement::Srrip: entries_[set_index * ways_ + way].rrpv = 0; return;  // hit priority
      case Replacement::Random: return;
    }
  }
  void plru_touch(u64 set_index, unsigned way);
  // The way a fill of set `set_index` replaces (an invalid one if any).
  unsigned victim(u64 set_index);
  // Every entry that translates `la` in `pcid` (or globally), of every size, smashed
  // entries of the page containing `la` included.
  template <typename F>
  void for_each_match(u64 la, u32 pcid, F&& f);
  void count_in(const TlbEntry& e);
  void count_out(const TlbEntry& e);

  std::string name_;
  unsigned ways_;
  u64 set_mask_;
  std::vector<TlbEntry> entries_;
  std::vector<u64> keys_;        // [i]: key_of(entries_[i]) while valid, else 0
  std::vector<u64> stamps_;      // LRU: [i] the last use of entries_[i]
  unsigned sizes_present_ = 0;   // bit s set while an entry of size s may be valid
  unsigned size_count_[3] = {};
  unsigned smashed_ = 0;         // valid entries smaller than their page
  u64 clock_ = 0;
  Replacement policy_;
  std::vector<u64> plru_;   // tree-PLRU: one bit per inner node, per set
  u64 rng_;                 // Random: xorshift64 state
  SizeStats stats_[3];
};

}  // namespace mmusim::tlb
