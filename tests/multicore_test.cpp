// The multi-core machine end to end, through the command line: TLB shootdowns in
// a copy-on-write fault (linux-fault-path.md §1.10, wp_page_copy → ptep_clear_flush →
// flush_tlb_mm_range), PCIDs across context switches (choose_new_asid), lazy TLB,
// and the two timing modes (strict and quantum) against each other.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"

namespace {

using cli_test::Result;
using nlohmann::json;

class Multicore : public cli_test::TempDirTest {
 protected:
  // Runs `trace` with `options` and returns its stats; the run must succeed.
  json run_stats(const std::string& trace, const std::string& options, const std::string& tag = "s") {
    const std::string stats = (dir_ / (tag + ".json")).string();
    const Result r = mmusim("run --quiet --check " + options + " --stats " + stats + " " + trace);
    EXPECT_EQ(r.status, 0) << r.output;
    std::ifstream in(stats);
    return json::parse(in);
  }

  // The fault log of a run, one object per fault.
  std::vector<json> fault_log(const std::string& trace, const std::string& options) {
    const std::string log = (dir_ / "faults.jsonl").string();
    const Result r = mmusim("run --quiet --check " + options + " --fault-log " + log + " " + trace);
    EXPECT_EQ(r.status, 0) << r.output;
    std::vector<json> out;
    std::ifstream in(log);
    for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
    return out;
  }

  static json step(const json& fault, const std::string& name) {
    for (const json& s : fault["steps"])
      if (s["step"] == name) return s["cycles"];
    return nullptr;
  }
};

const std::string kCowTrace = std::string(MMUSIM_EXAMPLES) + "/multicore-cow.trace";

// The acceptance scenario: two threads on two CPUs; a fork makes the heap
// copy-on-write; the next write (CPU 0) copies the page and shoots down CPU 1, whose
// TLB then no longer holds the old translation: the trace's own `r ... =0x2222` on
// CPU 1 would read the child's 0x1111 through a stale entry (the run checks it). The
// child, single-threaded, copies a page with a local flush only.
TEST_F(Multicore, CowInAThreadedProcessShootsDownTheOtherCpu) {
  const std::vector<json> faults = fault_log(kCowTrace, "--set cores=2");
  std::vector<json> cow;
  for (const json& f : faults)
    if (f["resolution"] == "cow_copy") cow.push_back(f);
  ASSERT_EQ(cow.size(), 2u);

  const json& threaded = cow[0];
  EXPECT_EQ(threaded["pid"], 1);
  EXPECT_EQ(threaded["cpu"], 0);
  // One target: the initiator sends one IPI, flushes itself meanwhile, and waits for
  // the acknowledgement: 1.5 us in all at 3 GHz (linux-fault-path.md §3.2).
  const json defaults = run_stats(kCowTrace, "--set cores=2")["config"];
  const auto cost = [&](const char* k) { return defaults[std::string("kernel.cost.") + k].get<std::uint64_t>(); };
  EXPECT_EQ(step(threaded, "ipi_send"), cost("ipi_send"));
  EXPECT_EQ(step(threaded, "tlb_flush_local"), cost("tlb_flush_local"));
  EXPECT_EQ(step(threaded, "ipi_wait"), cost("ipi_delivery") + cost("ipi_entry") + cost("tlb_flush_local") +
                                            cost("ipi_ack") - cost("tlb_flush_local"));
  std::uint64_t sum = 0;
  for (const json& s : threaded["steps"]) sum += s["cycles"].get<std::uint64_t>();
  EXPECT_EQ(sum, threaded["cycles"].get<std::uint64_t>()) << "the steps add up to the fault";

  const json& single = cow[1];
  EXPECT_EQ(single["pid"], 3);
  EXPECT_TRUE(step(single, "ipi_send").is_null()) << single.dump();
  EXPECT_TRUE(step(single, "ipi_wait").is_null()) << single.dump();
  EXPECT_EQ(step(single, "tlb_flush_local"), cost("tlb_flush_local"));
}

TEST_F(Multicore, ShootdownsAreCountedPerCpuAndPerProcess) {
  const json j = run_stats(kCowTrace, "--set cores=2");
  // fork's flush_tlb_mm and the COW fault: both from CPU 0, both to CPU 1.
  EXPECT_EQ(j["cpus"][0]["shootdowns"]["sent"], 2);
  EXPECT_EQ(j["cpus"][0]["shootdowns"]["ipis_sent"], 2);
  EXPECT_EQ(j["cpus"][1]["shootdowns"]["ipis_received"], 2);
  EXPECT_EQ(j["cpus"][1]["shootdowns"]["sent"], 0);
  EXPECT_GT(j["cpus"][1]["shootdowns"]["tlb_entries_lost"].get<int>(), 0);
  EXPECT_EQ(j["cpus"][1]["cycles"]["ipi"], j["cpus"][1]["shootdowns"]["handler_cycles"]);
  EXPECT_GT(j["cpus"][1]["cycles"]["ipi"].get<int>(), 0);
  EXPECT_EQ(j["processes"]["1"]["shootdowns"]["sent"], 2);
  EXPECT_EQ(j["processes"]["2"]["shootdowns"]["ipis_received"], 2) << "thread 2 ran on CPU 1 both times";
  EXPECT_EQ(j["processes"]["3"]["shootdowns"]["sent"], 0);
  EXPECT_EQ(j["shootdowns"]["sent"], 2);
  // The phases: the single-threaded COW phase sent none.
  const json& last = j["phases"].back();
  EXPECT_EQ(last["name"], "single-threaded cow");
  EXPECT_EQ(last["processes"]["3"]["shootdowns"]["sent"], 0);
  EXPECT_EQ(last["cycles"]["ipi"], 0);
}

// One core: the trace's `cpu 1` is an error that names the configuration key.
TEST_F(Multicore, CpuBeyondTheCoreCountIsAnError) {
  const Result r = mmusim("run --quiet " + kCowTrace);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("multicore-cow.trace:18: error: cpu 1: this machine has 1 core (configuration key `cores`)"),
            std::string::npos)
      << r.err;
}

