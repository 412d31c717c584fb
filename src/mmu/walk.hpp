// The IA-32e page walk as a pure function over an abstract physical memory (Intel SDM
// Vol. 3A §4.5 translation, §4.6 rights, §4.7 faults, §4.8 A/D flags;
// ../shared/reference/x86-paging-semantics.md §5.1 steps 2-5). The SystemC PageWalker
// implements PagingMemory over TLM and adds time; a paging-structure cache can start
// the walk part-way with a WalkStart.
#pragma once

#include "mmu/reserved.hpp"
#include "mmu/rights.hpp"
#include "mmu/types.hpp"

namespace mmusim::mmu {

// How the walker reaches paging structures in physical memory.
class PagingMemory {
 public:
  virtual ~PagingMemory() = default;
  virtual u64 load64(u64 pa) = 0;
  // Locked compare-and-exchange of the aligned quadword at `pa` (SDM §4.8: A/D are set
  // with locked operations). True if it held `expected` and now holds `desired`.
  virtual bool cmpxchg64(u64 pa, u64 expected, u64 desired) = 0;
};

// One paging-structure entry the walk used, top level first. `entry` is the value the
// walk's decisions were based on: as loaded, before the walk's own A/D update (after a
// failed cmpxchg, the value re-read).
struct WalkStep {
  Level level = Level::PTE;
  u64 entry_pa = 0;
  u64 entry = 0;
};

// Where a walk begins: the table at `level` and the combined R/W, U/S and XD of the
// levels above it (SDM §4.10.3.1: what a paging-structure cache entry holds). The full
// walk starts from CR3 with neutral rights.
struct WalkStart {
  Level level = Level::PML4E;
  u64 table_pa = 0;
  bool rw = true;
  bool us = true;
  bool xd = false;
};

struct WalkResult {
  Translation translation;  // valid iff !fault
  Fault fault;              // #PF with error_code and cr2 = access LA, or Vector::None
  WalkStep steps[5];
  unsigned nsteps = 0;
  bool ok() const { return !fault; }
};

// The start of a full walk: the PML5 (CR4.LA57) or PML4 table named by CR3[M-1:12].
WalkStart walk_start(const ControlRegs& cr);

// The start one level below `from`, through `entry`: a present, non-leaf entry without
// reserved bits read at `from.level` (e.g. WalkResult::steps[i].entry). Folds the
// entry's rights into the path's (R/W AND, U/S AND, XD OR; SDM §4.6.1).
WalkStart descend(const WalkStart& from, u64 entry, const ControlRegs& cr);

// Translates `a.la` from CR3, top level first. Does NOT do the canonical check (the
// caller runs check_canonical first). On a fault, stops at the first faulting level
// (lower entries are never read) and returns a #PF with the complete error code.
// A/D (SDM §4.8, POLICY-ADW of x86-paging-semantics.md §4.1): every non-leaf entry
// gets A=1 when consumed, even if the access then faults; the leaf gets A (and D for
// a write or RMW) only on success. Entries whose bits are already set, not-present
// entries and entries with reserved bits are never written. Each update is a
// cmpxchg64; on a mismatch the entry is re-read and its level re-checked.
WalkResult walk(PagingMemory& mem, const Access& a, const ControlRegs& cr);

// The same walk starting part-way, at `start` (e.g. from a paging-structure cache hit).
WalkResult walk(PagingMemory& mem, const Access& a, const ControlRegs& cr, const WalkStart& start);

}  // namespace mmusim::mmu
