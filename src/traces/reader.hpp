// Every trace format as one stream of Events: the text format, its binary encoding
// (docs/binary-format.md), and the formats users bring (valgrind lackey output,
// ChampSim's 64-byte records). A format is recognised by the content of the file
// once decompressed (TRACE_FORMAT.md: by magic bytes, not by name), and a caller may
// name it instead (`--format`).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "traces/event.hpp"
#include "traces/trace_error.hpp"

namespace mmusim::traces {

enum class Format : unsigned char { Auto, Text, Binary, Lackey, Champsim };

const char* format_name(Format f);  // "auto", "text", "binary", "lackey", "champsim"
// Parses a --format value; throws std::invalid_argument listing the names.
Format parse_format(std::string_view name);

// A trace as a stream of events. next() fills `ev` (false at the end) and throws
// TraceError on malformed input: recoverable if only that record is skipped.
class Reader {
 public:
  virtual ~Reader() = default;
  virtual bool next(Event& ev) = 0;
  virtual const std::string& path() const = 0;
  // How much of the file has been read, 0..1; negative when not known (for a progress bar).
  virtual double fraction_read() const { return -1.0; }
};

// The format of the (decompressed) content of `path`, from its first bytes:
// the binary magic; else text whose first records look like lackey output; else any
// other text is the trace format; else (bytes that are not text) ChampSim. Throws
// TraceError if the file cannot be read.
Format detect_format(const std::string& path);

// Opens `path` in `format` (detected when Auto). Throws TraceError.
std::unique_ptr<Reader> open_reader(const std::string& path, Format format = Format::Auto);

}  // namespace mmusim::traces
