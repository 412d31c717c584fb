// Timeline: the trace-event JSON it writes is checked against the format's rules as
// Perfetto applies them (fields per phase, one thread per CPU with its name, slices on a
// thread nested properly, a fault's steps inside it and adding up to it), after parsing
// with nlohmann::json. Times are compared as Perfetto stores them, integer nanoseconds
// llround(µs × 1000), because that is where rounding could make a child stick out.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernel/fault_record.hpp"
#include "stats/timeline.hpp"

namespace {

using mmusim::kernel::CostStep;
using mmusim::kernel::FaultRecord;
using mmusim::kernel::KernelFrame;
using mmusim::kernel::Resolution;
using mmusim::stats::Timeline;
using nlohmann::json;
using u64 = std::uint64_t;

// --- Realistic fault records (the costs of configs/skylake.conf) ---

FaultRecord make_record(Resolution r, u64 address, std::uint32_t error_code, std::vector<CostStep> steps,
                        std::vector<KernelFrame> path) {
  FaultRecord rec;
  rec.address = address;
  rec.error_code = error_code;
  rec.resolution = r;
  rec.steps = std::move(steps);
  rec.path = std::move(path);
  for (const CostStep& s : rec.steps) rec.total_cycles += s.cycles;
  return rec;
}

// A copy-on-write fault whose page another CPU also maps: a shootdown inside it.
FaultRecord cow_copy_with_shootdown() {
  return make_record(Resolution::CowCopy, 0x7fffffffe9f8, 0x7,
                     {{"exception_entry", 250}, {"vma_lookup", 150}, {"pgtable_walk", 1100},
                      {"frame_alloc", 700}, {"copy", 750}, {"ipi_send", 600}, {"tlb_flush_local", 150},
                      {"ipi_wait", 3750}, {"rmap_update", 150}, {"pte_update", 100}, {"rmap_update", 150},
                      {"exception_exit", 150}},
                     {{"wp_page_copy", 6350}, {"do_wp_page", 6350}, {"handle_pte_fault", 6350},
                      {"__handle_mm_fault", 7450}, {"handle_mm_fault", 7450}, {"do_user_addr_fault", 7600},
                      {"exc_page_fault", 8000}});
}

FaultRecord anonymous_page() {
  return make_record(Resolution::AnonymousPage, 0x555555559000, 0x6,
                     {{"exception_entry", 250}, {"vma_lookup", 150}, {"pgtable_walk", 1100},
                      {"frame_alloc", 700}, {"zero", 500}, {"pte_update", 100}, {"rmap_update", 150},
                      {"exception_exit", 150}},
                     {{"do_anonymous_page", 1450}, {"handle_pte_fault", 1450}, {"__handle_mm_fault", 2550},
                      {"handle_mm_fault", 2550}, {"do_user_addr_fault", 2700}, {"exc_page_fault", 3100}});
}

FaultRecord sigsegv() {
  FaultRecord rec = make_record(Resolution::Sigsegv, 0x10, 0x4,
                                {{"exception_entry", 250}, {"vma_lookup", 150}, {"signal_delivery", 2000},
                                 {"exception_exit", 150}},
                                {{"bad_area", 2000}, {"do_user_addr_fault", 2150}, {"exc_page_fault", 2550}});
  rec.si_code = mmusim::kernel::SEGV_MAPERR;
  return rec;
}

// --- Reading the output back ---

json parse(const std::string& text) { return json::parse(text); }  // throws on malformed JSON

// Perfetto's reading of a time in µs: integer nanoseconds, rounded.
std::int64_t ns_of(const json& us) { return std::llround(us.get<double>() * 1000.0); }

bool has_number(const json& e, const char* key) {
  return e.contains(key) && e[key].is_number() && e[key].get<double>() >= 0;
}

// The format's required fields per phase, as this writer uses it.
::testing::AssertionResult well_formed(const json& events) {
  if (!events.is_array()) return ::testing::AssertionFailure() << "not a JSON array";
  for (const json& e : events) {
    if (!e.is_object()) return ::testing::AssertionFailure() << "not an object: " << e.dump();
    if (!e.contains("ph") || !e["ph"].is_string()) return ::testing::AssertionFailure() << "no ph: " << e.dump();
    if (!e.contains("name") || !e["name"].is_string() || e["name"].get<std::string>().empty())
      return ::testing::AssertionFailure() << "no name: " << e.dump();
    if (!e.contains("pid") || !e["pid"].is_number_unsigned() || !e.contains("tid") || !e["tid"].is_number_unsigned())
      return ::testing::AssertionFailure() << "no pid/tid: " << e.dump();
    if (e["pid"] != Timeline::kPid) return ::testing::AssertionFailure() << "pid is not 1: " << e.dump();
    const std::string ph = e["ph"];
    if (ph == "X") {
      if (!has_number(e, "ts") || !has_number(e, "dur") || !e.contains("cat") || !e["cat"].is_string())
        return ::testing::AssertionFailure() << "X without cat, ts or dur >= 0: " << e.dump();
    } else if (ph == "i") {
      if (!has_number(e, "ts") || e.value("s", "") != "t")
        return ::testing::AssertionFailure() << "instant without ts or thread scope: " << e.dump();
    } else if (ph == "M") {
      const std::string name = e["name"];
      const char* key = name == "thread_sort_index" ? "sort_index" : "name";
      if (!e.contains("args") || !e["args"].contains(key))
        return ::testing::AssertionFailure() << "metadata without args." << key << ": " << e.dump();
    } else {
      return ::testing::AssertionFailure() << "unexpected phase: " << e.dump();
    }
    if (ph != "M" && (!e.contains("args") || !e["args"].is_object()))
      return ::testing::AssertionFailure() << "no args: " << e.dump();
  }
  return ::testing::AssertionSuccess();
}

struct Slice {
  std::int64_t ts, end;
  std::string name;
  std::size_t index;  // in the file: the tie-break a viewer keeps
};

// Per tid, in Perfetto's nanoseconds: sorted by ts then longest first, every slice is
// either disjoint from the enclosing one (starts at or after its end) or inside it.
// Instants are slices of 0 ns.
::testing::AssertionResult nested(const json& events) {
  std::map<u64, std::vector<Slice>> by_tid;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const json& e = events[i];
    if (e["ph"] == "M") continue;
    const std::int64_t ts = ns_of(e["ts"]);
    const std::int64_t dur = e["ph"] == "X" ? ns_of(e["dur"]) : 0;
    by_tid[e["tid"].get<u64>()].push_back({ts, ts + dur, e["name"], i});
  }
  for (auto& [tid, slices] : by_tid) {
    std::stable_sort(slices.begin(), slices.end(), [](const Slice& a, const Slice& b) {
      if (a.ts != b.ts) return a.ts < b.ts;
      return a.end - a.ts > b.end - b.ts;
    });
    std::vector<const Slice*> stack;
    for (const Slice& s : slices) {
      while (!stack.empty() && s.ts >= stack.back()->end) stack.pop_back();
      if (!stack.empty() && s.end > stack.back()->end)
        return ::testing::AssertionFailure()
               << "tid " << tid << ": " << s.name << " [" << s.ts << ", " << s.end << ") ns overlaps "
               << stack.back()->name << " [" << stack.back()->ts << ", " << stack.back()->end << ")";
      stack.push_back(&s);
    }
  }
  return ::testing::AssertionSuccess();
}

