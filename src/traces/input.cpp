#include "traces/input.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

#include <boost/iostreams/filter/gzip.hpp>
#include <boost/iostreams/filter/lzma.hpp>
#include <boost/iostreams/filtering_streambuf.hpp>
#include <boost/iostreams/operations.hpp>

#include "traces/trace_error.hpp"

namespace mmusim::traces {

namespace io = boost::iostreams;

namespace {

// Granularity of reads from the decompressing chain. Boost drops the bytes decoded
// inside a filter call that ends in an exception, so this bounds how far before the
// damage the last reported line can be. Measured: 16 KiB decodes as fast as 64 KiB.
constexpr std::size_t kChunk = 16 * 1024;

// read(2) that survives signals. Returns -1 with errno set on failure.
ssize_t read_fd(int fd, char* dst, std::size_t n) {
  for (;;) {
    ssize_t got = ::read(fd, dst, n);
    if (got >= 0 || errno != EINTR) return got;
  }
}

// The bottom of the Boost chain: the sniffed magic bytes, then the rest of the file.
// A read error is remembered here so that it is not reported as corrupt data.
struct FdSourceState {
  int fd;
  std::string head;
  std::size_t head_pos = 0;
  int read_errno = 0;
};

class FdSource {
 public:
  using char_type = char;
  using category = io::source_tag;
  explicit FdSource(std::shared_ptr<FdSourceState> s) : s_(std::move(s)) {}

  std::streamsize read(char* dst, std::streamsize n) {
    if (s_->head_pos < s_->head.size()) {
      std::size_t k = std::min<std::size_t>(static_cast<std::size_t>(n), s_->head.size() - s_->head_pos);
      std::memcpy(dst, s_->head.data() + s_->head_pos, k);
      s_->head_pos += k;
      return static_cast<std::streamsize>(k);
    }
    ssize_t got = read_fd(s_->fd, dst, static_cast<std::size_t>(n));
    if (got < 0) {
      s_->read_errno = errno;
      throw std::runtime_error("read error");
    }
    return got == 0 ? -1 : got;
  }

 private:
  std::shared_ptr<FdSourceState> s_;
};

// Boost 1.74's zstd_decompressor reports a stream cut inside a frame as a clean end
// of data (measured: half of a .zst file decodes "successfully"). This filter uses
// libzstd's streaming API directly and fails when the input ends mid-frame.
class ZstdDecompressor {
 public:
  using char_type = char;
  struct category : io::multichar_input_filter_tag {};

  ZstdDecompressor() : s_(std::make_shared<State>()) {}

  template <typename Source>
  std::streamsize read(Source& src, char* dst, std::streamsize n) {
    State& s = *s_;
    ZSTD_outBuffer out{dst, static_cast<std::size_t>(n), 0};
    while (out.pos < out.size) {
      if (s.in.pos == s.in.size && !s.src_eof) {
        std::streamsize got = io::read(src, s.buf.data(), static_cast<std::streamsize>(s.buf.size()));
        if (got < 0) {
          s.src_eof = true;
        } else {
          s.in = ZSTD_inBuffer{s.buf.data(), static_cast<std::size_t>(got), 0};
        }
      }
      // With no input left, only output that zstd still holds back is worth a call.
      if (s.in.pos == s.in.size && s.src_eof && !s.output_pending) break;
      std::size_t before = out.pos;
      std::size_t ret = ZSTD_decompressStream(s.ctx.get(), &out, &s.in);
      if (ZSTD_isError(ret)) throw std::runtime_error(ZSTD_getErrorName(ret));
      s.mid_frame = ret != 0;
      s.output_pending = out.pos == out.size;
      if (s.in.pos == s.in.size && s.src_eof && out.pos == before) s.output_pending = false;
    }
    if (out.pos > 0) return static_cast<std::streamsize>(out.pos);
    if (s.mid_frame) throw std::runtime_error("zstd frame truncated");
    return -1;
  }

