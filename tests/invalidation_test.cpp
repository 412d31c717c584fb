// TLB and paging-structure-cache invalidation (Intel SDM Vol. 3A §4.10), one test per
// rule, as the mmusim binary runs it: each test is a bare-mode trace. `poke` changes
// memory without touching the TLB, so a translation still cached shows the OLD
// physical address and one invalidated shows the NEW one. Every trace first checks
// its premise (the stale translation is visible before the operation), then the
// effect of the operation; a failed expectation names its trace line on stderr.
// The rules: /work/shared/reference/x86-paging-semantics.md §4.2-§4.4 and the
// "Invalidation" table of docs/hardware-model.md.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"

namespace {

using nlohmann::json;

// PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000 -> PT 0x4000. PT[i], at 0x4000 + 8*i, maps
// the page 0x400000 + i*0x1000. Entry flags: P=0x1 RW=0x2 US=0x4 A=0x20 D=0x40
// PS=0x80 G=0x100. CPL 0, CR0.WP=1, CR4.PGE=0, CR4.PCIDE=0 until a test sets them.
const std::string kPaging = R"(mode bare
set cr3=0x1000
poke 0x1000 0x2007                 # PML4[0] -> PDPT 0x2000 (P RW US)
poke 0x2000 0x3007                 # PDPT[0] -> PD 0x3000
poke 0x3010 0x4007                 # PD[2]   -> PT 0x4000: 0x400000..0x5fffff
)";

// For the INVPCID types: a global entry for 0x400000, and entries for 0x401000 under
// PCID 1 and PCID 2 (PCID 2 running); then both pages move in memory only, so a read
// of the old address shows an entry that survived, of the new one an entry that went.
const std::string kGlobalAndTwoPcids = kPaging + R"(set cr4.pge=1 cr4.pcide=1 cr3=0x1001
poke 0x4000 0x5107                 # 0x400000 -> 0x5000, global
poke 0x4008 0x6007                 # 0x401000 -> 0x6000
r 0x400000 expect=0x5000           # global entry
r 0x401000 expect=0x6000           # PCID 1's entry
set cr3=0x8000000000001002         # PCID 2, no flush
r 0x401000 expect=0x6000           # PCID 2's entry
poke 0x4000 0x7107                 # both pages move in memory only
poke 0x4008 0x8007
)";

// For the paging-structure caches: two page tables for the same 2 MiB, PT1 (0x4000,
// where PD[2] points) maps page i of 0x400000 to 0x10000 + i pages, PT2 (0x5000) to
// 0x20000 + i pages, and PT1[5] is absent. Which one a walk used shows in the PA.
const std::string kTwoPageTables = kPaging + R"(poke 0x4000 0x10007
poke 0x4008 0x11007
poke 0x4010 0x12007
poke 0x4018 0x13007
poke 0x4020 0x14007
poke 0x5000 0x20007
poke 0x5008 0x21007
poke 0x5010 0x22007
poke 0x5018 0x23007
poke 0x5020 0x24007
poke 0x5028 0x25007
)";

class Invalidation : public cli_test::TempDirTest {
 protected:
  // Runs `trace` with `mmusim run` (plus `options`, e.g. --set KEY=VALUE); every
  // expectation in it must hold (status 0). Returns the --stats counters.
  json run(const std::string& trace, const std::string& options = "") {
    const std::string file = write("t.trace", trace);
    const std::string stats = (dir_ / "stats.json").string();
    const cli_test::Result r = mmusim("run --quiet --check --stats " + stats + " " + options + " " + file);
    EXPECT_EQ(r.status, 0) << r.all();
    std::ifstream in(stats);
    if (!in) {
      ADD_FAILURE() << "no --stats file\n" << r.all();
      return json::object();
    }
    return json::parse(in);
  }
};

// TLB entries of one page size at one level removed by one cause (tlb::kFlushNames).
int removed(const json& j, const char* level, const char* size, const char* cause) {
  return j.at("tlb").at(level).at("by_page_size").at(size).at("invalidations").at(cause).get<int>();
}

