// A translation lookaside buffer: one set-associative array with LRU replacement
// that caches translations of every page size (SDM Vol. 3A §4.10.2). Entries keep
// the raw rights combined over the walk (mmu::Translation), never a permission
// computed for one mode, so CR0.WP, RFLAGS.AC and PKRU changes need no flush
// (§4.10.2.2); they are tagged with a PCID or marked global (§4.10.1, §4.10.2.4).
//
// Plain C++: the Mmu module owns its TLBs and calls them directly on the core's
// thread. The TLB hierarchy (per-size arrays, STLB, other policies) is issue 4;
// this interface is the one a level of that hierarchy keeps.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mmu/types.hpp"
#include "tlb/replacement.hpp"

namespace mmusim::tlb {

using u64 = std::uint64_t;
using u32 = std::uint32_t;

struct TlbStats {
  u64 hits = 0;
  u64 misses = 0;
  u64 fills = 0;
  u64 evictions = 0;       // valid entries replaced by a fill
  u64 invalidations = 0;   // entries removed by INVLPG, CR3/CR4 writes, #PF, re-walks
};

class Tlb {
 public:
  Tlb(std::string name, unsigned entries, unsigned ways, Replacement policy = Replacement::Lru,
      u64 seed = 1);

  // The translation for `la` in address space `pcid` (or a global one), or nullptr.
  // A hit makes the entry most recently used.
  const mmu::Translation* lookup(u64 la, u32 pcid) {
    for (unsigned s = 0; s < 3; ++s) {
      if (!(sizes_present_ & (1u << s))) continue;
      const unsigned shift = 12 + 9 * s;
      const u64 vpn = la >> shift;
      const u64 set_index = vpn & set_mask_;
      Entry* set = &entries_[set_index * ways_];
      for (unsigned w = 0; w < ways_; ++w) {
        Entry& e = set[w];
        if (e.valid && e.vpn == vpn && e.size == s && (e.global || e.pcid == pcid)) {
          touch(set_index, w);
          ++stats_.hits;
          return &e.t;
        }
      }
    }
    ++stats_.misses;
    return nullptr;
  }

  // Caches `t` for `la`. `global` is the leaf's G with CR4.PGE=1 (SDM §4.10.2.4).
  void fill(u64 la, u32 pcid, const mmu::Translation& t, bool global);

  // INVLPG: the entries for the page containing `la` in `pcid`, and global entries
  // for it in any PCID, of any page size (SDM §4.10.4.1).
  void invalidate_page(u64 la, u32 pcid);
  // INVPCID type 0: the non-global entries for the page containing `la` in `pcid`;
  // global ones stay (SDM §4.10.4.1, INVPCID).
  void invalidate_page_non_global(u64 la, u32 pcid);
  // MOV to CR3 without the no-flush hint: every non-global entry of `pcid`.
  void invalidate_pcid(u32 pcid);
  // MOV to CR4 changing PGE, INVPCID type 2: everything, globals included.
  void invalidate_all();
  // INVPCID type 3: every non-global entry of every PCID.
  void invalidate_all_non_global();

  const std::string& name() const { return name_; }
  Replacement policy() const { return policy_; }
  unsigned entries() const { return static_cast<unsigned>(entries_.size()); }
  unsigned ways() const { return ways_; }
  const TlbStats& stats() const { return stats_; }
  unsigned valid_entries() const;

 private:
  struct Entry {
    u64 vpn = 0;          // la >> page shift of `size`
    u64 stamp = 0;        // LRU: last use
    unsigned char rrpv = 0;  // SRRIP: re-reference prediction value, 0 (near) .. 3 (distant)
    mmu::Translation t;
    u32 pcid = 0;
    unsigned char size = 0;  // mmu::PageSize
    bool global = false;
    bool valid = false;
  };
  void invalidate(Entry& e);
  // The policy's bookkeeping for a hit or a fill of `way` in set `set_index`.
  void touch(u64 set_index, unsigned way) {
    switch (policy_) {
      case Replacement::Lru: entries_[set_index * ways_ + way].stamp = ++clock_; return;
      case Replacement::TreePlru: plru_touch(set_index, way); return;
      case Replacement::Srrip: entries_[set_index * ways_ + way].rrpv = 0; return;  // hit priority
      case Replacement::Random: return;
    }
  }
  void plru_touch(u64 set_index, unsigned way);
  // The way a fill of set `set_index` replaces (an invalid one if any).
  unsigned victim(u64 set_index);
  // The entries that translate `la` in `pcid` (or globally), of every page size.
  template <typename F>
  void for_each_match(u64 la, u32 pcid, F&& f);

  std::string name_;
  unsigned ways_;
  u64 set_mask_;
  std::vector<Entry> entries_;
  unsigned sizes_present_ = 0;   // bit s set while an entry of page size s may be valid
  unsigned size_count_[3] = {};
  u64 clock_ = 0;
  Replacement policy_;
  std::vector<u64> plru_;   // tree-PLRU: one bit per inner node, per set
  u64 rng_;                 // Random: xorshift64 state
  TlbStats stats_;
};

}  // namespace mmusim::tlb