// Every fault slice is followed in the file by its steps (cat "kernel"): they start at
// the fault's ts, meet end to end, lie inside it, and their durs add up to its dur
// exactly in integer ns (and within rounding in the µs as printed).
::testing::AssertionResult steps_fill_faults(const json& events, std::size_t* faults_seen = nullptr) {
  std::size_t faults = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const json& f = events[i];
    if (f["ph"] != "X" || f["cat"] != "fault") continue;
    ++faults;
    const std::int64_t ts = ns_of(f["ts"]), end = ts + ns_of(f["dur"]);
    std::int64_t at = ts, sum = 0;
    double sum_us = 0;
    std::size_t j = i + 1;
    for (; j < events.size() && events[j]["ph"] == "X" && events[j]["cat"] == "kernel"; ++j) {
      const json& s = events[j];
      if (s["tid"] != f["tid"]) return ::testing::AssertionFailure() << "step on another thread: " << s.dump();
      const std::int64_t sts = ns_of(s["ts"]), sdur = ns_of(s["dur"]);
      if (sts != at) return ::testing::AssertionFailure() << "step does not start where the last ended: " << s.dump();
      if (sts < ts || sts + sdur > end)
        return ::testing::AssertionFailure() << "step outside its fault " << f.dump() << ": " << s.dump();
      at = sts + sdur;
      sum += sdur;
      sum_us += s["dur"].get<double>();
    }
    if (j == i + 1) return ::testing::AssertionFailure() << "fault without steps: " << f.dump();
    if (sum != end - ts)
      return ::testing::AssertionFailure() << "steps add up to " << sum << " ns, the fault lasts " << end - ts
                                           << " ns: " << f.dump();
    if (std::abs(sum_us - f["dur"].get<double>()) > 1e-6 * static_cast<double>(j - i))
      return ::testing::AssertionFailure() << "steps add up to " << sum_us << " us: " << f.dump();
  }
  if (faults_seen) *faults_seen = faults;
  return ::testing::AssertionSuccess();
}