// ---- MOV to CR3, global pages and PCIDs ------------------------------------------

TEST_F(Invalidation, GlobalEntrySurvivesMovToCr3_SDM4_10_4_1) {
  const json j = run(kPaging + R"(
set cr4.pge=1
poke 0x4000 0x5107                 # 0x400000 -> 0x5000, global (G, bit 8)
poke 0x4008 0x6007                 # 0x401000 -> 0x6000, not global
r 0x400000 expect=0x5000           # both cached
r 0x401000 expect=0x6000
poke 0x4000 0x7107                 # both pages move in memory only
poke 0x4008 0x8007
r 0x400000 expect=0x5000           # premise: both translations are still cached
r 0x401000 expect=0x6000
set cr3=0x1000                     # MOV to CR3 (PCIDE=0)
r 0x400000 expect=0x5000           # global: survives (SDM §4.10.2.4)
r 0x401000 expect=0x8000           # non-global: flushed, walked again
)");
  EXPECT_EQ(removed(j, "l1d", "4k", "cr3"), 1);  // the non-global entry, at both levels
  EXPECT_EQ(removed(j, "l2", "4k", "cr3"), 1);
}

TEST_F(Invalidation, GlobalFlagIsIgnoredWithoutCr4Pge_SDM4_10_2_4) {
  run(kPaging + R"(
set cr4.pge=0                      # (the bare-mode default)
poke 0x4000 0x5107                 # 0x400000 -> 0x5000 with G=1
r 0x400000 expect=0x5000
poke 0x4000 0x7107
r 0x400000 expect=0x5000           # premise: cached
set cr3=0x1000
r 0x400000 expect=0x7000           # G without CR4.PGE: an ordinary entry, flushed
)");
}

TEST_F(Invalidation, EntryCachedUnderOnePcidIsNotUsedUnderAnother_SDM4_10_1) {
  const json j = run(kPaging + R"(
set cr4.pcide=1 cr3=0x1001         # PCID 1
poke 0x4000 0x5007                 # 0x400000 -> 0x5000
r 0x400000 expect=0x5000           # cached, tagged with PCID 1
poke 0x4000 0x6007                 # 0x400000 -> 0x6000 in memory
set cr3=0x8000000000001002         # PCID 2, bit 63 set: nothing is flushed
r 0x400000 expect=0x6000           # PCID 1's entry is not used: walked, cached for PCID 2
set cr3=0x8000000000001001         # back to PCID 1, no flush
r 0x400000 expect=0x5000           # its own entry was there all along
set cr3=0x8000000000001002
r 0x400000 expect=0x6000           # and PCID 2 keeps its own
)");
  EXPECT_EQ(removed(j, "l1d", "4k", "cr3"), 0);  // the tags kept them apart, not a flush
}

TEST_F(Invalidation, PscEntriesAreTaggedByPcid_SDM4_10_3_1) {
  const json j = run(kTwoPageTables + R"(
set cr4.pcide=1 cr3=0x1001         # PCID 1
r 0x400000 expect=0x10000          # the walk caches PD[2] -> PT1 in the PDE cache, PCID 1
poke 0x3010 0x5027                 # PD[2] -> PT2 (A preset)
set cr3=0x8000000000001002         # PCID 2, no flush
r 0x401000 expect=0x21000          # PCID 1's PDE-cache entry is not used: PT2
set cr3=0x8000000000001001         # PCID 1, no flush
r 0x402000 expect=0x12000          # a page no TLB holds: PCID 1's PDE-cache entry, PT1
)");
  EXPECT_EQ(j.at("psc").at("pde").at("hits").get<int>(), 1);  // only the last walk started from it
}

