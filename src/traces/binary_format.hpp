// The binary encoding of the trace format: constants shared by its reader, its
// writer and format detection. The layout is specified in docs/binary-format.md;
// every number here is part of the format: never renumber, only add.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mmusim::traces::binary {

// The first eight bytes of every binary trace. As PNG's: a non-ASCII first byte so no
// text reader mistakes it for text, then CR LF, ^Z and LF, which any text-mode
// transfer that rewrote line ends or stopped at ^Z would damage visibly.
inline constexpr unsigned char kMagic[8] = {0x89, 'M', 'M', 'U', '\r', '\n', 0x1A, '\n'};

// Header: kMagic, then the version and the flags, both varints.
inline constexpr std::uint64_t kVersion = 1;
inline constexpr std::uint64_t kHeaderFlags = 0;  // version 1 defines no flag: any set bit is refused

// ---- Tag byte: the first byte of every record ------------------------------------
// Bit 7 set: the event's line is not the previous event's line + 1; a zigzag varint
// (line - previous line, modulo 2^64) follows the tag byte. The first event's
// "previous line" is 0. Bits 6-0: the record type.
inline constexpr unsigned kLineBit = 0x80;
inline constexpr unsigned kTypeMask = 0x7f;

// Address slots: two banks of four, bank 0 for data accesses (r, w, print) and bank 1
// for fetches (x). The ADDR of an access is a zigzag varint of (ADDR - SLOT[bank][s])
// modulo 2^64, where s (0..3) is named by the record, and SLOT[bank][s] becomes
// ADDR. All slots are 0 at the start. Which slot to use is the writer's choice
// (BinaryWriter: the nearest, see pick_slot); readers only follow.
// docs/binary-format.md says why.
inline constexpr unsigned kAddrBanks = 2;
inline constexpr unsigned kAddrSlots = 4;

// Compact accesses, types 0x00-0x4F: `r|w|x ADDR [SIZE] [=VALUE]` with SIZE 1, 2, 4 or
// 8 and no option. Fields: ADDR (zigzag delta from the slot), [VALUE varint].
//   0x00-0x1F r, 0x20-0x3F w: bits 4-3 size class, bits 2-1 slot, bit 0 VALUE follows
//   0x40-0x4F x:              bits 3-2 size class, bits 1-0 slot
// Size classes 0..3 are 1, 2, 4, 8 bytes.
inline constexpr unsigned kTypeCompactWrite = 0x20;
inline constexpr unsigned kTypeCompactFetch = 0x40;
inline constexpr unsigned kCompactEnd = 0x50;  // types below this are compact accesses
inline constexpr std::uint64_t kSizeOfClass[4] = {1, 2, 4, 8};

// Full accesses (any option, any size): FLAGS varint (kAcc* bits), SIZE varint,
// ADDR (zigzag delta from the slot in FLAGS), [VALUE varint], [EXPECT_VALUE varint],
// [LABEL string, print only].
inline constexpr unsigned kTypeRead = 0x50;
inline constexpr unsigned kTypeWrite = 0x51;
inline constexpr unsigned kTypeFetch = 0x52;
inline constexpr unsigned kTypePrint = 0x53;

// FLAGS of a full access, the frequent ones in the first 7 bits (one varint byte).
inline constexpr std::uint64_t kAccValue = 1u << 0;        // VALUE follows (has_value)
inline constexpr unsigned kAccExpectShift = 1;             // bits 3-1: Expect (kExpect* below)
inline constexpr std::uint64_t kAccExpectValue = 1u << 4;  // EXPECT_VALUE follows (expect_value != 0)
inline constexpr unsigned kAccSlotShift = 5;               // bits 6-5: address slot
inline constexpr std::uint64_t kAccHasCode = 1u << 7;      // expect_has_code
inline constexpr unsigned kAccSegvShift = 8;               // bits 9-8: SegvCode (kSegv* below)
inline constexpr std::uint64_t kAccSupervisor = 1u << 10;  // user=0
inline constexpr std::uint64_t kAccImplicit = 1u << 11;
inline constexpr std::uint64_t kAccStack = 1u << 12;
inline constexpr std::uint64_t kAccRmw = 1u << 13;
inline constexpr std::uint64_t kAccKnown = (1u << 14) - 1;

// Expect codes in the FLAGS of a full access.
inline constexpr unsigned kExpectNone = 0, kExpectPhysAddr = 1, kExpectPageFault = 2, kExpectGP = 3,
                          kExpectSS = 4, kExpectSigsegv = 5, kExpectSigbus = 6;
inline constexpr unsigned kSegvAny = 0, kSegvMapErr = 1, kSegvAccErr = 2;