 private:
  struct CtxFree {
    void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
  };
  struct State {
    std::unique_ptr<ZSTD_DCtx, CtxFree> ctx{ZSTD_createDCtx()};
    std::string buf = std::string(ZSTD_DStreamInSize(), '\0');
    ZSTD_inBuffer in{nullptr, 0, 0};
    bool src_eof = false;
    bool mid_frame = false;
    bool output_pending = false;
  };
  // Boost copies filters when they are pushed; the decoder state must not be copied.
  std::shared_ptr<State> s_;
};

}  // namespace

const char* compression_name(Compression c) {
  switch (c) {
    case Compression::None: return "plain";
    case Compression::Gzip: return "gzip";
    case Compression::Xz: return "xz";
    case Compression::Zstd: return "zstd";
  }
  return "?";
}

struct Input::Decoder {
  std::shared_ptr<FdSourceState> source;
  io::filtering_istreambuf chain;
};

double Input::fraction_read() const {
  if (size_ == 0 || fd_ < 0) return -1.0;
  const off_t at = ::lseek(fd_, 0, SEEK_CUR);
  return at < 0 ? -1.0 : std::min(1.0, static_cast<double>(at) / static_cast<double>(size_));
}

Input::Input(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw TraceError(path, 0, 0, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode)) size_ = static_cast<std::uint64_t>(st.st_size);

  // Sniff the magic; a pipe may deliver it in pieces.
  char magic[6];
  std::size_t have = 0;
  while (have < sizeof magic) {
    ssize_t got = read_fd(fd_, magic + have, sizeof magic - have);
    if (got < 0) {
      int err = errno;
      ::close(fd_);
      fd_ = -1;
      throw TraceError(path, 0, 0, std::string("cannot read: ") + std::strerror(err));
    }
    if (got == 0) break;
    have += static_cast<std::size_t>(got);
  }
  head_.assign(magic, have);

  auto starts = [&](const char* m, std::size_t len) { return have >= len && std::memcmp(magic, m, len) == 0; };
  if (starts("\x1f\x8b", 2)) {
    compression_ = Compression::Gzip;
  } else if (starts("\xfd" "7zXZ\0", 6)) {
    compression_ = Compression::Xz;
  } else if (starts("\x28\xb5\x2f\xfd", 4)) {
    compression_ = Compression::Zstd;
  } else {
    return;
  }

  decoder_ = std::make_unique<Decoder>();
  decoder_->source = std::make_shared<FdSourceState>(FdSourceState{fd_, std::move(head_), 0, 0});
  head_.clear();
  // Boost's default filter buffer is 128 bytes: one decompressor call per 128 bytes.
  constexpr std::streamsize kBuf = static_cast<std::streamsize>(kChunk);
  switch (compression_) {
    case Compression::Gzip: decoder_->chain.push(io::gzip_decompressor(), kBuf); break;
    case Compression::Xz: decoder_->chain.push(io::lzma_decompressor(), kBuf); break;
    case Compression::Zstd: decoder_->chain.push(ZstdDecompressor(), kBuf); break;
    case Compression::None: break;
  }
  decoder_->chain.push(FdSource(decoder_->source), kBuf);
}

Input::~Input() {
  decoder_.reset();  // the chain reads from fd_
  if (fd_ >= 0) ::close(fd_);
}

std::size_t Input::read_plain(char* dst, std::size_t n) {
  if (head_pos_ < head_.size()) {
    std::size_t k = std::min(n, head_.size() - head_pos_);
    std::memcpy(dst, head_.data() + head_pos_, k);
    head_pos_ += k;
    return k;
  }
  ssize_t got = read_fd(fd_, dst, n);
  if (got < 0) {
    error_ = std::string("cannot read: ") + std::strerror(errno);
    return 0;
  }
  return static_cast<std::size_t>(got);
}

std::size_t Input::read(char* dst, std::size_t n) {
  if (failed() || n == 0) return 0;
  if (!decoder_) return read_plain(dst, n);
  try {
    std::streamsize got = decoder_->chain.sgetn(dst, static_cast<std::streamsize>(std::min(n, kChunk)));
    return got > 0 ? static_cast<std::size_t>(got) : 0;
  } catch (const std::exception&) {
    if (decoder_->source->read_errno != 0) {
      error_ = std::string("cannot read: ") + std::strerror(decoder_->source->read_errno);
    } else {
      error_ = std::string("truncated or corrupt ") + compression_name(compression_) + " data";
    }
    return 0;
  }
}

}  // namespace mmusim::traces