// choose_new_asid with CR4.PCIDE=1: process 1's translations carry its PCID, so after
// running process 2 the CPU finds them again; without PCIDs the CR3 load flushed them.
TEST_F(Multicore, PcidKeepsTranslationsAcrossAContextSwitch) {
  const std::string trace = write("pcid.trace", R"(spawn 1 "a"
spawn 2 "b"
mmap 1 0x10000000 0x1000 rw-
mmap 2 0x20000000 0x1000 rw-
switch 1
w 0x10000000 8 =1
switch 2
w 0x20000000 8 =2
mark "back"
switch 1
r 0x10000000 8 =1
)");
  int lost = 0;
  const auto back_hits = [&](const char* pcide) {
    const json j = run_stats(trace, std::string("--set cr4.pcide=") + pcide, pcide);
    const json& back = j["phases"].back();
    EXPECT_EQ(back["name"], "back");
    EXPECT_EQ(back["accesses"], 1);
    lost = j["switch_tlb_entries_lost"].get<int>();
    return back["tlb_hits"].get<int>();
  };
  EXPECT_EQ(back_hits("true"), 1) << "the L1 DTLB still holds process 1's entry under its PCID";
  EXPECT_EQ(lost, 0) << "switches with PCIDs drop nothing";
  EXPECT_EQ(back_hits("false"), 0) << "MOV to CR3 without PCIDs flushed it";
  EXPECT_GT(lost, 0) << "the switches' CR3 loads dropped process 1's and 2's entries";
}

// TLB_NR_DYN_ASIDS = 6: six address spaces taking turns on a CPU keep their ASIDs
// (slot 0, init_mm's at boot, is taken over when the round robin wraps); a seventh
// evicts the oldest, so the process coming back finds nothing.
TEST_F(Multicore, SixAsidsPerCpu) {
  const auto returning_hits = [&](int processes) {
    std::ostringstream t;
    for (int p = 1; p <= processes; ++p)
      t << "spawn " << p << "\nmmap " << p << " 0x10000000 0x1000 rw-\nswitch " << p << "\nw 0x10000000 8 =" << p
        << "\n";
    t << "mark \"back\"\nswitch 1\nr 0x10000000 8 =1\n";
    const json j = run_stats(write("asids.trace", t.str()), "", std::to_string(processes));
    return j["phases"].back()["tlb_hits"].get<int>();
  };
  EXPECT_EQ(returning_hits(6), 1);
  EXPECT_EQ(returning_hits(7), 0);
}

