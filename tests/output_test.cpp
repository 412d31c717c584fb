// Tests of traces::Output: every compression reads back byte for byte through
// traces::Input (which detects it by magic), writing streams in bounded memory, and
// failures (unwritable path, full disk) are reported by name, by close() only.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "traces/input.hpp"
#include "traces/output.hpp"
#include "traces/trace_error.hpp"

namespace mmusim::traces {

void PrintTo(Compression c, std::ostream* os) { *os << compression_name(c); }

namespace {

namespace fs = std::filesystem;

class OutputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mmusim_output_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (fs::path(dir_) / name).string(); }

  static std::string read_back(const std::string& p, Compression expect) {
    Input in(p);
    EXPECT_EQ(in.compression(), expect);
    std::string all;
    char buf[65536];
    for (std::size_t got; (got = in.read(buf, sizeof buf)) > 0;) all.append(buf, got);
    EXPECT_FALSE(in.failed()) << in.error();
    return all;
  }

  std::string dir_;
};

const char* ext(Compression c) {
  switch (c) {
    case Compression::Gzip: return ".gz";
    case Compression::Xz: return ".xz";
    case Compression::Zstd: return ".zst";
    case Compression::None: break;
  }
  return "";
}

// Trace-like text with some variety, so that it compresses as a real trace would.
std::string sample_text(std::size_t lines, std::uint64_t seed) {
  std::string s = "mmutrace 1\nspawn 1 \"x\" automap\n";
  std::uint64_t x = seed;
  for (std::size_t i = 0; i < lines; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    s += (x >> 63) ? "w 0x" : "r 0x";
    char hex[32];
    std::snprintf(hex, sizeof hex, "%llx\n", static_cast<unsigned long long>(0x7f0000000000ull + ((x >> 20) & 0xffffff8)));
    s += hex;
  }
  return s;
}

class OutputRoundTrip : public OutputTest, public ::testing::WithParamInterface<Compression> {};

TEST_P(OutputRoundTrip, ReadsBackIdentical) {
  const Compression c = GetParam();
  std::string data = sample_text(20000, 7);
  data += std::string("\0binary\xff\x00tail", 13);  // any byte, NUL included
  const std::string p = path(std::string("t.trace") + ext(c));
  {
    Output out(p, c);
    EXPECT_EQ(out.compression(), c);
    EXPECT_EQ(out.path(), p);
    // In pieces of many sizes, as a writer would.
    std::size_t pos = 0, piece = 1;
    while (pos < data.size()) {
      const std::size_t n = std::min(piece, data.size() - pos);
      out.stream().write(data.data() + pos, static_cast<std::streamsize>(n));
      pos += n;
      piece = piece * 3 % 70001 + 1;
      if (piece % 5 == 0) out.stream().flush();  // flushes in the middle change nothing
    }
    out.stream() << std::flush;
    out.close();
    EXPECT_EQ(out.bytes_written(), fs::file_size(p));
    out.close();  // a second close does nothing
  }
  EXPECT_EQ(read_back(p, c), data);
}

TEST_P(OutputRoundTrip, EmptyFileIsAValidStream) {
  const Compression c = GetParam();
  const std::string p = path(std::string("empty") + ext(c));
  Output out(p, c);
  out.close();
  EXPECT_EQ(read_back(p, c), "");
  if (c == Compression::None) EXPECT_EQ(fs::file_size(p), 0u);
  else EXPECT_GT(fs::file_size(p), 0u);
}

// Like an ofstream, the destructor finishes the file: an Output abandoned when an
// exception unwinds still leaves a complete compressed stream of what was written.
TEST_P(OutputRoundTrip, DestructorFinishesTheStream) {
  const Compression c = GetParam();
  const std::string p = path(std::string("dtor") + ext(c));
  const std::string data = sample_text(5000, 3);
  EXPECT_NO_THROW({
    Output out(p, c);
    out.stream() << data;
  });
  EXPECT_EQ(read_back(p, c), data);
}

// Written and read back 50 MB at a time in 1 MiB pieces: resident memory after the
// first 10 MB (when every buffer and the compressor's window are in use) stays flat.
TEST_P(OutputRoundTrip, LargeWriteStreams) {
  const Compression c = GetParam();
  const std::string p = path(std::string("large") + ext(c));
  const std::string piece = sample_text(70000, 11).substr(0, 1 << 20);
  constexpr int kPieces = 50;
  auto rss_kib = [] {
    std::ifstream s("/proc/self/status");
    for (std::string line; std::getline(s, line);)
      if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return 0L;
  };
  long rss_warm = 0, rss_max = 0;
  {
    Output out(p, c);
    for (int i = 0; i < kPieces; ++i) {
      out.stream().write(piece.data(), static_cast<std::streamsize>(piece.size()));
      // Vary the content a little so the compressors keep working.
      out.stream() << "mark \"" << i << "\"\n";
      if (i == 10) rss_warm = rss_kib();
      if (i == 25) {
        EXPECT_GT(out.bytes_written(), 0u) << "compressed data reaches the file as it is written";
      }
      if (i > 10) rss_max = std::max(rss_max, rss_kib());
    }
    out.close();
    EXPECT_GT(out.bytes_written(), 0u);
  }
  EXPECT_LT(rss_max - rss_warm, 8 * 1024) << "resident memory grew with the amount written (KiB: " << rss_warm
                                           << " -> " << rss_max << ")";

  // Read back without holding it all: compare piece by piece.
  Input in(p);
  std::string expect, got;
  std::uint64_t total = 0;
  char buf[65536];
  for (int i = 0; i < kPieces; ++i) {
    expect = piece + "mark \"" + std::to_string(i) + "\"\n";
    got.clear();
    while (got.size() < expect.size()) {
      const std::size_t n = in.read(buf, std::min(sizeof buf, expect.size() - got.size()));
      ASSERT_GT(n, 0u) << "ended early in piece " << i;
      got.append(buf, n);
    }
    ASSERT_EQ(got, expect) << "piece " << i;
    total += got.size();
  }
  EXPECT_EQ(in.read(buf, sizeof buf), 0u);
  EXPECT_FALSE(in.failed()) << in.error();
  EXPECT_GE(total, 50u << 20);
}

