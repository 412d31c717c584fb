// GCC 12 reports a false -Wrestrict inside Boost's gzip_compressor (GCC bug 105651,
// std::string::insert at -O3). The warning is raised after inlining, at a location in
// <bits/char_traits.h>, so it is silenced for the whole file, before any include.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include "traces/output.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include <boost/iostreams/filter/gzip.hpp>
#include <boost/iostreams/filter/lzma.hpp>
#include <boost/iostreams/filter/zstd.hpp>
#include <boost/iostreams/filtering_stream.hpp>

namespace mmusim::traces {

namespace io = boost::iostreams;

namespace {

// Buffer of each link of the chain. Boost's default for a filter is 128 bytes, one
// compressor call per 128 bytes written.
constexpr std::streamsize kBuf = 64 * 1024;

// The bottom of the chain: write(2) to the file, all of it or an error. The first
// error is remembered (so close() can say why) and sticks: every later write fails
// too, so nothing is written after a hole.
struct SinkState {
  int fd = -1;
  int err = 0;
  std::uint64_t bytes = 0;
};

class FdSink {
 public:
  using char_type = char;
  using category = io::sink_tag;
  explicit FdSink(SinkState* s) : s_(s) {}

  std::streamsize write(const char* src, std::streamsize n) {
    if (s_->err != 0) throw std::runtime_error("earlier write error");
    std::streamsize done = 0;
    while (done < n) {
      ssize_t put = ::write(s_->fd, src + done, static_cast<std::size_t>(n - done));
      if (put < 0) {
        if (errno == EINTR) continue;
        s_->err = errno;
        throw std::runtime_error(std::strerror(errno));
      }
      if (put == 0) {  // not expected of a regular file; do not spin on it
        s_->err = EIO;
        throw std::runtime_error("short write");
      }
      done += put;
      s_->bytes += static_cast<std::uint64_t>(put);
    }
    return n;
  }

 private:
  SinkState* s_;  // owned by Output::Impl, which outlives the chain
};

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

struct Output::Impl {
  SinkState sink;
  io::filtering_ostream out;
  bool closed = false;
};

Compression Output::compression_for(const std::string& path) {
  if (ends_with(path, ".gz")) return Compression::Gzip;
  if (ends_with(path, ".xz")) return Compression::Xz;
  if (ends_with(path, ".zst")) return Compression::Zstd;
  return Compression::None;
}

void Output::fail(const std::string& reason) const {
  throw std::runtime_error(path_ + ": error: cannot write: " + reason);
}

Output::Output(const std::string& path, Compression c, int level)
    : path_(path), compression_(c), impl_(std::make_unique<Impl>()) {
  if (level != kDefaultLevel && c != Compression::None) {
    const int lo = c == Compression::Xz ? 0 : 1, hi = c == Compression::Zstd ? 19 : 9;
    if (level < lo || level > hi)
      throw std::invalid_argument(path + ": error: bad " + compression_name(c) + " compression level " +
                                  std::to_string(level) + " (expected " + std::to_string(lo) + " to " +
                                  std::to_string(hi) + ")");
  }
  impl_->sink.fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (impl_->sink.fd < 0) fail(std::strerror(errno));
  const bool dflt = level == kDefaultLevel;
  try {
    switch (c) {
      case Compression::Gzip:
        impl_->out.push(io::gzip_compressor(io::gzip_params(dflt ? io::gzip::default_compression : level)), kBuf);
        break;
      case Compression::Xz:
        impl_->out.push(io::lzma_compressor(io::lzma_params(
                            dflt ? io::lzma::default_compression : static_cast<std::uint32_t>(level))),
                        kBuf);
        break;
      case Compression::Zstd:
        impl_->out.push(io::zstd_compressor(io::zstd_params(
                            dflt ? io::zstd::default_compression : static_cast<std::uint32_t>(level))),
                        kBuf);
        break;
      case Compression::None: break;
    }
    impl_->out.push(FdSink(&impl_->sink), kBuf);
  } catch (const std::exception& e) {  // e.g. the compressor cannot allocate its state
    ::close(impl_->sink.fd);
    fail(e.what());
  }
}

Output::~Output() {
  if (!impl_->closed) {
    try {
      close();
    } catch (...) {
      // The destructor must not throw; close() has closed the file descriptor.
    }
  }
}

std::ostream& Output::stream() { return impl_->out; }

std::uint64_t Output::bytes_written() const { return impl_->sink.bytes; }

void Output::close() {
  Impl& m = *impl_;
  if (m.closed) return;
  m.closed = true;
  const bool stream_bad = m.out.bad();
  std::string other;  // an error that is not the file's (a compressor's)
  try {
    m.out.reset();  // flushes every link, then closes them: the compressors write their trailers
  } catch (const std::exception& e) {
    other = e.what();
  } catch (...) {
    other = "unknown error";
  }
  int close_err = 0;
  if (::close(m.sink.fd) != 0) close_err = errno;  // NFS and the like report write errors here
  m.sink.fd = -1;
  if (m.sink.err != 0) fail(std::strerror(m.sink.err));
  if (!other.empty()) fail(other);
  if (close_err != 0) fail(std::strerror(close_err));
  if (stream_bad) fail("the stream failed");
}

}  // namespace mmusim::traces
