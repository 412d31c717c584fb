// A trace file, in any format the readers know, as a core's event source.
#pragma once

#include <memory>

#include "hw/event_source.hpp"
#include "traces/reader.hpp"

namespace mmusim::hw {

class TraceSource : public EventSource {
 public:
  // Throws TraceError when the file cannot be opened or its format is unknown.
  explicit TraceSource(const std::string& path, traces::Format format = traces::Format::Auto)
      : reader_(traces::open_reader(path, format)) {}
  bool next(traces::Event& ev) override { return reader_->next(ev); }
  const std::string& name() const override { return reader_->path(); }
  double fraction_read() const override { return reader_->fraction_read(); }

 private:
  std::unique_ptr<traces::Reader> reader_;
};

}  // namespace mmusim::hw