// That bit 63 is not stored cannot be seen from a trace (there is no MOV from CR3).
// The trace checks that it does not become part of the root (a fresh walk after the
// load works) and that it is a hint for one load only (the next load without it flushes).
TEST_F(Invalidation, MovToCr3WithBit63KeepsThePcidsEntries_SDM4_10_4_1) {
  run(kPaging + R"(
set cr4.pcide=1 cr3=0x1001         # PCID 1
poke 0x4000 0x5007                 # 0x400000 -> 0x5000
poke 0x4008 0x6007                 # 0x401000 -> 0x6000
r 0x400000 expect=0x5000           # cached under PCID 1
poke 0x4000 0x7007                 # moved in memory only
set cr3=0x8000000000001001         # reload PCID 1 with the no-flush bit
r 0x400000 expect=0x5000           # not flushed
r 0x401000 expect=0x6000           # a fresh walk from CR3: bit 63 is not part of the root
set cr3=0x1001                     # the same CR3 without bit 63: a flushing reload
r 0x400000 expect=0x7000
)");
}

TEST_F(Invalidation, MovToCr3FlushesOnlyTheNewPcidsNonGlobalEntries_SDM4_10_4_1) {
  const json j = run(kPaging + R"(
set cr4.pge=1 cr4.pcide=1 cr3=0x1001
poke 0x4000 0x5107                 # 0x400000 -> 0x5000, global
poke 0x4008 0x6007                 # 0x401000 -> 0x6000
r 0x400000 expect=0x5000           # global entry
r 0x401000 expect=0x6000           # PCID 1's entry
set cr3=0x8000000000001002         # PCID 2, no flush
r 0x401000 expect=0x6000           # PCID 2's own entry
poke 0x4000 0x7107                 # both pages move in memory only
poke 0x4008 0x8007
r 0x401000 expect=0x6000           # premise: PCID 2's entry is cached
set cr3=0x1001                     # MOV to CR3 loading PCID 1, bit 63 clear
r 0x401000 expect=0x8000           # PCID 1's non-global entry: flushed
r 0x400000 expect=0x5000           # the global entry: kept
set cr3=0x8000000000001002         # back to PCID 2, no flush
r 0x401000 expect=0x6000           # PCID 2's entry survived PCID 1's flush
)");
  EXPECT_EQ(removed(j, "l1d", "4k", "cr3"), 1);
}

TEST_F(Invalidation, MovToCr3DropsOnlyTheNewPcidsPscEntries_SDM4_10_4_1) {
  run(kTwoPageTables + R"(
set cr4.pcide=1 cr3=0x1001         # PCID 1
r 0x400000 expect=0x10000          # PDE cache, PCID 1: PD[2] -> PT1
set cr3=0x8000000000001002         # PCID 2, no flush
r 0x400000 expect=0x10000          # PDE cache, PCID 2: PD[2] -> PT1
poke 0x3010 0x5027                 # PD[2] -> PT2 (A preset)
r 0x401000 expect=0x11000          # premise: PCID 2's PDE-cache entry is stale
set cr3=0x1001                     # flushing load of PCID 1
r 0x402000 expect=0x22000          # PCID 1's PSC entries went: the walk read the new PDE
set cr3=0x8000000000001002         # PCID 2, no flush
r 0x403000 expect=0x13000          # PCID 2's stayed: still PT1
)");
}

// ---- INVLPG ----------------------------------------------------------------------

TEST_F(Invalidation, InvlpgOfAnyAddressInA2MPageRemovesIt_SDM4_10_4_1) {
  const json j = run(kPaging + R"(
poke 0x3020 0x2000a7               # PD[4]: 0x800000 -> 2 MiB page at 0x200000 (P RW US A PS)
r 0x800000 expect=0x200000         # one 2 MiB TLB entry
poke 0x3020 0x4000a7               # the page moves to 0x400000 in memory only
r 0x9ff000 expect=0x3ff000         # premise: the entry covers the whole page, stale
invlpg 0x812345                    # an address in the middle of the page
r 0x800000 expect=0x400000
r 0x9ff000 expect=0x5ff000
)");
  EXPECT_EQ(removed(j, "l1d", "2m", "invlpg"), 1);
  EXPECT_EQ(removed(j, "l2", "2m", "invlpg"), 1);
}

