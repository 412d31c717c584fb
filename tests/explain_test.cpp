// `mmusim explain TRACE --line N`: the explanation of one access, checked against what
// the traces' own expectations and the SDM say it must show (docs/explain.md).
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "cli_support.hpp"

namespace {

using cli_test::Result;

const std::string kBareWalk = std::string(MMUSIM_EXAMPLES) + "/bare-walk.trace";
const std::string kForkCow = std::string(MMUSIM_EXAMPLES) + "/fork-cow.trace";

class ExplainTest : public cli_test::TempDirTest {
 protected:
  Result explain(const std::string& trace, unsigned line, const std::string& extra = "") {
    return mmusim("explain " + trace + " --line " + std::to_string(line) + (extra.empty() ? "" : " " + extra));
  }
};

// The text between the first occurrence of `from` and the next of `to` (or the end).
std::string section(const std::string& text, const std::string& from, const std::string& to) {
  const auto a = text.find(from);
  if (a == std::string::npos) return "";
  const auto b = text.find(to, a + from.size());
  return text.substr(a, b == std::string::npos ? std::string::npos : b - a);
}

bool matches(const std::string& text, const std::string& re) { return std::regex_search(text, std::regex(re)); }

// bare-walk.trace line 17: the first access, a cold walk through all four levels the
// trace built by hand (PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000 -> PT 0x4000 -> 0x5000).
TEST_F(ExplainTest, BareFirstReadShowsTheSplitEveryEntryAndTheAddress) {
  const Result r = explain(kBareWalk, 17);
  ASSERT_EQ(r.status, 0) << r.all();
  // VA 0x400010: PML4 0, PDPT 0, PD 2, PT 0, offset 0x10 (SDM §4.5).
  EXPECT_TRUE(matches(r.out, R"(bits 47:39\s+PML4 index\s+0\s+0x0\b)")) << r.out;
  EXPECT_TRUE(matches(r.out, R"(bits 38:30\s+PDPT index\s+0\s+0x0\b)")) << r.out;
  EXPECT_TRUE(matches(r.out, R"(bits 29:21\s+PD\s+index\s+2\s+0x2\b)")) << r.out;
  EXPECT_TRUE(matches(r.out, R"(bits 20:12\s+PT\s+index\s+0\s+0x0\b)")) << r.out;
  EXPECT_TRUE(matches(r.out, R"(bits 11:0\s+page offset\s+16\s+0x10\b)")) << r.out;
  // Nothing cached yet: the walk starts at CR3.
  EXPECT_TRUE(matches(r.out, R"(L1 DTLB\s+miss)")) << r.out;
  EXPECT_TRUE(matches(r.out, R"(PSC PDE\s+miss)")) << r.out;
  EXPECT_NE(r.out.find("the walk starts at the PML4 named by CR3"), std::string::npos) << r.out;
  // Each entry at table + 8 * index, with the value the trace poked (A not yet set).
  EXPECT_NE(r.out.find("PML4[0] at 0x1000 = 0x0000000000002007"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PDPT[0] at 0x2000 = 0x0000000000003007"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PD[2] at 0x3010 = 0x0000000000004007"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PT[0] at 0x4000 = 0x0000000000005005"), std::string::npos) << r.out;
  // The PTE's R/W=0 makes the combined rights read-only; U/S stays 1 (SDM §4.6.1).
  const std::string pte = section(r.out, "PT[0] at 0x4000", "Outcome");
  EXPECT_NE(pte.find("P=1 R/W=0 U/S=1"), std::string::npos) << pte;
  EXPECT_NE(pte.find("rights so far  R/W=0 U/S=1 XD=0"), std::string::npos) << pte;
  // The walk set A (SDM §4.8): the PTE reads 0x5025 afterwards, as line 18 peeks.
  EXPECT_NE(pte.find("now 0x0000000000005025: this access set A"), std::string::npos) << pte;
  EXPECT_NE(r.out.find("Outcome: physical address 0x5010 (from the walk"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Result: the access completes at physical address 0x5010"), std::string::npos) << r.out;
}

// bare-walk.trace line 32: at CPL 3 a write to the read-only page. The L1 entry from
// line 31 is found but may not serve a write, the PSCs let the walk start at the PT,
// and the #PF error code is P|W|U = 0x7.
TEST_F(ExplainTest, BareUserWriteToReadOnlyPageDecodesTheErrorCode) {
  const Result r = explain(kBareWalk, 32);
  ASSERT_EQ(r.status, 0) << r.all();
  EXPECT_NE(r.out.find("user mode (CPL 3)"), std::string::npos) << r.out;
  EXPECT_TRUE(matches(r.out, R"(L1 DTLB\s+hit\s+4 KiB page 0x400000 -> frame 0x5000, R/W=0)")) << r.out;
  EXPECT_NE(r.out.find("not usable: a write to a read-only page"), std::string::npos) << r.out;
  EXPECT_TRUE(matches(r.out, R"(PSC PDE\s+hit\s+PT at 0x4000)")) << r.out;
  EXPECT_NE(r.out.find("the walk starts at the PT (PSC PDE hit): 3 entry loads skipped"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PD[2] at 0x3010 = 0x0000000000004027   line in l1d   (not read: the PSC PDE entry"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("forbids this access: a write to a read-only page (R/W=0 at some level) in user mode"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("Outcome: #PF, error code 0x7, CR2 = 0x400010"), std::string::npos) << r.out;
  EXPECT_TRUE(matches(r.out, R"(bit 0\s+P\s+1)")) << r.out;
  EXPECT_TRUE(matches(r.out, R"(bit 1\s+W/R\s+1\s+a write)")) << r.out;
  EXPECT_TRUE(matches(r.out, R"(bit 2\s+U/S\s+1\s+a user-mode access)")) << r.out;
  EXPECT_TRUE(matches(r.out, R"(bit 3\s+RSVD\s+0)")) << r.out;
  EXPECT_TRUE(matches(r.out, R"(bit 4\s+I/D\s+0)")) << r.out;
  EXPECT_NE(r.out.find("Bare mode: the exception is reported, not handled"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("Result: the access completes"), std::string::npos) << r.out;
}

// bare-walk.trace line 39: bit 63 (XD) of the PDE is reserved while EFER.NXE=0, so
// the walk stops there with RSVD: P|U|RSVD = 0xd (SDM §4.7).
TEST_F(ExplainTest, BareReservedBitStopsTheWalkWithRsvd) {
  const Result r = explain(kBareWalk, 39);
  ASSERT_EQ(r.status, 0) << r.all();
  EXPECT_NE(r.out.find("EFER.NXE=0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PD[3] at 0x3018 = 0x8000000000007007"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("reserved bits set: 0x8000000000000000 (bit 63: XD is reserved while EFER.NXE=0)"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("PT[0] at 0x7000"), std::string::npos) << "the PTE must not be read:\n" << r.out;
  EXPECT_NE(r.out.find("error code 0xd"), std::string::npos) << r.out;
  EXPECT_TRUE(matches(r.out, R"(bit 3\s+RSVD\s+1)")) << r.out;
}

// bare-walk.trace line 34: a 2 MiB page (PS=1 in PD[4]); the offset is bits 20:0.
TEST_F(ExplainTest, BareLargePageKeepsTheLowBitsAsOffset) {
  const Result r = explain(kBareWalk, 34);
  ASSERT_EQ(r.status, 0) << r.all();
  EXPECT_NE(r.out.find("PD[4] at 0x3020 = 0x0000000000200087"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PS=1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("-> 2 MiB page at 0x200000; the page offset is bits 20:0 of the address = 0x12345"),
            std::string::npos)
      << r.out;
  EXPECT_FALSE(matches(r.out, R"(\bPT\[)")) << "a 2 MiB leaf has no PTE:\n" << r.out;
  EXPECT_NE(r.out.find("this access set A and D"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Outcome: physical address 0x212345"), std::string::npos) << r.out;
}

// bare-walk.trace line 48: the TLB still holds 0x5000 after `poke` moved the page to
// 0x6000: the access uses the stale entry, and explain says memory disagrees.
TEST_F(ExplainTest, BareStaleTlbEntryIsUsedAndNamedStale) {
  const Result r = explain(kBareWalk, 48);
  ASSERT_EQ(r.status, 0) << r.all();
  EXPECT_NE(r.out.find("the L1 DTLB hit serves the access: no walk"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PT[0] at 0x4000 = 0x0000000000006005"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Outcome: physical address 0x5010 (from the L1 DTLB entry"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("stale: memory now maps it to 0x6010"), std::string::npos) << r.out;
}

TEST_F(ExplainTest, BareNonCanonicalAddressIsGpBeforeAnyLookup) {
  const Result r = explain(kBareWalk, 54);
  ASSERT_EQ(r.status, 0) << r.all();
  EXPECT_NE(r.out.find("0x800000000000 is not canonical: bits 63:47 must all equal bit 47"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("Outcome: #GP(0)"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("L1 DTLB"), std::string::npos) << r.out;
}

// An access that crosses a page is two translations, lower page first.
TEST_F(ExplainTest, BareSplitAccessExplainsBothPages) {
  const std::string trace = write("split.trace",
                                  "mode bare\n"
                                  "set cr3=0x1000\n"
                                  "poke 0x1000 0x2003\npoke 0x2000 0x3003\npoke 0x3000 0x4003\n"
                                  "poke 0x4000 0x9003\npoke 0x4008 0xb003\n"
                                  "w 0xffe 4 =0x11223344\n");
  const Result r = explain(trace, 8);
  ASSERT_EQ(r.status, 0) << r.all();
  EXPECT_NE(r.out.find("it crosses a 4 KiB boundary: two translations, 0xffe (2 bytes) then 0x1000 (2 bytes)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("Translation of 0x1000 (piece 2 of 2)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PT[1] at 0x4008 = 0x000000000000b003"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Result: the access completes at physical address 0x9ffe and 0xb000"), std::string::npos)
      << r.out;
}

// fork-cow.trace line 20: the child's `a = 8`. The shared page is read-only in its
// PTE, the write faults with P|W|U, the kernel copies the page (wp_page_copy) and
// the retried translation reaches a new frame.
TEST_F(ExplainTest, OsCopyOnWriteFaultGoesThroughTheKernelAndRetries) {
  const Result r = explain(kForkCow, 20);
  ASSERT_EQ(r.status, 0) << r.all();
  EXPECT_NE(r.out.find("(OS mode)"), std::string::npos) << r.out;
  EXPECT_TRUE(matches(r.out, R"(pid\s+2\n)")) << r.out;
  EXPECT_NE(r.out.find("CR4.PCIDE=1"), std::string::npos) << r.out;

  const std::string first = section(r.out, "Translation of 0x7fffffffe9f8\n", "The kernel handles");
  ASSERT_FALSE(first.empty()) << r.out;
  // VA 0x7fffffffe9f8: PML4 255, PDPT 511, PD 511, PT 510.
  const std::string pte = section(first, "PT[510] at", "Outcome");
  ASSERT_FALSE(pte.empty()) << first;
  EXPECT_NE(pte.find("P=1 R/W=0 U/S=1"), std::string::npos) << pte;
  EXPECT_NE(pte.find("forbids this access: a write to a read-only page"), std::string::npos) << pte;
  EXPECT_NE(first.find("Outcome: #PF, error code 0x7, CR2 = 0x7fffffffe9f8"), std::string::npos) << first;
  EXPECT_TRUE(matches(first, R"(bit 0\s+P\s+1)")) << first;
  EXPECT_TRUE(matches(first, R"(bit 1\s+W/R\s+1)")) << first;
  EXPECT_TRUE(matches(first, R"(bit 2\s+U/S\s+1)")) << first;

  const std::string kernel = section(r.out, "The kernel handles", "Translation of");
  EXPECT_NE(kernel.find("resolved as cow_copy"), std::string::npos) << kernel;
  EXPECT_TRUE(matches(kernel, R"(\n\s+copy\s+\d+\s+\d+\.\d\n)")) << kernel;  // the 4 KiB copy, cycles and ns
  EXPECT_TRUE(matches(kernel, R"(\n\s+total\s+3650\s+1216\.7\n)")) << kernel;
  const auto wp = kernel.find("wp_page_copy"), dwp = kernel.find("do_wp_page"), exc = kernel.find("exc_page_fault");
  ASSERT_NE(wp, std::string::npos) << kernel;
  ASSERT_NE(exc, std::string::npos) << kernel;
  EXPECT_LT(wp, dwp) << "innermost first:\n" << kernel;
  EXPECT_LT(dwp, exc) << "innermost first:\n" << kernel;

  const std::string retry = section(r.out, "after the kernel's fix", "Result:");
  ASSERT_FALSE(retry.empty()) << r.out;
  EXPECT_NE(section(retry, "PT[510] at", "Outcome").find("P=1 R/W=1 U/S=1"), std::string::npos) << retry;
  std::smatch m1, m2;
  ASSERT_TRUE(std::regex_search(first, m1, std::regex(R"(-> 4 KiB page at (0x[0-9a-f]+))"))) << first;
  ASSERT_TRUE(std::regex_search(retry, m2, std::regex(R"(-> 4 KiB page at (0x[0-9a-f]+))"))) << retry;
  EXPECT_NE(m1[1], m2[1]) << "the copy must be a different frame";
  EXPECT_NE(retry.find("Outcome: physical address " + m2[1].str().substr(0, m2[1].length() - 3) + "9f8"),
            std::string::npos)
      << retry;
  EXPECT_NE(r.out.find("Result: the access completes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("it writes 8 (0x8)"), std::string::npos) << r.out;
}

// The same access as JSON: the data a tool would read.
TEST_F(ExplainTest, OsCopyOnWriteAsJson) {
  const Result r = explain(kForkCow, 20, "--json");
  ASSERT_EQ(r.status, 0) << r.all();
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["mode"], "os");
  EXPECT_EQ(j["pid"], 2);
  EXPECT_EQ(j["split"][0]["pt_index"], 510);
  const auto& steps = j["steps"];
  ASSERT_EQ(steps.size(), 3u) << j.dump(2);
  EXPECT_EQ(steps[0]["kind"], "translation");
  EXPECT_EQ(steps[0]["outcome"]["error_code"], "0x7");
  EXPECT_EQ(steps[0]["outcome"]["error_code_bits"]["w"], true);
  const auto& pte = steps[0]["walk"].back();
  EXPECT_EQ(pte["level"], "PTE");
  EXPECT_EQ(pte["flags"]["rw"], false);
  EXPECT_EQ(steps[1]["kind"], "page_fault_handler");
  EXPECT_EQ(steps[1]["resolution"], "cow_copy");
  EXPECT_EQ(steps[1]["path"][0]["function"], "wp_page_copy");
  EXPECT_EQ(steps[1]["path"].back()["function"], "exc_page_fault");
  EXPECT_EQ(steps[2]["retry"], 1);
  EXPECT_EQ(steps[2]["walk"].back()["flags"]["rw"], true);
  EXPECT_NE(steps[2]["walk"].back()["frame"], pte["frame"]);
  EXPECT_TRUE(j["result"]["completed"].get<bool>());
}

// A trace with no process before its first access: the run boots the kernel there
// and spawns pid 1 with automap; explain meets the same machine.
TEST_F(ExplainTest, OsFirstAccessOfATraceWithoutSpawnStartsProcessOne) {
  const std::string trace = write("auto.trace", "w 0x601000 8 =5\nr 0x601000 =5\n");
  const Result r = explain(trace, 1);
  ASSERT_EQ(r.status, 0) << r.all();
  EXPECT_NE(r.out.find("spawns pid 1 with automap"), std::string::npos) << r.out;
  EXPECT_TRUE(matches(r.out, R"(pid\s+1\n)")) << r.out;
  EXPECT_NE(r.out.find("resolved as anonymous_page"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("do_anonymous_page"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Result: the access completes"), std::string::npos) << r.out;
}

// On two CPUs the access runs where the trace's `cpu` lines put it.
TEST_F(ExplainTest, OsMulticoreAccessRunsOnTheTracesCpu) {
  const Result r = explain(std::string(MMUSIM_EXAMPLES) + "/multicore-cow.trace", 34, "--set cores=2");
  ASSERT_EQ(r.status, 0) << r.all();
  EXPECT_TRUE(matches(r.out, R"(CPU\s+1\n)")) << r.out;
  EXPECT_TRUE(matches(r.out, R"(pid\s+2\n)")) << r.out;
  EXPECT_NE(r.out.find("it reads 8738 (0x2222)"), std::string::npos) << r.out;
}

TEST_F(ExplainTest, LineThatIsNotAnAccessIsRefused) {
  const Result r = explain(kForkCow, 19);
  EXPECT_EQ(r.status, 2) << r.all();
  EXPECT_NE(r.err.find("fork-cow.trace:19"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not an access"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("switch 2"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST_F(ExplainTest, BlankLineIsRefused) {
  const Result r = explain(kForkCow, 17);
  EXPECT_EQ(r.status, 2) << r.all();
  EXPECT_NE(r.err.find("fork-cow.trace:17"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("holds no event"), std::string::npos) << r.err;
}

TEST_F(ExplainTest, LinePastTheEndIsNeverReached) {
  const Result r = explain(kForkCow, 1000);
  EXPECT_EQ(r.status, 2) << r.all();
  EXPECT_NE(r.err.find("fork-cow.trace:1000"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("never reached"), std::string::npos) << r.err;
}

TEST_F(ExplainTest, RunThatFailsBeforeTheLineNamesItsError) {
  const std::string trace = write("bad.trace", "mode bare\npoke 0x1000 1 9\nr 0x1000\n");
  const Result r = explain(trace, 3);
  EXPECT_EQ(r.status, 2) << r.all();
  EXPECT_NE(r.err.find("bad.trace:2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("stopped before line 3"), std::string::npos) << r.err;
}

TEST_F(ExplainTest, MissingLineOptionIsAUsageError) {
  const Result r = mmusim("explain " + kForkCow);
  EXPECT_EQ(r.status, 2) << r.all();
  EXPECT_NE(r.err.find("usage: mmusim explain TRACE --line N"), std::string::npos) << r.err;
}

}  // namespace
