#include "traces/text_reader.hpp"

#include <optional>
#include <string_view>
#include <vector>

#include "traces/input.hpp"
#include "traces/text_grammar.hpp"
#include "traces/text_lexer.hpp"

namespace mmusim::traces {

struct TextReader::Impl {
  std::string path;
  Input input;
  detail::LineBuffer lines;
  std::vector<detail::Token> toks;
  std::uint64_t line_no = 0;       // lines consumed
  std::uint64_t event_line = 0;    // line of the last event returned
  bool first_line = true;          // no non-comment line seen yet
  bool first_event = true;
  std::optional<TraceError> fatal;

  explicit Impl(const std::string& p) : path(p), input(p), lines(input) { toks.reserve(16); }

  [[noreturn]] void die(std::uint64_t line, std::string msg) {
    fatal.emplace(path, line, 0, std::move(msg));
    throw *fatal;
  }

  bool next(Event& ev) {
    if (fatal) throw *fatal;
    for (;;) {
      std::string_view line;
      switch (lines.next(line)) {
        case detail::LineBuffer::Status::Line: break;
        case detail::LineBuffer::Status::End:
          if (input.failed()) die(line_no, input.error());
          return false;
        case detail::LineBuffer::Status::TooLong:
          die(line_no + 1, "line longer than " + std::to_string(detail::LineBuffer::kMaxLine >> 20) +
                               " MiB (is this a text trace?)");
      }
      ++line_no;
      if (!line.empty() && detail::quick_access(line, ev)) {
        first_line = first_event = false;
        ev.line = event_line = line_no;
        return true;
      }
      std::uint32_t bad = 0;
      switch (detail::tokenize(line, toks, bad)) {
        case detail::LexError::None: break;
        case detail::LexError::UnterminatedQuote:
          throw TraceError(path, line_no, detail::column_of(line, bad), "unterminated quoted string", true);
        case detail::LexError::BadQuote:
          throw TraceError(path, line_no, detail::column_of(line, bad),
                           "misplaced quote (expected \"TEXT\" or key=\"TEXT\")", true);
      }
      if (toks.empty()) continue;
      const bool was_first_line = first_line, was_first_event = first_event;
      first_line = false;
      // A malformed line still counts as the first event: `mode bare` after it,
      // under --keep-going, would otherwise switch modes behind a skipped event.
      first_event = false;
      ev.line = line_no;
      try {
        detail::LinePlace at{path, line_no, was_first_line, was_first_event};
        if (detail::parse_line(at, line, toks, ev) == detail::LineKind::Version) {
          first_event = was_first_event;
          continue;
        }
      } catch (const TraceError& e) {
        if (!e.recoverable) fatal = e;
        throw;
      }
      event_line = line_no;
      return true;
    }
  }
};

TextReader::TextReader(const std::string& path) : impl_(std::make_unique<Impl>(path)) {}
TextReader::~TextReader() = default;
TextReader::TextReader(TextReader&&) noexcept = default;
TextReader& TextReader::operator=(TextReader&&) noexcept = default;

bool TextReader::next(Event& ev) { return impl_->next(ev); }
const std::string& TextReader::path() const { return impl_->path; }
std::uint64_t TextReader::line() const { return impl_->event_line; }

}  // namespace mmusim::traces
