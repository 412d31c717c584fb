// The lines of a line-oriented trace (the text format, lackey output): the file
// decompressed, split and counted, with the errors that end the file remembered, so
// that every reader of lines reports them alike and throws them again on later calls.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "traces/input.hpp"
#include "traces/text_lexer.hpp"
#include "traces/trace_error.hpp"

namespace mmusim::traces::detail {

class LineSource {
 public:
  // `kind` names the format in the over-long-line message ("a text trace").
  LineSource(const std::string& path, const char* kind);

  // The next line (a view valid until the next call), counted; false at the end.
  // Unreadable or corrupt data and an over-long line throw a TraceError that is not
  // recoverable, now and on every later call.
  // Inline: a line is read for every event.
  bool next(std::string_view& line) {
    if (fatal_) throw *fatal_;
    const LineBuffer::Status status = lines_.next(line);
    if (status == LineBuffer::Status::Line) {
      ++line_no_;
      return true;
    }
    return end_or_fail(status);
  }

  // Makes `e` end the file if it is not recoverable (a reader's own fatal error).
  void remember(const TraceError& e) {
    if (!e.recoverable) fatal_ = e;
  }

  const std::string& path() const { return path_; }
  double fraction_read() const { return input_.fraction_read(); }
  std::uint64_t line_no() const { return line_no_; }  // lines consumed

 private:
  [[noreturn]] void die(std::uint64_t line, std::string msg);
  // After next() found no line: false at the end, else the error that ends the file.
  bool end_or_fail(LineBuffer::Status status);

  std::string path_;
  const char* kind_;
  Input input_;
  LineBuffer lines_;
  std::uint64_t line_no_ = 0;
  std::optional<TraceError> fatal_;
};

}  // namespace mmusim::traces::detail
