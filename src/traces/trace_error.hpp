// The one error type of trace reading. Its what() is a single compiler-style line
// (TRACE_FORMAT.md: "Any error names the file, line and column, quotes the token,
// says what was expected"), so callers can print it as is.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

namespace mmusim::traces {

struct TraceError : std::runtime_error {
  std::string file;
  std::uint64_t line = 0;    // 0: the error concerns the file as a whole (cannot open it)
  std::uint64_t column = 0;  // 0: no single token is at fault (corrupt compressed data)
  std::string message;       // what() without the location, for warnings and tests
  // True when only the line is malformed: the reader has consumed it and next() goes
  // on with the following line (--keep-going). False for I/O and decompression
  // errors, after which next() throws the same error again.
  bool recoverable = false;

  TraceError(std::string file_, std::uint64_t line_, std::uint64_t column_, std::string message_,
             bool recoverable_ = false)
      : std::runtime_error(format(file_, line_, column_, message_)),
        file(std::move(file_)),
        line(line_),
        column(column_),
        message(std::move(message_)),
        recoverable(recoverable_) {}

  static std::string format(const std::string& file, std::uint64_t line, std::uint64_t column,
                            const std::string& message) {
    std::string s = file;
    if (line != 0) {
      s += ':' + std::to_string(line);
      if (column != 0) s += ':' + std::to_string(column);
    }
    s += ": error: ";
    s += message;
    return s;
  }
};

}  // namespace mmusim::traces