std::vector<json> with_name(const json& events, const std::string& name) {
  std::vector<json> out;
  for (const json& e : events)
    if (e["name"] == name) out.push_back(e);
  return out;
}

// --- Tests ---

TEST(Timeline, EmptyRunIsAnArrayOfTheProcessAndEachCpusThread) {
  std::ostringstream out;
  Timeline tl(out, 3.0, 4);
  tl.finish();
  const json events = parse(out.str());
  ASSERT_TRUE(well_formed(events));
  EXPECT_EQ(tl.events(), events.size());
  ASSERT_EQ(with_name(events, "process_name").size(), 1u);
  EXPECT_EQ(with_name(events, "process_name")[0]["args"]["name"], "mmusim");
  const auto names = with_name(events, "thread_name");
  const auto sort = with_name(events, "thread_sort_index");
  ASSERT_EQ(names.size(), 4u);
  ASSERT_EQ(sort.size(), 4u);
  for (unsigned cpu = 0; cpu < 4; ++cpu) {
    EXPECT_EQ(names[cpu]["tid"], Timeline::tid(cpu));
    EXPECT_EQ(names[cpu]["args"]["name"], "CPU " + std::to_string(cpu));
    EXPECT_EQ(sort[cpu]["tid"], Timeline::tid(cpu));
    EXPECT_EQ(sort[cpu]["args"]["sort_index"], cpu);
  }
  EXPECT_EQ(Timeline::tid(0), 1u);  // tid 0 would read as the idle task
}

