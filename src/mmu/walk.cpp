#include "mmu/walk.hpp"

#include <stdexcept>

namespace mmusim::mmu {

namespace {

// A correct PagingMemory fails a cmpxchg only when another agent changed the entry,
// so consecutive failures at one entry mean a broken memory model, not a race; give
// up loudly rather than spin forever.
constexpr unsigned kMaxCasRetries = 4096;

Level level_below(Level l) { return static_cast<Level>(static_cast<unsigned>(l) - 1); }

// Sets `want` in the entry at `pa` whose current value is `entry`, with a locked
// compare-and-exchange (SDM §4.8). Returns false if the entry changed underneath, in
// which case `entry` holds the value re-read and the caller re-checks that level.
bool set_bits(PagingMemory& mem, u64 pa, u64& entry, u64 want) {
  if ((entry & want) == want) return true;  // already set: no locked write at all
  if (mem.cmpxchg64(pa, entry, entry | want)) {
    entry |= want;
    return true;
  }
  entry = mem.load64(pa);
  return false;
}

}  // namespace

WalkStart walk_start(const ControlRegs& cr) {
  return WalkStart{top_level(cr.cr4_la57), cr.root_table(), true, true, false};
}

WalkStart descend(const WalkStart& from, u64 entry, const ControlRegs& cr) {
  return WalkStart{level_below(from.level), entry & phys_addr_mask(cr.maxphyaddr),
                   from.rw && (entry & bit::RW) != 0, from.us && (entry & bit::US) != 0,
                   from.xd || (entry & bit::XD) != 0};
}

WalkResult walk(PagingMemory& mem, const Access& a, const ControlRegs& cr) {
  return walk(mem, a, cr, walk_start(cr));
}

WalkResult walk(PagingMemory& mem, const Access& a, const ControlRegs& cr, const WalkStart& start) {
  const auto top = static_cast<unsigned>(start.level);
  if (top < 1 || top > 5) throw std::invalid_argument("mmu::walk: start level must be PTE..PML5E");
  WalkResult r;
  WalkStart at = start;
  for (;;) {
    const u64 pa = entry_address(at.table_pa, a.la, at.level);
    WalkStep& step = r.steps[r.nsteps++];
    step = WalkStep{at.level, pa, mem.load64(pa)};

    for (unsigned tries = 0;; ++tries) {
      if (tries > kMaxCasRetries) {
        throw std::logic_error("mmu::walk: cmpxchg64 failed on every retry of one entry");
      }
      u64& e = step.entry;
      const u64 seen = e;  // the value recorded in the step, before our own update

      // SDM §4.7: P=0 faults with P=0 in the error code; its other bits, reserved or
      // not, are not examined (x86-paging-semantics.md §1.4).
      if (!(e & bit::P)) {
        r.fault = page_fault(access_error_bits(a, cr), a.la);
        return r;
      }
      // SDM §4.7: RSVD always comes with P=1.
      if (e & reserved_mask(at.level, e, cr)) {
        r.fault = page_fault(pf::P | pf::RSVD | access_error_bits(a, cr), a.la);
        return r;
      }

      if (!is_leaf(at.level, e)) {
        // POLICY-ADW (§4.1): a consumed non-leaf entry gets A now, even if a lower
        // level or the rights check later faults. D (bit 6) of a non-leaf is ignored.
        if (!set_bits(mem, pa, e, bit::A)) continue;
        e = seen;
        at = descend(at, e, cr);
        break;
      }

      // Leaf: combine the path's rights with the leaf's (SDM §4.6.1); G, D and the
      // protection key come from the leaf only (SDM §4.10.2.2, §4.6.2).
      const PageSize size = leaf_page_size(at.level);
      Translation t;
      // Masking to the page size drops a large leaf's PAT bit 12 (alignment bits are
      // already known to be 0 from the reserved check).
      t.page_pa = e & phys_addr_mask(cr.maxphyaddr) & ~(page_bytes(size) - 1);
      t.leaf_entry_pa = pa;
      t.size = size;
      t.rw = at.rw && (e & bit::RW) != 0;
      t.us = at.us && (e & bit::US) != 0;
      t.xd = at.xd || (e & bit::XD) != 0;
      t.global = (e & bit::G) != 0;
      t.pkey = static_cast<unsigned char>((e & kPkeyMask) >> kPkeyShift);

      if (const u32 ec = rights_violation(t, a, cr)) {
        // The leaf is left untouched by a faulting access, whatever its size (§4.1).
        r.fault = page_fault(ec, a.la);
        return r;
      }
      // SDM §4.8: A on every successful access; D on writes, including supervisor
      // writes to read-only pages under CR0.WP=0.
      const u64 want = bit::A | (a.is_write() ? bit::D : 0);
      if (!set_bits(mem, pa, e, want)) continue;
      t.dirty = (e & bit::D) != 0;
      e = seen;
      r.translation = t;
      return r;
    }
  }
}

}  // namespace mmusim::mmu