TEST_F(Invalidation, InvlpgRemovesTheCurrentPcidsAndGlobalEntries_SDM4_10_4_1) {
  run(kPaging + R"(
set cr4.pge=1 cr4.pcide=1 cr3=0x1001
poke 0x4000 0x5107                 # 0x400000 -> 0x5000, global
poke 0x4008 0x6007                 # 0x401000 -> 0x6000
r 0x400000 expect=0x5000           # global entry, filled while PCID 1 ran
r 0x401000 expect=0x6000           # PCID 1's entry
poke 0x4000 0x7107                 # both pages move in memory only
poke 0x4008 0x8007
set cr3=0x8000000000001002         # PCID 2, no flush
r 0x400000 expect=0x5000           # premise: the global entry serves PCID 2 too
invlpg 0x400000                    # INVLPG under PCID 2
r 0x400000 expect=0x7000           # the global entry went
set cr3=0x8000000000001001         # PCID 1, no flush
r 0x401000 expect=0x6000           # premise: PCID 1's entry is cached
invlpg 0x401000                    # INVLPG in the current PCID
r 0x401000 expect=0x8000
)");
}

TEST_F(Invalidation, InvlpgDropsEveryPscEntryOfTheCurrentPcid_SDM4_10_4_1) {
  const json j = run(kTwoPageTables + R"(
r 0x400000 expect=0x10000          # PDE cache: PD[2] -> PT1
poke 0x3010 0x5027                 # PD[2] -> PT2 (A preset)
r 0x401000 expect=0x11000          # premise: a page no TLB holds, walked from the stale PDE-cache entry
invlpg 0x7ff000                    # another page, in another 2 MiB, never accessed
r 0x402000 expect=0x22000          # the walk read the new PDE
)");
  EXPECT_GE(j.at("psc").at("pde").at("invalidations").get<int>(), 1);
}

TEST_F(Invalidation, InvlpgRemovesEverySmashedPieceOfA1GPage_SDM4_10_2_3) {
  // Without a 1G array the L1 DTLB caches a 1 GiB page as 2 MiB pieces, one per 2 MiB used.
  const json j = run(kPaging + R"(
poke 0x2008 0x400000a7             # PDPT[1]: 0x40000000 -> 1 GiB page at 0x40000000 (P RW US A PS)
r 0x40000000 expect=0x40000000     # one piece
r 0x40200000 expect=0x40200000     # another piece, 2 MiB further
poke 0x2008 0x800000a7             # the page moves to 0x80000000 in memory only
r 0x40000000 expect=0x40000000     # premise: both pieces are cached
r 0x40200000 expect=0x40200000
invlpg 0x40400000                  # a third address of the page, in no piece
r 0x40000000 expect=0x80000000     # both pieces went
r 0x40200000 expect=0x80200000
)", "--set tlb.l1d.1g.entries=0");
  EXPECT_EQ(j.at("tlb").at("l1d").at("by_page_size").at("1g").at("fills").get<int>(), 4);  // 2 pieces, twice
  EXPECT_EQ(removed(j, "l1d", "1g", "invlpg"), 2);                           // both pieces
  EXPECT_EQ(removed(j, "l2", "1g", "invlpg"), 1);                            // one 1 GiB entry
}

// ---- INVPCID ---------------------------------------------------------------------

TEST_F(Invalidation, InvpcidType0RemovesOneNonGlobalAddressOfOnePcid_SDM4_10_4_1) {
  const json j = run(kPaging + R"(
set cr4.pge=1 cr4.pcide=1 cr3=0x1001
poke 0x4000 0x5107                 # 0x400000 -> 0x5000, global
poke 0x4008 0x6007                 # 0x401000 -> 0x6000
poke 0x4010 0x7007                 # 0x402000 -> 0x7000
r 0x400000 expect=0x5000           # all three cached while PCID 1 runs
r 0x401000 expect=0x6000
r 0x402000 expect=0x7000
poke 0x4000 0x8107                 # all three move in memory only
poke 0x4008 0x9007
poke 0x4010 0xa007
set cr3=0x8000000000001002         # run PCID 2: INVPCID names PCID 1 explicitly
invpcid 0 1 0x401000               # {PCID 1, 0x401000}
invpcid 0 1 0x400000               # {PCID 1, 0x400000}: a global entry may stay
set cr3=0x8000000000001001         # PCID 1, no flush
r 0x401000 expect=0x9000           # removed
r 0x400000 expect=0x5000           # global: kept (the model keeps it)
r 0x402000 expect=0x7000           # another address: kept (type 0 is not type 1)
)");
  EXPECT_EQ(removed(j, "l1d", "4k", "invpcid_address"), 1);
}

