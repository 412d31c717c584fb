// Reader of valgrind lackey memory traces (`valgrind --tool=lackey --trace-mem=yes`),
// plain or gzip/xz/zstd-compressed. Lackey prints one access per line, with
//   "I  %08lx,%lu"   instruction fetch      -> Op::Fetch
//   " L %08lx,%lu"   data load              -> Op::Read
//   " S %08lx,%lu"   data store             -> Op::Write
//   " M %08lx,%lu"   modify (load + store)  -> Op::Read, then Op::Write (same line)
// (valgrind's lackey/lk_main.c: trace_instr, trace_load, trace_store, trace_modify),
// ADDR in hex without 0x, SIZE in decimal bytes, kept as given (SIMD and x87/XSAVE
// accesses can be hundreds of bytes). valgrind's own messages, "==PID== ..." and
// "--PID-- ..." (warnings, -v), and blank lines are skipped. Such a trace has no
// `spawn`, so it runs as process 1 with automap (TRACE_FORMAT.md).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "traces/event.hpp"
#include "traces/reader.hpp"
#include "traces/trace_error.hpp"

namespace mmusim::traces {

class LackeyReader final : public Reader {
 public:
  // Opens the file and detects its compression. Throws TraceError.
  explicit LackeyReader(const std::string& path);
  ~LackeyReader() override;
  LackeyReader(LackeyReader&&) noexcept;
  LackeyReader& operator=(LackeyReader&&) noexcept;

  // Fills ev (op, addr, size, line; the other access options reset) with the next
  // access; false at the end. Throws TraceError naming FILE:LINE:COLUMN on a line that
  // is no lackey record (recoverable: the line is skipped and a further call goes on),
  // or on unreadable/corrupt data (not recoverable: every further call throws it again).
  // Allocates nothing per line.
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
