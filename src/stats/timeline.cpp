#include "stats/timeline.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <ostream>
#include <stdexcept>

#include <fmt/format.h>

namespace mmusim::stats {

Timeline::Timeline(std::ostream& out, double ghz, unsigned cpus) : out_(out), ghz_(ghz) {
  if (!(std::isfinite(ghz) && ghz > 0))
    throw std::invalid_argument(fmt::format("timeline: the clock must be a positive number of GHz, not {}", ghz));
  if (cpus == 0) throw std::invalid_argument("timeline: there must be at least one CPU");
  clock_.assign(cpus, 0);
  named_.assign(cpus, false);
  buf_.reserve(4096);
  buf_.push_back('[');
  begin_event();
  fmt::format_to(std::back_inserter(buf_),
                 R"({{"name":"process_name","ph":"M","pid":{},"tid":{},"args":{{"name":"mmusim"}}}})", kPid, tid(0));
  for (unsigned cpu = 0; cpu < cpus; ++cpu) thread_names(cpu);
  emit();
}

Timeline::~Timeline() {
  // A destructor must not throw, and an ostream may be set to throw on a failed write.
  try {
    finish();
  } catch (...) {
  }
}

void Timeline::finish() {
  if (finished_) return;
  finished_ = true;
  out_ << "\n]\n";
  out_.flush();
}

std::uint64_t Timeline::ns(std::uint64_t c) const {
  // Each step (u64 → double, the division, rounding) is monotone, so ns() is: that is
  // what keeps children inside their parents (see the header).
  return static_cast<std::uint64_t>(std::round(static_cast<double>(c) / ghz_));
}

// Events are assembled from literal pieces and integers rather than with fmt::format_to:
// parsing a format string per event was over half the cost of a walk's event (measured
// about 270 ns down to about 120 ns here), and a run can write millions of walks.

void Timeline::walk(unsigned cpu, std::uint64_t start, std::uint64_t cycles, std::uint64_t va, bool faulted) {
  // A 0-cycle walk (a walk the paging-structure caches answered entirely, say) would
  // be a line of noise for each of possibly millions of TLB misses.
  if (finished_ || cycles == 0) return;
  note_cpu(cpu, start, start + cycles);
  slice_head(cpu, faulted ? "page_walk_faulted" : "page_walk", "walk", start, start + cycles);
  put(R"("cycles":)");
  put_uint(cycles);
  put(R"(,"va":)");
  put_hex(va);
  put(faulted ? R"(,"faulted":true}})" : R"(,"faulted":false}})");
  emit();
}

void Timeline::fault(unsigned cpu, std::uint64_t start, std::uint64_t line, std::uint32_t pid,
                     const kernel::FaultRecord& rec) {
  if (finished_) return;
  const std::uint64_t end = start + rec.total_cycles;
  const std::string_view resolution = kernel::to_string(rec.resolution);
  note_cpu(cpu, start, end);
  // The parent goes first: a viewer that meets a parent and a child with the same ts
  // keeps them in file order.
  slice_head(cpu, resolution, "fault", start, end);
  put(R"("cycles":)");
  put_uint(rec.total_cycles);
  put(R"(,"line":)");
  put_uint(line);
  put(R"(,"pid":)");
  put_uint(pid);
  put(R"(,"address":)");
  put_hex(rec.address);
  put(R"(,"error_code":)");
  put_hex(rec.error_code);
  put(R"(,"resolution":)");
  put_string(resolution);
  put(rec.huge ? R"(,"huge":true)" : R"(,"huge":false)");
  if (rec.resolution == kernel::Resolution::Sigsegv || rec.resolution == kernel::Resolution::Sigbus) {
    put(R"(,"si_code":)");
    const fmt::format_int code(rec.si_code);
    put(std::string_view(code.data(), code.size()));
  }
  put(R"(,"path":[)");
  for (std::size_t i = 0; i < rec.path.size(); ++i) {
    put(i ? R"(,{"function":)" : R"({"function":)");
    put_string(rec.path[i].function);
    put(R"(,"cycles":)");
    put_uint(rec.path[i].cycles);
    put("}");
  }
  put("]}}");

  // Steps laid end to end from absolute cycle positions, so consecutive steps share
  // their boundary exactly; the clamp keeps a record whose steps overrun its total
  // (a kernel bug) from drawing children outside the fault.
  std::uint64_t at = start;
  for (const kernel::CostStep& step : rec.steps) {
    const std::uint64_t to = std::min(at + step.cycles, end);
    slice_head(cpu, step.name, "kernel", at, to);
    put(R"("cycles":)");
    put_uint(step.cycles);
    put("}}");
    at = to;
  }
  emit();
}

void Timeline::interrupt(unsigned cpu, std::uint64_t start, std::uint64_t cycles) {
  if (finished_) return;
  note_cpu(cpu, start, start + cycles);
  if (cycles == 0)
    instant_head(cpu, "tlb_shootdown", "ipi", start);
  else
    slice_head(cpu, "tlb_shootdown", "ipi", start, start + cycles);
  put(R"("cycles":)");
  put_uint(cycles);
  put("}}");
  emit();
}

void Timeline::context_switch(unsigned cpu, std::uint64_t start, std::uint64_t cycles, std::uint32_t pid) {
  if (finished_) return;
  note_cpu(cpu, start, start + cycles);
  if (cycles == 0)
    instant_head(cpu, "context_switch", "sched", start);
  else
    slice_head(cpu, "context_switch", "sched", start, start + cycles);
  put(R"("cycles":)");
  put_uint(cycles);
  put(R"(,"pid":)");
  put_uint(pid);
  put("}}");
  emit();
}

void Timeline::os_event(unsigned cpu, std::uint64_t start, std::uint64_t cycles, std::string_view what,
                        std::uint64_t line) {
  if (finished_) return;
  note_cpu(cpu, start, start + cycles);
  if (cycles == 0)
    instant_head(cpu, what, "os", start);
  else
    slice_head(cpu, what, "os", start, start + cycles);
  put(R"("cycles":)");
  put_uint(cycles);
  put(R"(,"line":)");
  put_uint(line);
  put("}}");
  emit();
}

void Timeline::begin_event() {
  // The comma opens the event's line rather than closing the previous one, so no cut
  // at a line end leaves a trailing comma (see the header).
  buf_.append(std::string_view(events_ ? "\n," : "\n"));
  ++events_;
}

void Timeline::thread_names(unsigned cpu) {
  auto it = std::back_inserter(buf_);
  begin_event();
  fmt::format_to(it, R"({{"name":"thread_name","ph":"M","pid":{},"tid":{},"args":{{"name":"CPU {}"}}}})", kPid,
                 tid(cpu), cpu);
  begin_event();
  fmt::format_to(it, R"({{"name":"thread_sort_index","ph":"M","pid":{},"tid":{},"args":{{"sort_index":{}}}}})",
                 kPid, tid(cpu), cpu);
  named_[cpu] = true;
}

void Timeline::note_cpu(unsigned cpu, std::uint64_t start, std::uint64_t end) {
  if (cpu >= clock_.size()) {
    clock_.resize(cpu + std::size_t{1}, 0);
    named_.resize(cpu + std::size_t{1}, false);
  }
  if (!named_[cpu]) thread_names(cpu);
  if (start < clock_[cpu]) ++out_of_order_;
  clock_[cpu] = std::max(clock_[cpu], end);
}

void Timeline::slice_head(unsigned cpu, std::string_view name, std::string_view cat, std::uint64_t start,
                          std::uint64_t end) {
  const std::uint64_t from = ns(start);
  begin_event();
  put(R"({"name":)");
  put_string(name);
  put(R"(,"cat":)");
  put_string(cat);
  put(R"(,"ph":"X","ts":)");
  put_time(from);
  put(R"(,"dur":)");
  put_time(ns(end) - from);
  put_ids(cpu);
}

void Timeline::instant_head(unsigned cpu, std::string_view name, std::string_view cat, std::uint64_t start) {
  begin_event();
  put(R"({"name":)");
  put_string(name);
  put(R"(,"cat":)");
  put_string(cat);
  put(R"(,"ph":"i","s":"t","ts":)");
  put_time(ns(start));
  put_ids(cpu);
}

void Timeline::put_ids(unsigned cpu) {
  put(R"(,"pid":)");
  put_uint(kPid);
  put(R"(,"tid":)");
  put_uint(tid(cpu));
  put(R"(,"args":{)");
}

void Timeline::put_time(std::uint64_t ns) {
  put_uint(ns / 1000);
  const auto frac = static_cast<unsigned>(ns % 1000);
  const char digits[4] = {'.', static_cast<char>('0' + frac / 100), static_cast<char>('0' + frac / 10 % 10),
                          static_cast<char>('0' + frac % 10)};
  buf_.append(digits, 4);
}

void Timeline::put_uint(std::uint64_t v) {
  const fmt::format_int digits(v);
  buf_.append(digits.data(), digits.size());
}

void Timeline::put_hex(std::uint64_t v) {
  // A quoted "0x..." string: JSON numbers lose precision above 2^53 in most readers.
  char digits[16];
  char* p = digits + 16;
  do {
    *--p = "0123456789abcdef"[v & 0xf];
    v >>= 4;
  } while (v);
  put(R"("0x)");
  buf_.append(p, static_cast<std::size_t>(digits + 16 - p));
  buf_.push_back('"');
}

void Timeline::put(std::string_view s) { buf_.append(s); }

void Timeline::put_string(std::string_view s) {
  buf_.push_back('"');
  // Names are plain identifiers almost always: copy runs, escape only what JSON must.
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c != '"' && c != '\\' && c >= 0x20) continue;
    buf_.append(s.substr(run, i - run));
    if (c < 0x20)
      fmt::format_to(std::back_inserter(buf_), "\\u{:04x}", static_cast<unsigned>(c));
    else
      buf_.append({'\\', s[i]});
    run = i + 1;
  }
  buf_.append(s.substr(run));
  buf_.push_back('"');
}

void Timeline::emit() {
  out_.write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
  buf_.clear();
}

}  // namespace mmusim::stats