TEST_F(Invalidation, InvpcidType1RemovesOnePcidsNonGlobalEntries_SDM4_10_4_1) {
  run(kGlobalAndTwoPcids + R"(invpcid 1 1                        # PCID 1's context, while PCID 2 runs
r 0x401000 expect=0x6000           # PCID 2's entry: kept
r 0x400000 expect=0x5000           # global: kept
set cr3=0x8000000000001001         # PCID 1, no flush
r 0x401000 expect=0x8000           # PCID 1's entry: removed
)");
}

TEST_F(Invalidation, InvpcidType2RemovesEverythingIncludingGlobals_SDM4_10_4_1) {
  run(kGlobalAndTwoPcids + R"(r 0x400000 expect=0x5000           # premise: still cached
invpcid 2
r 0x400000 expect=0x7000           # global: removed
r 0x401000 expect=0x8000           # PCID 2's: removed
set cr3=0x8000000000001001         # PCID 1, no flush
r 0x401000 expect=0x8000           # PCID 1's: removed
)");
}

TEST_F(Invalidation, InvpcidType3RemovesAllNonGlobalEntriesKeepsGlobals_SDM4_10_4_1) {
  run(kGlobalAndTwoPcids + R"(invpcid 3
r 0x400000 expect=0x5000           # global: kept
r 0x401000 expect=0x8000           # PCID 2's: removed
set cr3=0x8000000000001001         # PCID 1, no flush
r 0x401000 expect=0x8000           # PCID 1's: removed
)");
}

// ---- MOV to CR4 ------------------------------------------------------------------

TEST_F(Invalidation, MovToCr4ChangingPgeRemovesEverything_SDM4_10_4_1) {
  const json j = run(kPaging + R"(
set cr4.pge=1
poke 0x4000 0x5107                 # 0x400000 -> 0x5000, global
poke 0x4008 0x6007                 # 0x401000 -> 0x6000
r 0x400000 expect=0x5000
r 0x401000 expect=0x6000
poke 0x4000 0x7107                 # both pages move in memory only
poke 0x4008 0x8007
r 0x400000 expect=0x5000           # premise: both cached
r 0x401000 expect=0x6000
set cr4.pge=0                      # PGE 1 -> 0
r 0x400000 expect=0x7000           # global: removed
r 0x401000 expect=0x8000           # non-global: removed
poke 0x4008 0x9007
set cr4.pge=1                      # PGE 0 -> 1 flushes too
r 0x401000 expect=0x9000
)");
  EXPECT_EQ(removed(j, "l1d", "4k", "cr4"), 4);  // 2 entries, then the 2 walked again
}

TEST_F(Invalidation, MovToCr4ClearingPcideRemovesEveryPcidAndGlobals_SDM4_10_4_1) {
  run(kGlobalAndTwoPcids + R"(r 0x400000 expect=0x5000           # premise: still cached
set cr4.pcide=0 cr3=0x1000         # PCIDE 1 -> 0 (CR3 loads PCID 0: it cannot drop the others)
r 0x400000 expect=0x7000           # global: removed
set cr4.pcide=1                    # PCIDE 0 -> 1 (CR3[11:0] = 0): no flush needed
set cr3=0x8000000000001001         # PCID 1, no flush
r 0x401000 expect=0x8000           # PCID 1's: removed
set cr3=0x8000000000001002         # PCID 2, no flush
r 0x401000 expect=0x8000           # PCID 2's: removed
)");
}

