// A file opened for writing as a std::ostream, compressed with gzip, xz or zstd or
// not at all: where converted and generated traces go. The compressors stream: the
// memory used is fixed by the compression level, never by the amount written.
// Input (input.hpp) reads every one of them back, detecting the compression by magic.
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>

#include "traces/input.hpp"

namespace mmusim::traces {

class Output {
 public:
  // The compressors' own default levels (gzip -6, xz -6, zstd -3): the files are what
  // `gzip`, `xz` and `zstd` would write. xz -6 is slow (about 1 MB/s of trace text
  // that does not repeat itself); a lower level trades size for speed.
  static constexpr int kDefaultLevel = -1;

  // Creates (or truncates) `path`. Throws std::runtime_error
  // ("PATH: error: cannot write: REASON") when it cannot be opened for writing, and
  // std::invalid_argument for a level the compression does not have (gzip 1-9, xz 0-9,
  // zstd 1-19; ignored without compression).
  Output(const std::string& path, Compression c, int level = kDefaultLevel);
  // Without close(), finishes the file as well as it can and never throws: a file
  // abandoned because of an exception elsewhere is still a valid (shorter) stream.
  ~Output();
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  // Where the data goes. A write failure does not throw here: it sets the stream's
  // badbit and is reported, with its reason, by close().
  std::ostream& stream();

  // Flushes, writes the end of the compressed stream and closes the file. Throws
  // std::runtime_error ("PATH: error: cannot write: REASON") if anything written
  // since the file was opened could not be written (disk full, I/O error). Further
  // calls do nothing.
  void close();

  // By the last extension: .gz gzip, .xz xz, .zst zstd, anything else none.
  static Compression compression_for(const std::string& path);

  const std::string& path() const { return path_; }
  Compression compression() const { return compression_; }
  // Bytes written to the file so far (after compression); final after close().
  std::uint64_t bytes_written() const;

 private:
  struct Impl;
  std::string path_;
  Compression compression_;
  std::unique_ptr<Impl> impl_;

  [[noreturn]] void fail(const std::string& reason) const;
};

}  // namespace mmusim::traces
