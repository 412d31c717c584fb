#include "progress.hpp"

#include <unistd.h>

#include <cstdlib>
#include <ostream>

#include <fmt/format.h>

namespace mmusim::cli {

ProgressSource::ProgressSource(hw::EventSource& inner, std::ostream& err, bool enabled,
                               std::chrono::milliseconds delay)
    : inner_(inner), err_(err), enabled_(enabled), delay_(delay) {}

ProgressSource::~ProgressSource() { finish(); }

void ProgressSource::tick() {
  const Clock::time_point now = Clock::now();
  if (now - start_ < delay_ || (drawn_ && now - last_ < std::chrono::milliseconds(250))) return;
  last_ = now;
  const double secs = std::chrono::duration<double>(now - start_).count();
  const double fraction = inner_.fraction_read();
  std::string line = fmt::format("mmusim: {:.1f} M events, {:.1f} M events/s", events_ / 1e6, events_ / secs / 1e6);
  if (fraction >= 0) line += fmt::format(", {:.0f}% of {}", 100 * fraction, inner_.name());
  // \r and an erase to the end of the line (ANSI EL): the line is rewritten in place.
  err_ << '\r' << line << "\x1b[K" << std::flush;
  drawn_ = true;
}

void ProgressSource::finish() {
  if (!drawn_) return;
  err_ << "\r\x1b[K" << std::flush;
  drawn_ = false;
}

bool progress_wanted(bool quiet) { return !quiet && ::isatty(STDERR_FILENO) == 1; }

std::chrono::milliseconds progress_delay() {
  if (const char* ms = std::getenv("MMUSIM_PROGRESS_DELAY_MS")) return std::chrono::milliseconds(std::atol(ms));
  return std::chrono::milliseconds(1000);
}

}  // namespace mmusim::cli