// ---- Rights evaluated at use: no flush needed (SDM §4.10.2.2) --------------------

TEST_F(Invalidation, Cr0WpChangeNeedsNoFlush_SDM4_10_2_2) {
  const json j = run(kPaging + R"(
set cr0.wp=0
poke 0x4000 0x9061                 # 0x400000 -> 0x9000, supervisor, read-only (A D preset)
r 0x400000 expect=0x9000           # cached
poke 0x4000 0xa061                 # the page moves in memory only
w 0x400000 expect=0x9000           # WP=0: a supervisor write to a read-only page, from the TLB
set cr0.wp=1
r 0x400000 expect=0x9000           # the CR0 write flushed nothing
w 0x400000 expect=#PF:0x3          # the same entry refuses the write now
set cr0.wp=0
w 0x400000 expect=0xa000           # the #PF dropped the entry: walked
)");
  EXPECT_EQ(j.at("tlb").at("rewalks_rights").get<int>(), 1);  // the refused hit, checked in memory
}

TEST_F(Invalidation, RflagsAcChangeNeedsNoFlush_SDM4_10_2_2) {
  run(kPaging + R"(
set cr4.smap=1 rflags.ac=1
poke 0x4000 0x9027                 # 0x400000 -> 0x9000, a user page (A preset)
r 0x400000 expect=0x9000           # supervisor read of a user page with AC=1: allowed, cached
poke 0x4000 0xa027                 # the page moves in memory only
set rflags.ac=0                    # CLAC
set rflags.ac=1                    # STAC
r 0x400000 expect=0x9000           # neither flushed anything
set rflags.ac=0
r 0x400000 expect=#PF:0x1          # the same entry now fails SMAP: P
set rflags.ac=1
r 0x400000 expect=0xa000           # the #PF dropped the entry: walked
)");
}

TEST_F(Invalidation, PkruChangeNeedsNoFlush_SDM4_10_2_2) {
  run(kPaging + R"(
set cr4.pke=1 cpl=3
poke 0x4000 0x0800000000009067     # 0x400000 -> 0x9000, user RW, key 1 (bits 62:59), A D preset
r 0x400000 expect=0x9000           # PKRU=0: cached
poke 0x4000 0x080000000000a067     # the page moves in memory only
set pkru=0x8                       # WRPKRU: WD1 (write-disable key 1)
r 0x400000 expect=0x9000           # nothing flushed; reads still allowed
w 0x400000 expect=#PF:0x27         # the same entry refuses the write: P W U PK
set pkru=0
w 0x400000 expect=0xa000           # the #PF dropped the entry: walked
)");
}

// ---- Accessed/dirty, combined rights, faults -------------------------------------

TEST_F(Invalidation, WriteToACleanCachedEntryRewalksAndSetsDirty_SDM4_8) {
  const json j = run(kPaging + R"(
poke 0x4000 0x9003                 # 0x400000 -> 0x9000, supervisor RW, A=D=0
r 0x400000 expect=0x9000           # cached with D=0
peek 0x4000 =0x9023                # the read set A only
w 0x400000 expect=0x9000           # hits the clean entry: walked again
peek 0x4000 =0x9063                # D is set in memory
poke 0x4000 0x9023                 # software clears D
w 0x400000 expect=0x9000           # the entry is dirty now: served from the TLB ...
peek 0x4000 =0x9023                # ... without writing D again (SDM §4.8)
)");
  EXPECT_EQ(j.at("tlb").at("rewalks_dirty").get<int>(), 1);
  EXPECT_EQ(j.at("walks").at("count").get<int>(), 2);
}