TEST(Timeline, EveryKindOfEventHasTheFieldsOfItsPhase) {
  std::ostringstream out;
  Timeline tl(out, 3.0, 2);
  u64 c0 = 1000, c1 = 5000;
  tl.walk(0, c0, 120, 0x7fffffffe9f8, true);
  c0 += 120;
  const FaultRecord cow = cow_copy_with_shootdown();
  tl.fault(0, c0, 20, 2, cow);
  c0 += cow.total_cycles;
  tl.interrupt(1, c1, 2050);
  c1 += 2050;
  tl.context_switch(1, c1, 1500, 3);
  c1 += 1500;
  tl.os_event(1, c1, 4200, "mmap", 7);
  c1 += 4200;
  tl.os_event(0, c0, 0, "exit", 30);  // 0 cycles: an instant
  tl.finish();

  const json events = parse(out.str());
  ASSERT_TRUE(well_formed(events));
  EXPECT_TRUE(nested(events));
  EXPECT_TRUE(steps_fill_faults(events));
  EXPECT_EQ(tl.out_of_order(), 0u);

  const auto walks = with_name(events, "page_walk_faulted");
  ASSERT_EQ(walks.size(), 1u);
  EXPECT_EQ(walks[0]["cat"], "walk");
  EXPECT_EQ(walks[0]["tid"], Timeline::tid(0));
  EXPECT_EQ(walks[0]["args"]["va"], "0x7fffffffe9f8");
  EXPECT_EQ(walks[0]["args"]["cycles"], 120);
  EXPECT_EQ(walks[0]["args"]["faulted"], true);

  const auto shootdowns = with_name(events, "tlb_shootdown");
  ASSERT_EQ(shootdowns.size(), 1u);
  EXPECT_EQ(shootdowns[0]["tid"], Timeline::tid(1));
  EXPECT_EQ(shootdowns[0]["cat"], "ipi");
  const auto switches = with_name(events, "context_switch");
  ASSERT_EQ(switches.size(), 1u);
  EXPECT_EQ(switches[0]["args"]["pid"], 3);
  const auto mmaps = with_name(events, "mmap");
  ASSERT_EQ(mmaps.size(), 1u);
  EXPECT_EQ(mmaps[0]["cat"], "os");
  EXPECT_EQ(mmaps[0]["args"]["line"], 7);
  const auto exits = with_name(events, "exit");
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0]["ph"], "i");
  EXPECT_EQ(exits[0]["s"], "t");
}

TEST(Timeline, AFaultIsASliceNamedAfterItsResolutionWithItsStepsInside) {
  std::ostringstream out;
  Timeline tl(out, 3.0, 2);
  const FaultRecord cow = cow_copy_with_shootdown();
  tl.fault(1, 30000, 20, 2, cow);
  tl.finish();
  const json events = parse(out.str());
  ASSERT_TRUE(well_formed(events));

  const auto faults = with_name(events, "cow_copy");
  ASSERT_EQ(faults.size(), 1u);
  const json& f = faults[0];
  EXPECT_EQ(f["cat"], "fault");
  EXPECT_EQ(f["tid"], Timeline::tid(1));
  EXPECT_EQ(ns_of(f["ts"]), 10000);                       // 30,000 cycles at 3 GHz
  EXPECT_EQ(ns_of(f["dur"]), 2667);                       // 8,000 cycles: 2666.67 ns
  EXPECT_EQ(f["args"]["cycles"], 8000);
  EXPECT_EQ(f["args"]["line"], 20);
  EXPECT_EQ(f["args"]["pid"], 2);
  EXPECT_EQ(f["args"]["address"], "0x7fffffffe9f8");
  EXPECT_EQ(f["args"]["error_code"], "0x7");
  EXPECT_EQ(f["args"]["resolution"], "cow_copy");
  EXPECT_EQ(f["args"]["huge"], false);
  EXPECT_FALSE(f["args"].contains("si_code"));
  const json& path = f["args"]["path"];
  ASSERT_EQ(path.size(), cow.path.size());
  EXPECT_EQ(path.front()["function"], "wp_page_copy");  // innermost first
  EXPECT_EQ(path.back()["function"], "exc_page_fault");
  EXPECT_EQ(path.back()["cycles"], 8000);

  std::vector<json> steps;
  for (const json& e : events)
    if (e["ph"] == "X" && e["cat"] == "kernel") steps.push_back(e);
  ASSERT_EQ(steps.size(), cow.steps.size());
  for (std::size_t i = 0; i < steps.size(); ++i) {
    EXPECT_EQ(steps[i]["name"], std::string(cow.steps[i].name));
    EXPECT_EQ(steps[i]["args"]["cycles"], cow.steps[i].cycles);
  }
  EXPECT_EQ(steps[7]["name"], "ipi_wait");
  EXPECT_EQ(ns_of(steps[7]["dur"]), 1250);  // 3,750 cycles
  EXPECT_TRUE(nested(events));
  EXPECT_TRUE(steps_fill_faults(events));
}

