// Streaming reader of the binary encoding of the trace format
// (docs/binary-format.md), plain or gzip/xz/zstd-compressed (traces::Input).
// It reads in large blocks and decodes from the buffer: memory is bounded by the
// block and the longest name, never by the trace length.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "traces/event.hpp"
#include "traces/reader.hpp"
#include "traces/trace_error.hpp"

namespace mmusim::traces {

class BinaryReader final : public Reader {
 public:
  // Opens the file, detects its compression and checks the header (magic, version,
  // flags). Throws TraceError.
  explicit BinaryReader(const std::string& path);
  ~BinaryReader() override;
  BinaryReader(BinaryReader&&) noexcept;
  BinaryReader& operator=(BinaryReader&&) noexcept;

  // Fills ev with the next event, its line number included; false after the end
  // record. Like TextReader, it sets exactly the fields the text grammar sets for the
  // event's kind (after Event::reset_options) and leaves the others alone, and reading
  // accesses allocates nothing.
  //
  // Throws TraceError: FILE[:LINE]: error: MESSAGE at byte offset N, where N is the
  // offset of the record in the decompressed data and LINE the event's line when the
  // record got that far. A record that decodes but holds an event the text grammar
  // would refuse (a SIZE of 0, say) is recoverable: it is consumed and next() goes on.
  // Damage to the structure (unknown record type, truncation, a missing end record,
  // an overlong varint or string, corrupt compressed data) is not: next() throws the
  // same error again.
  bool next(Event& ev) override;

  const std::string& path() const override;
  double fraction_read() const override;
  // Line number of the last event returned (0 before the first).
  std::uint64_t line() const;
  // Offset in the decompressed data of the next record.
  std::uint64_t offset() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mmusim::traces
