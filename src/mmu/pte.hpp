// x86-64 paging-structure entries, named as in the Intel SDM Vol. 3A §4.5
// (Tables 4-15 .. 4-20), and the linear-address split of 4- and 5-level paging.
#pragma once

#include <cstdint>

namespace mmusim::mmu {

using u64 = std::uint64_t;

// Bits common to every IA-32e paging-structure entry (SDM Vol. 3A Table 4-15..4-20).
namespace bit {
inline constexpr u64 P = 1ull << 0;     // present
inline constexpr u64 RW = 1ull << 1;    // read/write
inline constexpr u64 US = 1ull << 2;    // user/supervisor
inline constexpr u64 PWT = 1ull << 3;   // page-level write-through
inline constexpr u64 PCD = 1ull << 4;   // page-level cache disable
inline constexpr u64 A = 1ull << 5;     // accessed
inline constexpr u64 D = 1ull << 6;     // dirty (leaf entries only)
inline constexpr u64 PS = 1ull << 7;    // page size (PDPTE, PDE); reserved in PML4E/PML5E
inline constexpr u64 PAT4K = 1ull << 7; // PAT bit of a 4 KiB PTE (same position as PS)
inline constexpr u64 G = 1ull << 8;     // global (leaf entries only, used if CR4.PGE=1)
inline constexpr u64 PAT_LARGE = 1ull << 12;  // PAT bit of a 2 MiB / 1 GiB leaf
inline constexpr u64 XD = 1ull << 63;   // execute-disable (reserved unless EFER.NXE=1)
// Software-available bits that Linux uses on x86 (arch/x86/include/asm/pgtable_types.h).
inline constexpr u64 SOFTW1 = 1ull << 9;   // _PAGE_SPECIAL: zero page, PFN maps
inline constexpr u64 SOFTW2 = 1ull << 10;
inline constexpr u64 SOFTW3 = 1ull << 11;
}  // namespace bit

inline constexpr unsigned kPkeyShift = 59;   // protection key: bits 62:59 of a leaf
inline constexpr u64 kPkeyMask = 0xFull << kPkeyShift;
inline constexpr unsigned kDefaultMaxPhyAddr = 46;

inline constexpr u64 kPageSize4K = 1ull << 12;
inline constexpr u64 kPageSize2M = 1ull << 21;
inline constexpr u64 kPageSize1G = 1ull << 30;
inline constexpr unsigned kEntriesPerTable = 512;

// Paging-structure levels, numbered as the SDM's tables nest: a PTE maps 4 KiB
// (level 1), a PDE 2 MiB (2), a PDPTE 1 GiB (3), then PML4E (4) and PML5E (5).
enum class Level : unsigned { PTE = 1, PDE = 2, PDPTE = 3, PML4E = 4, PML5E = 5 };

enum class PageSize : unsigned char { Size4K = 0, Size2M = 1, Size1G = 2 };

constexpr u64 page_bytes(PageSize s) {
  return s == PageSize::Size4K ? kPageSize4K : s == PageSize::Size2M ? kPageSize2M : kPageSize1G;
}
constexpr unsigned page_shift(PageSize s) { return 12 + 9 * static_cast<unsigned>(s); }

// Bit position of the lowest linear-address bit that indexes the table at `level`
// (SDM §4.5: PML5 uses LA[56:48], PML4 LA[47:39], PDPT LA[38:30], PD LA[29:21], PT LA[20:12]).
constexpr unsigned index_shift(Level level) { return 12 + 9 * (static_cast<unsigned>(level) - 1); }

constexpr unsigned table_index(u64 la, Level level) {
  return static_cast<unsigned>((la >> index_shift(level)) & (kEntriesPerTable - 1));
}

// Bits M-1:12 of an entry or of CR3: the physical address of the next table or page.
constexpr u64 phys_addr_mask(unsigned maxphyaddr) {
  return ((maxphyaddr >= 64 ? ~0ull : (1ull << maxphyaddr) - 1)) & ~(kPageSize4K - 1);
}

// Physical address of the entry at `level` for linear address `la` in the table at `table_pa`.
constexpr u64 entry_address(u64 table_pa, u64 la, Level level) {
  return table_pa + 8ull * table_index(la, level);
}

constexpr Level top_level(bool la57) { return la57 ? Level::PML5E : Level::PML4E; }

// SDM §4.5: a linear address is canonical if bits 63:47 (4-level) or 63:56 (5-level)
// are all copies of bit 47 (resp. 56).
constexpr bool is_canonical(u64 la, bool la57) {
  const unsigned top = la57 ? 56 : 47;
  const auto s = static_cast<std::int64_t>(la) >> top;
  return s == 0 || s == -1;
}

}  // namespace mmusim::mmu
