// A trace file as a core's event source.
#pragma once

#include "hw/event_source.hpp"
#include "traces/text_reader.hpp"

namespace mmusim::hw {

class TraceSource : public EventSource {
 public:
  explicit TraceSource(const std::string& path) : reader_(path) {}
  bool next(traces::Event& ev) override { return reader_.next(ev); }
  const std::string& name() const override { return reader_.path(); }

 private:
  traces::TextReader reader_;
};

}  // namespace mmusim::hw