TEST_F(Invalidation, PscHoldsTheRightsCombinedAlongEachPath_SDM4_10_3_1) {
  // Two paths to one page directory (x86-paging-semantics.md T84): PDPT[0] read-only,
  // PDPT[1] writable. A PSC that kept one copy per table, or the rights of the last
  // path filled, would let the write through path A succeed or path B fail.
  const json j = run(R"(mode bare
set cr3=0x1000
poke 0x1000 0x2007                 # PML4[0] -> PDPT 0x2000 (P RW US)
poke 0x2000 0x3005                 # PDPT[0] -> PD 0x3000, read-only: path A, 0x0...
poke 0x2008 0x3007                 # PDPT[1] -> PD 0x3000, writable:  path B, 0x40000000...
poke 0x3000 0x4007                 # PD[0] -> PT 0x4000
poke 0x4000 0x10007                # PT[0] -> 0x10000
poke 0x4008 0x11007                # PT[1] -> 0x11000
poke 0x4010 0x12007                # PT[2] -> 0x12000
r 0x0 expect=0x10000               # path A: PDE cached with R/W=0 combined
r 0x40000000 expect=0x10000        # path B, filled last: PDE cached with R/W=1
w 0x1000 expect=#PF:0x3            # a new page via A, walked from A's PDE-cache entry: read-only
w 0x40001000 expect=0x11000        # a new page via B, from B's PDE-cache entry: writable
w 0x0 expect=#PF:0x3               # the cached translations: A read-only ...
w 0x40000000 expect=0x10000        # ... B writable
w 0x40002000 expect=0x12000        # and B's PDE-cache entry outlived A's faults
)");
  EXPECT_GE(j.at("psc").at("pde").at("hits").get<int>(), 3);  // the writes to new pages started from it
}

TEST_F(Invalidation, HitThatForbidsTheAccessIsRewalkedFromMemory_SDM4_10_4_3_PolicyRw) {
  // The SDM lets a processor raise a #PF from such a stale entry (§4.10.4.3); mmusim
  // re-walks instead (x86-paging-semantics.md §4.2, POLICY-RW), so memory decides.
  const json j = run(kPaging + R"(
set cpl=3
poke 0x4000 0x5025                 # 0x400000 -> 0x5000, user read-only (A preset)
r 0x400000 expect=0x5000           # cached read-only
poke 0x4000 0x6027                 # writable now, at another frame, in memory only
r 0x400000 expect=0x5000           # premise: the read-only entry is cached
w 0x400000 expect=0x6000           # the hit refuses the write: dropped, walked, allowed
)");
  EXPECT_EQ(j.at("tlb").at("rewalks_rights").get<int>(), 1);
  EXPECT_EQ(j.at("exceptions").at("page_faults").get<int>(), 0);
}

TEST_F(Invalidation, PageFaultRemovesItsAddressFromEveryTlb_SDM4_10_4_1) {
  // The fetch faults (XD) without using the L1 DTLB; its #PF must still drop the
  // L1 DTLB's entry for the address.
  const json j = run(kPaging + R"(
set efer.nxe=1
poke 0x4000 0x8000000000009003     # 0x400000 -> 0x9000, supervisor RW, XD
r 0x400000 expect=0x9000           # cached in the L1 DTLB and the L2
poke 0x4000 0x800000000000a003     # the page moves in memory only
r 0x400000 expect=0x9000           # premise: the L1 DTLB entry is cached
x 0x400000 expect=#PF:0x11         # supervisor fetch from an XD page: P I/D
r 0x400000 expect=0xa000           # the #PF dropped the L1 DTLB entry
)");
  EXPECT_EQ(removed(j, "l1d", "4k", "page_fault"), 1);
}

TEST_F(Invalidation, PageFaultRemovesThePscEntriesOfItsAddress_SDM4_10_4_1) {
  const json j = run(kTwoPageTables + R"(
r 0x400000 expect=0x10000          # PDE cache: PD[2] -> PT1
poke 0x3010 0x5027                 # PD[2] -> PT2, whose entry 5 is present (A preset)
r 0x405000 expect=#PF:0x0          # walked from the stale PDE-cache entry: PT1[5] is absent
r 0x405000 expect=0x25000          # the #PF dropped that entry: the walk reads the new PDE
)");
  EXPECT_EQ(j.at("psc").at("pde").at("hits").get<int>(), 1);  // the faulting walk, and only it
}

}  // namespace
