// Streaming reader of the text trace format (../shared/TRACE_FORMAT.md, version 1),
// plain or gzip/xz/zstd-compressed. It checks the syntax of every line and fills
// Events; what an event means (is the PID known, is ADDR aligned) is the simulator's.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "traces/event.hpp"
#include "traces/reader.hpp"
#include "traces/trace_error.hpp"

namespace mmusim::traces {

class TextReader final : public Reader {
 public:
  // Opens the file and detects its compression. Throws TraceError.
  explicit TextReader(const std::string& path);
  ~TextReader() override;
  TextReader(TextReader&&) noexcept;
  TextReader& operator=(TextReader&&) noexcept;

  // Fills ev with the next event; false at the end of the trace. Throws TraceError on
  // a malformed line (recoverable: the line is skipped, a further call goes on) or
  // on unreadable/corrupt data (not recoverable). ev's strings and vectors keep their
  // storage, so reading accesses allocates nothing.
  bool next(Event& ev) override;

  const std::string& path() const override;
  double fraction_read() const override;
  // Line number of the last event returned (0 before the first).
  std::uint64_t line() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mmusim::traces
