// Writes Events as text trace lines (../shared/TRACE_FORMAT.md, version 1): the
// inverse of TextReader, for `mmusim convert` and for tools that generate traces.
//
// Every line is canonical: addresses, values, error codes and register values in hex,
// lengths with the largest exact K/M/G suffix, sizes and counts in decimal, defaults
// left out, options in a fixed order, names always in double quotes. TextReader reads
// a line back into an Event equal to the written one in every field but `line` (a
// text line number is a position in the file, not data): text -> events -> text gives
// the same events, not the same bytes (comments, blank lines and spelling go).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>

#include "traces/event.hpp"

namespace mmusim::traces {

// Why the text grammar (TRACE_FORMAT.md) could not have produced `ev`, or nullptr if
// it could. Only the fields that ev.op uses are looked at (a reader leaves the others
// as they were), and not ev.line. Both writers refuse such events and BinaryReader
// refuses records that decode to one, so whatever one format holds converts to the
// other and back. (Whether `mode bare` is the first event is the writers' business.)
const char* event_problem(const Event& ev);

class TextWriter {
 public:
  // Writes the version line `mmutrace 1` first. Output is buffered: flush() or
  // destroy the writer before reading `out`.
  explicit TextWriter(std::ostream& out);
  ~TextWriter();  // flushes; errors are ignored there (call flush() to see them)
  TextWriter(const TextWriter&) = delete;
  TextWriter& operator=(const TextWriter&) = delete;

  // Appends one line. Throws std::invalid_argument, writing nothing, if the text
  // format cannot express the event (event_problem, or `mode` after another event).
  void write(const Event& ev);

  // Hands the buffered lines to the stream and flushes it. Throws
  // std::ios_base::failure if the stream is in a failed state afterwards.
  void flush();
  void finish() { flush(); }  // as BinaryWriter::finish: nothing else to write

  std::uint64_t events() const { return events_; }

 private:
  std::ostream& out_;
  std::unique_ptr<char[]> buf_;
  std::size_t pos_ = 0;
  std::uint64_t events_ = 0;

  static constexpr std::size_t kBuf = 1 << 16;
  // Room for a line without its names: the longest one is a set line, written
  // entry by entry.
  static constexpr std::size_t kLineRoom = 512;

  char* room(std::size_t n);
  void put(const char* s, std::size_t n);
  void put_quoted(const std::string& s);
  void drain();
};

}  // namespace mmusim::traces
