// Reader of ChampSim binary traces (usually *.champsimtrace.xz; plain, gzip, xz and
// zstd all read, by magic bytes). The file is a sequence of 64-byte records, the
// memory image of ChampSim's `input_instr` on x86-64 (little-endian, no padding):
//
//   offset  size  field
//        0     8  uint64 ip
//        8     1  uint8  is_branch
//        9     1  uint8  branch_taken
//       10     2  uint8  destination_registers[2]
//       12     4  uint8  source_registers[4]
//       16    16  uint64 destination_memory[2]
//       32    32  uint64 source_memory[4]
//
// Source: ChampSim/ChampSim, inc/trace_instruction.h (struct input_instr,
// NUM_INSTR_DESTINATIONS = 2, NUM_INSTR_SOURCES = 4), written with one memcpy of the
// struct per instruction by tracer/pin/champsim_tracer.cpp (WriteCurrentInstruction).
// An operand slot holding 0 is unused: the tracer fills slots from the front and
// ChampSim's ooo_model_instr drops zero addresses (std::remove ... uint64_t{0}).
//
// Each record becomes, all with Event::line = record index + 1:
//   - a Fetch of ip, size kFetchSize;
//   - a Read of each nonzero source_memory[i], in slot order, size kDataSize;
//   - a Write of each nonzero destination_memory[i], in slot order, size kDataSize.
// Branch and register fields are not used (an MMU sees none of them). Such a trace
// has no `spawn`, so it runs as process 1 with automap (TRACE_FORMAT.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "traces/event.hpp"
#include "traces/reader.hpp"
#include "traces/trace_error.hpp"

namespace mmusim::traces {

class ChampsimReader final : public Reader {
 public:
  static constexpr std::size_t kRecordSize = 64;
  // The record holds no instruction length. One byte is what the text format assumes
  // for `x ADDR`, and it never invents a fetch that crosses into the next page (an
  // x86 instruction is 1 to 15 bytes; guessing 15 would split ~0.3% of fetches).
  static constexpr std::uint64_t kFetchSize = 1;
  // The record holds no operand size either. 8 bytes (a general-purpose register,
  // and the text format's default for `r`/`w`) is the most common x86-64 operand;
  // an 8-byte-aligned operand never crosses a page, so only unaligned operands in
  // the last 7 bytes of a page become split accesses.
  static constexpr std::uint64_t kDataSize = 8;

  // Opens the file and detects its compression. Throws TraceError.
  explicit ChampsimReader(const std::string& path);
  ~ChampsimReader() override;
  ChampsimReader(ChampsimReader&&) noexcept;
  ChampsimReader& operator=(ChampsimReader&&) noexcept;

  // Fills ev (op, addr, size, line; the other access options reset) with the next
  // access; false at the end. Throws TraceError, not recoverable (every further call
  // throws it again), on unreadable or corrupt compressed data and on a trailing
  // partial record ("truncated record at byte OFFSET", line = that record's number).
  bool next(Event& ev) override;

  const std::string& path() const override;
  double fraction_read() const override;
  // Records decoded so far: the line of the last event returned (0 before the first).
  std::uint64_t record() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mmusim::traces