TEST(Timeline, SignalFaultsCarryTheirSiCode) {
  std::ostringstream out;
  Timeline tl(out, 3.0, 1);
  tl.fault(0, 0, 9, 1, sigsegv());
  tl.finish();
  const json events = parse(out.str());
  ASSERT_TRUE(well_formed(events));
  const auto faults = with_name(events, "sigsegv");
  ASSERT_EQ(faults.size(), 1u);
  EXPECT_EQ(faults[0]["args"]["si_code"], mmusim::kernel::SEGV_MAPERR);
  EXPECT_EQ(faults[0]["args"]["path"][0]["function"], "bad_area");
  EXPECT_TRUE(steps_fill_faults(events));
}

TEST(Timeline, TimeIsCyclesOverGhzPrintedInMicrosecondsToTheNanosecond) {
  std::ostringstream out;
  Timeline tl(out, 3.0, 1);
  tl.walk(0, 3000, 4, 0x1000, false);    // 1 µs, 4 cycles = 1.333 ns → 1 ns
  tl.walk(0, 3005, 1, 0x2000, false);    // 1001.667 ns → 1002; 1 cycle, to 1002.000 → 0 ns
  tl.walk(0, 3'000'000'000, 30, 0x3000, false);  // one second
  tl.finish();
  const std::string text = out.str();
  EXPECT_NE(text.find(R"("ts":1.000,"dur":0.001,)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("ts":1.002,"dur":0.000,)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("ts":1000000.000,"dur":0.010,)"), std::string::npos) << text;
  EXPECT_EQ(tl.ns(3), 1u);
  EXPECT_EQ(tl.ns(2), 1u);  // 0.667 rounds up
  EXPECT_EQ(tl.ns(1), 0u);

  std::ostringstream slow;
  Timeline half(slow, 0.5, 1);
  EXPECT_EQ(half.ns(7), 14u);
}

TEST(Timeline, ZeroCycleWalksAreLeftOutZeroCycleFaultsKept) {
  std::ostringstream out;
  Timeline tl(out, 3.0, 1);
  tl.walk(0, 100, 0, 0x1000, false);
  FaultRecord spurious = make_record(Resolution::Spurious, 0x1000, 0x5, {{"exception_entry", 0}}, {});
  tl.fault(0, 100, 4, 1, spurious);
  tl.interrupt(0, 100, 0);
  tl.context_switch(0, 100, 0, 2);
  tl.finish();
  const json events = parse(out.str());
  ASSERT_TRUE(well_formed(events));
  EXPECT_TRUE(with_name(events, "page_walk").empty());
  const auto faults = with_name(events, "spurious");
  ASSERT_EQ(faults.size(), 1u);
  EXPECT_EQ(faults[0]["ph"], "X");
  EXPECT_EQ(ns_of(faults[0]["dur"]), 0);
  EXPECT_TRUE(steps_fill_faults(events));
  ASSERT_EQ(with_name(events, "tlb_shootdown").size(), 1u);
  EXPECT_EQ(with_name(events, "tlb_shootdown")[0]["ph"], "i");
  EXPECT_EQ(with_name(events, "context_switch")[0]["ph"], "i");
  EXPECT_TRUE(nested(events));
}

TEST(Timeline, OutputCutAtAnyLineOrBeforeFinishParsesWithAClosingBracket) {
  std::ostringstream out;
  Timeline tl(out, 3.0, 2);
  u64 c = 0;
  for (int i = 0; i < 5; ++i) {
    tl.walk(i % 2, c, 50, 0x1000u * static_cast<u64>(i), i == 3);
    c += 50;
  }
  tl.fault(1, c, 3, 1, anonymous_page());
  const std::string before_finish = out.str();
  EXPECT_EQ(before_finish.back(), '}');
  const json events = parse(before_finish + "]");
  EXPECT_TRUE(well_formed(events));
  EXPECT_EQ(events.size(), tl.events());

  // `head -n k` for every k, and every prefix ending after an event.
  for (std::size_t p = before_finish.find('\n'); p != std::string::npos; p = before_finish.find('\n', p + 1)) {
    EXPECT_NO_THROW(parse(before_finish.substr(0, p + 1) + "]")) << "cut at line end " << p;
    EXPECT_NO_THROW(parse(before_finish.substr(0, p) + "]")) << "cut before line end " << p;
  }
  // One event per line: a line is a whole object.
  std::istringstream lines(before_finish);
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line, "[");
  while (std::getline(lines, line)) {
    if (line.front() == ',') line.erase(0, 1);
    EXPECT_NO_THROW(parse(line)) << line;
  }
}

