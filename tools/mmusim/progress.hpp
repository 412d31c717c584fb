// A progress line on stderr for long runs: events read, events per second and, when
// the trace's size is known, how much of it is done. It appears only once the run has
// taken a second (so short runs print nothing), only when stderr is a terminal (never
// in a pipe or a log file), and never with --quiet. It rewrites one line in place and
// clears it at the end, so the summary that follows starts on a clean line.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

#include "hw/event_source.hpp"

namespace mmusim::cli {

class ProgressSource : public hw::EventSource {
 public:
  // `delay`: how long a run goes before the line appears (1 s; tests shorten it
  // through MMUSIM_PROGRESS_DELAY_MS).
  ProgressSource(hw::EventSource& inner, std::ostream& err, bool enabled,
                 std::chrono::milliseconds delay = std::chrono::milliseconds(1000));
  ~ProgressSource() override;

  bool next(traces::Event& ev) override {
    if (!inner_.next(ev)) return false;
    // The clock is read once every 2^16 events: a few nanoseconds an event at most.
    if (enabled_ && (++events_ & 0xFFFF) == 0) tick();
    return true;
  }
  const std::string& name() const override { return inner_.name(); }
  double fraction_read() const override { return inner_.fraction_read(); }

  // Clears the line if one was drawn.
  void finish();

 private:
  void tick();
  using Clock = std::chrono::steady_clock;
  hw::EventSource& inner_;
  std::ostream& err_;
  bool enabled_;
  std::chrono::milliseconds delay_;
  Clock::time_point start_ = Clock::now(), last_;
  std::uint64_t events_ = 0;
  bool drawn_ = false;
};

// Whether stderr is a terminal and the user did not ask for quiet: when to show it.
bool progress_wanted(bool quiet);
// The delay before the line appears: MMUSIM_PROGRESS_DELAY_MS, else 1000 ms.
std::chrono::milliseconds progress_delay();

}  // namespace mmusim::cli
