// Where a core's events come from: a trace reader, or a generator (benchmarks).
#pragma once

#include <cstdint>
#include <string>

#include "traces/event.hpp"

namespace mmusim::hw {

class EventSource {
 public:
  virtual ~EventSource() = default;
  virtual bool next(traces::Event& ev) = 0;   // false at the end; throws traces::TraceError
  virtual const std::string& name() const = 0; // file name for error messages
  // How much of the source has been read, 0..1; negative when not known.
  virtual double fraction_read() const { return -1.0; }
};

}  // namespace mmusim::hw