// Other events. PID fields are varints of at most 2^32 - 1; "string" is a varint
// length (at most kMaxString) then that many bytes.
inline constexpr unsigned kTypeCpu = 0x60;           // N
inline constexpr unsigned kTypeSwitch = 0x61;        // PID
inline constexpr unsigned kTypeSpawn = 0x62;         // PID, FLAGS (bit 0 automap), NAME string
inline constexpr unsigned kTypeMmap = 0x63;          // PID, ADDR, LEN, PROT, FLAGS (kMmap*), [FILE string, OFFSET], [NAME string]
inline constexpr unsigned kTypeMprotect = 0x64;      // PID, ADDR, LEN, PROT
inline constexpr unsigned kTypeMunmap = 0x65;        // PID, ADDR, LEN
inline constexpr unsigned kTypeFork = 0x66;          // PARENT, CHILD
inline constexpr unsigned kTypeThread = 0x67;        // PID, TID
inline constexpr unsigned kTypeMadvise = 0x68;       // PID, ADDR, LEN, ADVICE (0 DONTNEED, 1 HUGEPAGE, 2 NOHUGEPAGE)
inline constexpr unsigned kTypeExec = 0x69;          // PID, NAME string
inline constexpr unsigned kTypeExit = 0x6a;          // PID
inline constexpr unsigned kTypeFile = 0x6b;          // NAME string, SIZE, FLAGS (bit 0 fs=tmpfs)
inline constexpr unsigned kTypeMark = 0x6c;          // NAME string
inline constexpr unsigned kTypeExpectFaults = 0x6d;  // PID, FLAGS (bit 0 majflt given), MINFLT, [MAJFLT]
inline constexpr unsigned kTypeMode = 0x70;          // MODE (0 bare)
inline constexpr unsigned kTypePoke = 0x71;          // PADDR, SIZE, VALUE
inline constexpr unsigned kTypePeek = 0x72;          // PADDR, SIZE, FLAGS (bit 0 VALUE follows), [VALUE]
inline constexpr unsigned kTypeSet = 0x73;           // COUNT (>= 1), then COUNT x (NAME index into kSetNames, VALUE)
inline constexpr unsigned kTypeInvlpg = 0x74;        // ADDR
inline constexpr unsigned kTypeInvpcid = 0x75;       // TYPE, PCID, ADDR
inline constexpr unsigned kTypeEnd = 0x7f;           // the last record: nothing may follow

// PROT: a FLAGS varint (bit 0 read, 1 write, 2 exec, 3 writecopy) then the Windows
// PAGE_* value (0 for POSIX letters) as a varint.
inline constexpr unsigned kProtRead = 1, kProtWrite = 2, kProtExec = 4, kProtWritecopy = 8;

// mmap FLAGS.
inline constexpr unsigned kMmapShared = 1u << 0, kMmapPopulate = 1u << 1, kMmapHuge = 1u << 2,
                          kMmapFixed = 1u << 3, kMmapFile = 1u << 4, kMmapName = 1u << 5;
inline constexpr unsigned kMmapKnown = (1u << 6) - 1;

// Modes of `mode`.
inline constexpr std::array<std::string_view, 1> kModeNames{{"bare"}};

// The registers of `set`, by index (the NAME field of a set record), with the
// largest value the text grammar accepts for each.
struct SetName {
  std::string_view name;
  std::uint64_t max;
};
inline constexpr std::array<SetName, 16> kSetNames{{
    {"cr0.wp", 1},    {"cr3", ~std::uint64_t{0}}, {"cr4.pge", 1},   {"cr4.pcide", 1},
    {"cr4.smep", 1},  {"cr4.smap", 1},            {"cr4.pke", 1},   {"cr4.la57", 1},
    {"efer.nxe", 1},  {"rflags.ac", 1},           {"cpl", 3},       {"pkru", 0xffffffffu},
    {"cr0.pg", 1},    {"cr4.pae", 1},             {"efer.lme", 1},  {"maxphyaddr", ~std::uint64_t{0}},
}};
// Index of a set register name, or kSetNames.size().
constexpr std::size_t set_index(std::string_view name) {
  for (std::size_t i = 0; i < kSetNames.size(); ++i)
    if (kSetNames[i].name == name) return i;
  return kSetNames.size();
}

// Limits: a reader refuses anything larger (the text format's longest line).
inline constexpr std::uint64_t kMaxString = 64u << 20;
inline constexpr std::uint64_t kMaxSetCount = 16u << 20;
inline constexpr unsigned kMaxVarint = 10;  // bytes of a 64-bit LEB128 varint

}  // namespace mmusim::traces::binary