// Lazy TLB (enter_lazy_tlb, should_flush_tlb): when thread 2 exits, CPU 1 runs nothing
// but keeps the mm loaded; a COW fault on CPU 0 then sends it no IPI. When CPU 1 runs
// the process again, switch_mm sees the mm's tlb_gen moved on and flushes, so it
// cannot use the stale entry (the trace's `=2` would fail).
TEST_F(Multicore, LazyCpuGetsNoIpiAndCatchesUpAtItsNextSwitch) {
  const std::string trace = write("lazy.trace", R"(spawn 1 "p"
mmap 1 0x10000000 0x1000 rw-
thread 1 2
thread 1 4
cpu 0
switch 1
w 0x10000000 8 =1
cpu 1
switch 2
r 0x10000000 8 =1
cpu 0
fork 1 3
cpu 1
r 0x10000000 8 =1
exit 2
mark "lazy"
cpu 0
w 0x10000000 8 =2
cpu 1
switch 4
r 0x10000000 8 =2
)");
  const json j = run_stats(trace, "--set cores=2");
  const json& lazy = j["phases"].back();
  EXPECT_EQ(lazy["cycles"]["ipi"], 0) << "no interrupt during the lazy phase";
  EXPECT_EQ(lazy["processes"]["1"]["shootdowns"]["sent"], 0);
  EXPECT_EQ(j["cpus"][0]["shootdowns"]["sent"], 1) << "only fork's flush, while thread 2 ran";
  EXPECT_EQ(j["cpus"][1]["kernel_tlb"]["lazy_skips"], 1);
}

// Flush batching (flush_tlb_mm_range): an mprotect of 10 pages interrupts the other
// CPU once, which executes 10 INVLPGs; above kernel.tlb_flush_ceiling
// (tlb_single_page_flush_ceiling, 33 by default) it flushes its whole PCID instead.
TEST_F(Multicore, OneIpiPerRangeAndAFullFlushAboveTheCeiling) {
  const std::string trace = write("range.trace", R"(spawn 1 "p"
mmap 1 0x10000000 0x10000 rw- populate
thread 1 2
cpu 0
switch 1
cpu 1
switch 2
cpu 0
mprotect 1 0x10000000 0xa000 r--
)");
  const auto target = [&](const std::string& options) {
    const json j = run_stats(trace, "--set cores=2 " + options, options.empty() ? "default" : "ceiling");
    EXPECT_EQ(j["cpus"][0]["shootdowns"]["ipis_sent"], 1) << options;
    return j["cpus"][1]["kernel_tlb"];
  };
  const json batched = target("");
  EXPECT_EQ(batched["page_flushes"], 10);
  EXPECT_EQ(batched["full_flushes"], 0);
  const json full = target("--set kernel.tlb_flush_ceiling=4");
  EXPECT_EQ(full["page_flushes"], 0);
  EXPECT_EQ(full["full_flushes"], 1);
}

// Bare mode: each core has its own TLB and control registers (SDM §4.10.2: a TLB
// is per logical processor). A PTE changed in memory is seen at once by a core that
// never cached it, while the core that did keeps its stale entry until it
// invalidates: software's job, which the kernel model does with IPIs.
TEST_F(Multicore, EachCoreHasItsOwnTlbAndRegisters) {
  const std::string trace = write("bare.trace", R"(mode bare
poke 0x1000 0x2007
poke 0x2000 0x3007
poke 0x3010 0x4007
poke 0x4000 0x5007
set cr3=0x1000
r 0x400000 expect=0x5000
poke 0x4000 0x6007
cpu 1
r 0x400000 expect=#PF:0x0
set cr3=0x1000
r 0x400000 expect=0x6000
cpu 0
r 0x400000 expect=0x5000
invlpg 0x400000
r 0x400000 expect=0x6000
)");
  const json j = run_stats(trace, "--set cores=2");
  EXPECT_EQ(j["expectations"]["failed"], 0);
  EXPECT_EQ(j["cpus"][1]["page_faults"], 1) << "CPU 1 starts with CR3 0: nothing mapped";
}

