// The keyword grammar of the text trace format (TRACE_FORMAT.md): one tokenized
// line into one Event. Errors are TraceErrors that locate and quote the token.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "traces/event.hpp"
#include "traces/text_lexer.hpp"
#include "traces/trace_error.hpp"

namespace mmusim::traces::detail {

// Parses `r|w|x ADDR [SIZE]` and nothing else straight from the line, skipping the
// tokenizer; false (ev untouched) for any other line, which parse_line then handles.
bool quick_access(std::string_view line, Event& ev);

// Where the line is in the trace, for the version line and `mode bare` rules.
struct LinePlace {
  const std::string& path;
  std::uint64_t line_no;
  bool first_line;   // no non-comment line before it
  bool first_event;  // no event (or malformed line) before it
};

enum class LineKind { Event, Version };

// toks: the line's tokens, at least one. Fills ev (op, fields, not ev.line).
LineKind parse_line(const LinePlace& at, std::string_view line, const std::vector<Token>& toks, Event& ev);

}  // namespace mmusim::traces::detail
