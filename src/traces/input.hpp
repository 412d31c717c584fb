// A trace file as a stream of bytes, decompressed when its first bytes say so.
// Detection is by magic bytes, not by name (TRACE_FORMAT.md), so a renamed or
// piped compressed trace still reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace mmusim::traces {

enum class Compression { None, Gzip, Xz, Zstd };

const char* compression_name(Compression c);

class Input {
 public:
  // Throws TraceError ("FILE: error: cannot open: REASON") when the file cannot be read.
  explicit Input(const std::string& path);
  ~Input();
  Input(const Input&) = delete;
  Input& operator=(const Input&) = delete;

  // Copies up to n bytes into dst; returns 0 only at the end of the data. A read
  // failure or truncated/corrupt compressed data also ends the data, but then
  // failed() is true: every byte decoded before the damage is still delivered first,
  // so the caller can name the last good line.
  std::size_t read(char* dst, std::size_t n);

  // How much of the file has been read, 0..1 (of the compressed bytes for a compressed
  // file); negative when the size is not known (a pipe).
  double fraction_read() const;

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  Compression compression() const { return compression_; }

 private:
  struct Decoder;
  int fd_ = -1;
  std::uint64_t size_ = 0;  // of a regular file; 0 otherwise
  Compression compression_ = Compression::None;
  std::string path_;
  std::string error_;
  // Bytes read to sniff the magic that belong to the data of a plain file.
  std::string head_;
  std::size_t head_pos_ = 0;
  std::unique_ptr<Decoder> decoder_;

  std::size_t read_plain(char* dst, std::size_t n);
};

}  // namespace mmusim::traces