// One core: the strict mode (synchronise at every event) and the quantum give the
// same cycles, counter for counter, on the flagship and on a generated workload.
TEST_F(Multicore, StrictAndQuantumAgreeExactlyOnOneCore) {
  const std::string generated = (dir_ / "fs.trace").string();
  ASSERT_EQ(mmusim("gen fork-server --footprint 1M --workers 3 -o " + generated).status, 0);
  for (const std::string& trace : {std::string(MMUSIM_EXAMPLES) + "/fork-cow.trace", generated}) {
    const json strict = run_stats(trace, "--set core.strict_timing=true", "strict");
    const json quantum = run_stats(trace, "--set core.quantum_cycles=1000", "quantum");
    EXPECT_EQ(strict["cycles"], quantum["cycles"]) << trace;
    EXPECT_EQ(strict["elapsed_cycles"], quantum["elapsed_cycles"]) << trace;
    EXPECT_EQ(strict["cycles"]["total"], strict["elapsed_cycles"]) << "one core is never idle";
    EXPECT_EQ(strict["phases"], quantum["phases"]) << trace;
  }
}

// Several cores: every core's busy cycles, by kind, and every counter agree exactly
// (an interrupt's cost does not depend on where the target's clock stands); only idle
// time differs. With a quantum of Q, a core handed the trace may start up to Q earlier
// than with strict timing, so the run's elapsed time is bounded:
//   elapsed(quantum) <= elapsed(strict) <= elapsed(quantum) + Q x (hand-overs).
TEST_F(Multicore, StrictAndQuantumDifferOnlyInIdleTimeWithinTheStatedBound) {
  for (const int cpus : {2, 4}) {
    const std::string trace = (dir_ / ("threads" + std::to_string(cpus) + ".trace")).string();
    ASSERT_EQ(mmusim("gen threads --cpus " + std::to_string(cpus) +
                     " --accesses 20000 --footprint 2M --burst 50 --mprotect-every 3000 -o " + trace)
                  .status, 0);
    const std::uint64_t q = 10000;
    const std::string cores = " --set cores=" + std::to_string(cpus);
    const json strict = run_stats(trace, "--set core.strict_timing=true" + cores, "strict");
    const json quantum = run_stats(trace, "--set core.quantum_cycles=" + std::to_string(q) + cores, "quantum");
    ASSERT_EQ(strict["cpus"].size(), static_cast<std::size_t>(cpus));
    for (int c = 0; c < cpus; ++c) {
      EXPECT_EQ(strict["cpus"][c]["cycles"], quantum["cpus"][c]["cycles"]) << "cpu " << c;
      EXPECT_EQ(strict["cpus"][c]["shootdowns"], quantum["cpus"][c]["shootdowns"]) << "cpu " << c;
    }
    EXPECT_GT(strict["shootdowns"]["sent"].get<int>(), 0) << "the mprotects shoot down";
    EXPECT_EQ(strict["processes"], quantum["processes"]);
    // Hand-overs: the `cpu` lines that change the CPU (every burst after the set-up).
    std::ifstream in(trace);
    std::uint64_t hand_overs = 0;
    int current = 0;
    for (std::string line; std::getline(in, line);)
      if (line.rfind("cpu ", 0) == 0) {
        const int n = std::stoi(line.substr(4));
        hand_overs += n != current;
        current = n;
      }
    const auto es = strict["elapsed_cycles"].get<std::uint64_t>();
    const auto eq = quantum["elapsed_cycles"].get<std::uint64_t>();
    EXPECT_LE(eq, es);
    EXPECT_LE(es, eq + q * hand_overs);
    RecordProperty("elapsed_strict_" + std::to_string(cpus), std::to_string(es));
    RecordProperty("elapsed_quantum_" + std::to_string(cpus), std::to_string(eq));
  }
}

}  // namespace
