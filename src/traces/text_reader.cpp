#include "traces/text_reader.hpp"

#include <string_view>
#include <vector>

#include "traces/line_source.hpp"
#include "traces/text_grammar.hpp"
#include "traces/text_lexer.hpp"

namespace mmusim::traces {

struct TextReader::Impl {
  detail::LineSource lines;
  std::vector<detail::Token> toks;
  std::uint64_t event_line = 0;    // line of the last event returned
  bool first_line = true;          // no non-comment line seen yet
  bool first_event = true;

  explicit Impl(const std::string& p) : lines(p, "a text trace") { toks.reserve(16); }

  bool next(Event& ev) {
    for (;;) {
      std::string_view line;
      if (!lines.next(line)) return false;
      const std::uint64_t line_no = lines.line_no();
      const std::string& path = lines.path();
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
        lines.remember(e);
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
const std::string& TextReader::path() const { return impl_->lines.path(); }
double TextReader::fraction_read() const { return impl_->lines.fraction_read(); }
std::uint64_t TextReader::line() const { return impl_->event_line; }

}  // namespace mmusim::traces