TEST(Timeline, FinishIsIdempotentAndTheDestructorClosesTheArray) {
  std::ostringstream closed;
  {
    Timeline tl(closed, 3.0, 1);
    tl.walk(0, 0, 10, 0x1000, false);
  }
  EXPECT_TRUE(well_formed(parse(closed.str())));

  std::ostringstream out;
  Timeline tl(out, 3.0, 1);
  tl.walk(0, 0, 10, 0x1000, false);
  tl.finish();
  const std::string once = out.str();
  tl.finish();
  tl.walk(0, 10, 10, 0x2000, false);  // after finish: dropped, the array stays closed
  EXPECT_EQ(out.str(), once);
  EXPECT_EQ(std::count(once.begin(), once.end(), ']'), 1);
  EXPECT_TRUE(well_formed(parse(once)));
}

TEST(Timeline, NamesAreEscaped) {
  std::ostringstream out;
  Timeline tl(out, 3.0, 1);
  const std::string odd = "say \"hi\"\\\n\t\x01";
  tl.os_event(0, 0, 100, odd, 1);
  tl.finish();
  const json events = parse(out.str());
  ASSERT_TRUE(well_formed(events));
  EXPECT_EQ(with_name(events, odd).size(), 1u);
}

TEST(Timeline, ACpuBeyondThoseDeclaredGetsItsThreadNameWhenFirstUsed) {
  std::ostringstream out;
  Timeline tl(out, 3.0, 1);
  tl.walk(3, 0, 10, 0x1000, false);
  tl.walk(3, 10, 10, 0x2000, false);
  tl.finish();
  const json events = parse(out.str());
  ASSERT_TRUE(well_formed(events));
  const auto names = with_name(events, "thread_name");
  ASSERT_EQ(names.size(), 2u);  // CPU 0 up front, CPU 3 once
  EXPECT_EQ(names[1]["args"]["name"], "CPU 3");
  EXPECT_EQ(names[1]["tid"], Timeline::tid(3));
}

TEST(Timeline, OverlappingEventsAreCounted) {
  std::ostringstream out;
  Timeline tl(out, 3.0, 2);
  tl.walk(0, 100, 50, 0x1000, false);
  tl.walk(1, 0, 50, 0x1000, false);   // another CPU's clock: fine
  tl.walk(0, 150, 50, 0x2000, false); // starts where the last ended: fine
  EXPECT_EQ(tl.out_of_order(), 0u);
  tl.walk(0, 180, 50, 0x3000, false); // starts inside the previous walk
  EXPECT_EQ(tl.out_of_order(), 1u);
  tl.finish();
  EXPECT_FALSE(nested(parse(out.str())));  // the checker sees it too
}

TEST(Timeline, StepsOverrunningTheirTotalAreCutAtTheFaultsEnd) {
  std::ostringstream out;
  Timeline tl(out, 3.0, 1);
  FaultRecord bad = anonymous_page();
  bad.total_cycles -= 400;  // the steps now add up to 400 more than the total
  tl.fault(0, 0, 1, 1, bad);
  tl.finish();
  const json events = parse(out.str());
  EXPECT_TRUE(nested(events));
  EXPECT_TRUE(steps_fill_faults(events));
}

