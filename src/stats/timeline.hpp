// A run's timeline in the Chrome / Perfetto trace-event JSON format (open it in
// ui.perfetto.dev or chrome://tracing): per simulated CPU, page walks, page faults with
// their kernel cost steps nested inside, TLB-shootdown interrupts, context switches and
// the trace's OS events.
//
// Layout. One JSON array, one event per line. Process pid 1 ("mmusim"); CPU n is thread
// tid n + 1, named "CPU n" and sorted by n (tid 0 is avoided: Perfetto reserves thread 0
// for the idle task and its UI filters it out). Slices are complete events ("ph":"X");
// an interrupt, context switch or OS event of 0 cycles becomes a thread-scoped instant
// ("ph":"i","s":"t"); a walk of 0 cycles is left out; a fault of 0 cycles stays, as a
// slice of 0 µs. Every slice's args carry its exact cycle count, since its µs are
// rounded.
//
// Time. The format's unit is the microsecond; a cycle position c on a CPU's clock is
// placed at ns(c) = round(c / ghz) nanoseconds and printed as ns / 1000 with exactly
// three decimals. A slice's ts is ns(start) and its dur is ns(end) − ns(start), both from
// absolute cycle positions, never a rounded duration added to a rounded start. Because
// ns() is monotone, a child [a, b) inside its parent [s, e) in cycles gives ns(s) ≤ ns(a)
// ≤ ns(b) ≤ ns(e): children never stick out of their parent, consecutive steps meet
// exactly, and the steps' durs add up to the fault's dur exactly. Why whole nanoseconds
// rather than finer: Perfetto stores time as integer ns, rounding ts and dur each on its
// own (llround(µs × 1000)), so a finer fraction would be rounded twice, independently,
// and a child could end 1 ns past its parent. With whole ns that rounding is exact.
// The price: a slice of a cycle or two shows as 0 or 1 ns (its args.cycles is exact).
//
// Streaming. Each event is written as soon as it is given, nothing is kept but a format
// buffer and one clock per CPU, so memory does not grow with the run. Each line after
// the "[" holds one event, and the comma separating it from the one before starts its
// line ("\n,{...}"). So any prefix of the file that ends at a line end or after an
// event (`head -n`; a killed run whose stream had been flushed) is a valid array once
// "]" is appended, and Perfetto and chrome://tracing read it without. "{...},\n" lines
// would leave a trailing comma there, which is not JSON.
//
// The caller gives each CPU's events in the order of that CPU's clock, each starting
// where the previous one ended or later (that is how a core's clock advances). Nothing
// is sorted or clipped; out_of_order() counts events that break this, for tests.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "kernel/fault_record.hpp"

namespace mmusim::stats {

class Timeline {
 public:
  static constexpr std::uint32_t kPid = 1;
  static constexpr std::uint64_t tid(unsigned cpu) { return std::uint64_t{cpu} + 1; }

  // Writes to `out` (already open, and outliving this object) the opening "[" and the
  // process and thread names of CPUs 0 .. cpus-1. `ghz` converts cycles to time (as the
  // configuration's core.frequency_ghz). Throws std::invalid_argument unless ghz is
  // finite and positive and cpus ≥ 1.
  Timeline(std::ostream& out, double ghz, unsigned cpus);
  ~Timeline();  // finish() if it was not called; never throws
  Timeline(const Timeline&) = delete;
  Timeline& operator=(const Timeline&) = delete;

  // Writes the closing "]" and flushes. Idempotent; events given afterwards are dropped,
  // as the array is closed.
  void finish();

  // In every event, `cpu` picks the thread and `start` is a cycle of that CPU's clock.
  // A CPU beyond those named in the constructor gets its thread name when first used.

  // One page walk of `cycles`, at linear address `va`; `faulted` walks are named
  // "page_walk_faulted" so they stand out in colour.
  void walk(unsigned cpu, std::uint64_t start, std::uint64_t cycles, std::uint64_t va, bool faulted);
  // One page fault: a slice named after its resolution ("cow_copy", ...) spanning
  // rec.total_cycles from `start`, with one child slice per rec.steps entry laid end to
  // end. args: cycles, line, pid, address and error_code (hex strings), resolution, huge,
  // si_code (signals only) and path [{function, cycles}] innermost first. Steps that would
  // run past total_cycles (they should add up to it exactly) are cut at the fault's end.
  void fault(unsigned cpu, std::uint64_t start, std::uint64_t line, std::uint32_t pid,
             const kernel::FaultRecord& rec);
  // A TLB-shootdown interrupt handled on `cpu` ("tlb_shootdown").
  void interrupt(unsigned cpu, std::uint64_t start, std::uint64_t cycles);
  // A context switch on `cpu` to process `pid` ("context_switch").
  void context_switch(unsigned cpu, std::uint64_t start, std::uint64_t cycles, std::uint32_t pid);
  // An OS event of the trace (`what`: "mmap", "fork", ...) from trace line `line`.
  void os_event(unsigned cpu, std::uint64_t start, std::uint64_t cycles, std::string_view what,
                std::uint64_t line);

  // Where cycle `c` is placed, in whole nanoseconds (the rounding rule above).
  std::uint64_t ns(std::uint64_t c) const;
  // Events written, metadata included.
  std::uint64_t events() const { return events_; }
  // Events that started before the end of an earlier event on their CPU: each is an
  // overlap or misordering by the caller, which a viewer may draw wrongly.
  std::uint64_t out_of_order() const { return out_of_order_; }

 private:
  void begin_event();
  void thread_names(unsigned cpu);
  void note_cpu(unsigned cpu, std::uint64_t start, std::uint64_t end);
  void slice_head(unsigned cpu, std::string_view name, std::string_view cat, std::uint64_t start,
                  std::uint64_t end);
  void instant_head(unsigned cpu, std::string_view name, std::string_view cat, std::uint64_t start);
  void put_ids(unsigned cpu);
  void put_time(std::uint64_t ns);
  void put_uint(std::uint64_t v);
  void put_hex(std::uint64_t v);
  void put_string(std::string_view s);
  void put(std::string_view literal);
  void emit();

  std::ostream& out_;
  double ghz_;
  std::string buf_;                    // the event(s) being formatted; reused
  std::vector<std::uint64_t> clock_;   // per CPU: end of its latest event, in cycles
  std::vector<bool> named_;            // per CPU: thread name written
  std::uint64_t events_ = 0;
  std::uint64_t out_of_order_ = 0;
  bool finished_ = false;
};

}  // namespace mmusim::stats