INSTANTIATE_TEST_SUITE_P(Compressions, OutputRoundTrip,
                         ::testing::Values(Compression::None, Compression::Gzip, Compression::Xz, Compression::Zstd),
                         [](const auto& info) { return std::string(compression_name(info.param)); });

TEST_F(OutputTest, Levels) {
  const std::string data = sample_text(20000, 4);
  struct Case {
    Compression c;
    int level;
  };
  for (Case k : {Case{Compression::Gzip, 1}, Case{Compression::Gzip, 9}, Case{Compression::Xz, 0},
                 Case{Compression::Xz, 9}, Case{Compression::Zstd, 1}, Case{Compression::Zstd, 19},
                 Case{Compression::None, 5}}) {
    SCOPED_TRACE(std::string(compression_name(k.c)) + " " + std::to_string(k.level));
    const std::string p = path("lvl");
    Output out(p, k.c, k.level);
    out.stream() << data;
    out.close();
    EXPECT_EQ(read_back(p, k.c), data);
  }
  for (Case k : {Case{Compression::Gzip, 0}, Case{Compression::Gzip, 10}, Case{Compression::Xz, 10},
                 Case{Compression::Zstd, 0}, Case{Compression::Zstd, 20}, Case{Compression::Xz, -2}}) {
    try {
      Output out(path("bad"), k.c, k.level);
      ADD_FAILURE() << "level " << k.level << " accepted for " << compression_name(k.c);
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("compression level " + std::to_string(k.level)), std::string::npos)
          << e.what();
    }
  }
  EXPECT_FALSE(fs::exists(path("bad"))) << "refused before the file is created";
}

TEST(OutputCompressionFor, ByLastExtension) {
  EXPECT_EQ(Output::compression_for("a.trace.gz"), Compression::Gzip);
  EXPECT_EQ(Output::compression_for("a.trace.xz"), Compression::Xz);
  EXPECT_EQ(Output::compression_for("dir.gz/a.zst"), Compression::Zstd);
  EXPECT_EQ(Output::compression_for("a.trace"), Compression::None);
  EXPECT_EQ(Output::compression_for("a.gz.trace"), Compression::None);
  EXPECT_EQ(Output::compression_for("gz"), Compression::None);
  EXPECT_EQ(Output::compression_for(""), Compression::None);
}

TEST_F(OutputTest, UnwritablePathThrowsNamingIt) {
  for (Compression c : {Compression::None, Compression::Gzip, Compression::Xz, Compression::Zstd}) {
    const std::string p = path("no/such/dir/t.trace") + ext(c);
    try {
      Output out(p, c);
      FAIL() << "opened " << p;
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()), p + ": error: cannot write: No such file or directory");
    }
  }
  // A directory is no file either.
  try {
    Output out(dir_, Compression::None);
    FAIL() << "opened a directory";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), dir_ + ": error: cannot write: Is a directory");
  }
}

// /dev/full: every write fails with ENOSPC, as on a full disk. The failure is
// reported by close(), with the path and the reason; the stream only sets badbit.
TEST_F(OutputTest, DiskFullIsReportedByClose) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  const std::string data = sample_text(100000, 5);
  for (Compression c : {Compression::None, Compression::Gzip, Compression::Xz, Compression::Zstd}) {
    SCOPED_TRACE(compression_name(c));
    Output out("/dev/full", c);
    EXPECT_NO_THROW(out.stream() << data);
    try {
      out.close();
      FAIL() << "close() did not report the full disk";
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()), "/dev/full: error: cannot write: No space left on device");
    }
    EXPECT_NO_THROW(out.close()) << "a second close does nothing";
  }
  // Even a few bytes, held in the buffers until close(), are reported.
  Output small("/dev/full", Compression::None);
  small.stream() << "r 0x1000\n";
  EXPECT_THROW(small.close(), std::runtime_error);
}

TEST_F(OutputTest, DestructorWithoutCloseDoesNotThrow) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  const std::string data = sample_text(100000, 9);
  for (Compression c : {Compression::None, Compression::Gzip, Compression::Xz, Compression::Zstd}) {
    EXPECT_NO_THROW({
      Output out("/dev/full", c);
      out.stream() << data;
    }) << compression_name(c);
  }
}

TEST_F(OutputTest, TruncatesAnExistingFile) {
  const std::string p = path("t.trace");
  std::ofstream(p) << std::string(10000, 'x');
  Output out(p, Compression::None);
  out.stream() << "r 0x1000\n";
  out.close();
  EXPECT_EQ(read_back(p, Compression::None), "r 0x1000\n");
}

}  // namespace
}  // namespace mmusim::traces