TEST(Timeline, RejectsANonsensicalClockOrNoCpus) {
  std::ostringstream out;
  EXPECT_THROW(Timeline(out, 0.0, 1), std::invalid_argument);
  EXPECT_THROW(Timeline(out, -3.0, 1), std::invalid_argument);
  EXPECT_THROW(Timeline(out, std::nan(""), 1), std::invalid_argument);
  EXPECT_THROW(Timeline(out, 3.0, 0), std::invalid_argument);
}

// A long run at clocks whose cycle is no whole number of ns, far from cycle 0 (about 6
// minutes in), with steps and walks of a cycle or two as well as realistic ones: after
// rounding, every child is still inside its parent and the steps still add up.
void long_run_at(double ghz) {
  SCOPED_TRACE(::testing::Message() << ghz << " GHz");
  constexpr unsigned kCpus = 3;
  std::ostringstream out;
  Timeline tl(out, ghz, kCpus);
  std::mt19937_64 rng(static_cast<u64>(ghz * 1000));
  auto pick = [&](u64 lo, u64 hi) { return std::uniform_int_distribution<u64>(lo, hi)(rng); };
  std::vector<u64> clock(kCpus);
  for (unsigned c = 0; c < kCpus; ++c) clock[c] = 1'000'000'000'000ull + c * 7 + pick(0, 1000);
  const std::vector<FaultRecord> kinds = {cow_copy_with_shootdown(), anonymous_page(), sigsegv()};
  std::size_t faults = 0;

  for (int i = 0; i < 10000; ++i) {
    const unsigned cpu = static_cast<unsigned>(pick(0, kCpus - 1));
    u64& c = clock[cpu];
    c += pick(0, 3) == 0 ? 0 : pick(1, 5);  // back to back, or a cycle or few apart
    const u64 kind = pick(0, 9);
    if (kind < 5) {
      const u64 cycles = pick(0, 2) == 0 ? pick(0, 3) : pick(20, 400);
      tl.walk(cpu, c, cycles, pick(0, 1ull << 47) & ~0xfffull, kind == 0);
      c += cycles;
    } else if (kind < 8) {
      FaultRecord rec = kinds[pick(0, kinds.size() - 1)];
      if (kind == 7) {  // odd step sizes, down to 0 and 1 cycle
        rec.total_cycles = 0;
        for (CostStep& s : rec.steps) rec.total_cycles += (s.cycles = pick(0, 2) == 0 ? pick(0, 2) : pick(3, 5000));
      }
      tl.fault(cpu, c, static_cast<u64>(i), 1 + cpu, rec);
      c += rec.total_cycles;
      ++faults;
    } else if (kind == 8) {
      const u64 cycles = pick(0, 4000);
      tl.interrupt(cpu, c, cycles);
      c += cycles;
    } else {
      const u64 cycles = pick(1, 2000);
      tl.context_switch(cpu, c, cycles, static_cast<std::uint32_t>(pick(1, 9)));
      c += cycles;
    }
  }
  tl.finish();
  EXPECT_EQ(tl.out_of_order(), 0u);

  const json events = parse(out.str());
  ASSERT_TRUE(well_formed(events));
  EXPECT_EQ(events.size(), tl.events());
  EXPECT_TRUE(nested(events));
  std::size_t seen = 0;
  EXPECT_TRUE(steps_fill_faults(events, &seen));
  EXPECT_EQ(seen, faults);
  // The printed µs come back as exactly the nanoseconds the writer meant.
  for (const json& e : events)
    if (e["ph"] == "X") {
      const double us = e["ts"].get<double>();
      EXPECT_NEAR(us * 1000.0, static_cast<double>(ns_of(e["ts"])), 1e-3);
    }
}

TEST(Timeline, NestingSurvivesRoundingAtOddFrequenciesInLongRuns) {
  for (const double ghz : {2.6, 3.7, 3.0, 2.2, 1.0 / 3.0, 4.7})
    long_run_at(ghz);
}

}  // namespace
