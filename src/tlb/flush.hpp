// Why TLB entries were removed: each invalidation operation of SDM Vol. 3A §4.10.4.1
// and the model's own re-walks, so that a run can say which flushes cost it entries.
#pragma once

#include <array>

namespace mmusim::tlb {

enum class Flush : unsigned char {
  Invlpg,            // INVLPG, and the kernel's flush of one page (flush_tlb_page)
  InvpcidAddress,    // INVPCID type 0
  InvpcidContext,    // INVPCID type 1
  InvpcidAll,        // INVPCID type 2
  InvpcidNonGlobal,  // INVPCID type 3
  Cr3,               // MOV to CR3 without the no-flush bit 63, and the kernel's flush of an mm
  Cr4,               // MOV to CR4 changing PGE, PCIDE, SMEP or LA57 (SDM §4.10.4.1)
  Efer,              // a change of IA32_EFER.NXE (the meaning of XD changes)
  PageFault,         // a #PF drops the entries for its own address (SDM §4.10.4.1)
  Rewalk,            // a hit that forbade the access, or a write to a clean entry, re-walks
};
inline constexpr unsigned kFlushCauses = 10;

// Names as they appear in the stats, indexed by Flush.
inline constexpr std::array<const char*, kFlushCauses> kFlushNames = {
    "invlpg", "invpcid_address", "invpcid_context", "invpcid_all", "invpcid_non_global",
    "cr3",    "cr4",             "efer",            "page_fault",  "rewalk"};

}  // namespace mmusim::tlb
