// The vocabulary of translation: the architectural state a translation reads, one
// access, a successful translation (what a TLB caches), and the exception a failed
// one raises. Shared by the pure rules, the walker, the TLBs and the core.
#pragma once

#include <cstdint>

#include "mmu/pte.hpp"

namespace mmusim::mmu {

using u32 = std::uint32_t;

// Control-register state that translation depends on (SDM Vol. 3A §4.1.1, §2.5).
struct ControlRegs {
  u64 cr3 = 0;              // bits M-1:12 root table; 11:0 PCID if CR4.PCIDE (bit 63 never stored)
  bool cr0_wp = true;       // CR0.WP (bit 16)
  bool cr4_pge = false;     // CR4.PGE (bit 7)
  bool cr4_pcide = false;   // CR4.PCIDE (bit 17)
  bool cr4_smep = false;    // CR4.SMEP (bit 20)
  bool cr4_smap = false;    // CR4.SMAP (bit 21)
  bool cr4_pke = false;     // CR4.PKE (bit 22)
  bool cr4_la57 = false;    // CR4.LA57 (bit 12)
  bool efer_nxe = false;    // IA32_EFER.NXE (bit 11)
  bool efer_lma = true;     // IA32_EFER.LMA: long mode is the only mode modelled
  bool rflags_ac = false;   // RFLAGS.AC (bit 18), the SMAP override
  unsigned cpl = 0;         // current privilege level
  u32 pkru = 0;             // PKRU: bits 2i (ADi) and 2i+1 (WDi)
  unsigned maxphyaddr = kDefaultMaxPhyAddr;  // M, CPUID.80000008H:EAX[7:0]

  u64 root_table() const { return cr3 & phys_addr_mask(maxphyaddr); }
  u32 pcid() const { return cr4_pcide ? static_cast<u32>(cr3 & 0xFFF) : 0; }
};

enum class AccessType : unsigned char { Read, Write, Fetch };

// One linear-address access as the core presents it to translation.
struct Access {
  u64 la = 0;
  AccessType type = AccessType::Read;
  bool user_mode = false;  // SDM §4.6: CPL 3 and not an implicit supervisor access
  bool implicit = false;   // implicit supervisor access (GDT/IDT/TSS reads), whatever the CPL
  bool stack = false;      // a stack reference: non-canonical → #SS instead of #GP (SDM §6.15)
  bool rmw = false;        // locked read-modify-write: translated once, as a write (SDM §4.7)

  bool is_write() const { return type == AccessType::Write || rmw; }
  bool is_fetch() const { return type == AccessType::Fetch; }
};

// A valid translation with the rights combined over every level of its walk
// (SDM §4.6.1, §4.10.2.2): what a TLB entry holds. Rights are raw, not evaluated
// for one mode, so CR0.WP, RFLAGS.AC and PKRU changes need no TLB flush.
struct Translation {
  u64 page_pa = 0;          // physical base of the page, aligned to its size
  u64 leaf_entry_pa = 0;    // physical address of the leaf entry (for a D-bit re-walk)
  PageSize size = PageSize::Size4K;
  bool rw = false;          // AND of R/W over all levels
  bool us = false;          // AND of U/S over all levels
  bool xd = false;          // OR of XD over all levels (only meaningful with EFER.NXE)
  bool dirty = false;       // D of the leaf
  bool global = false;      // G of the leaf (honoured only with CR4.PGE)
  unsigned char pkey = 0;   // protection key of the leaf (bits 62:59)

  u64 physical(u64 la) const { return page_pa | (la & (page_bytes(size) - 1)); }
  u64 page_base_la(u64 la) const { return la & ~(page_bytes(size) - 1); }
};

// Exception vectors of the translation path (SDM Vol. 3A §6.3.1).
enum class Vector : unsigned char { None = 0xFF, SS = 12, GP = 13, PF = 14 };

// #PF error-code bits (SDM Vol. 3A §4.7, Figure 4-12).
namespace pf {
inline constexpr u32 P = 1u << 0;
inline constexpr u32 W = 1u << 1;
inline constexpr u32 U = 1u << 2;
inline constexpr u32 RSVD = 1u << 3;
inline constexpr u32 ID = 1u << 4;
inline constexpr u32 PK = 1u << 5;
}  // namespace pf

struct Fault {
  Vector vector = Vector::None;
  u32 error_code = 0;
  u64 cr2 = 0;  // meaningful for #PF only: #GP and #SS leave CR2 unchanged

  explicit operator bool() const { return vector != Vector::None; }
};

}  // namespace mmusim::mmu
