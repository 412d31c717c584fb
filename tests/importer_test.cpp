// Tests of the importers of foreign trace formats: valgrind lackey output
// (LackeyReader) and ChampSim's 64-byte binary records (ChampsimReader), plain and
// compressed, their errors, and their classification by detect_format. All inputs
// are hand-made here and written into a temporary directory at run time.

#include <gtest/gtest.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "trace_file_support.hpp"
#include "traces/champsim_reader.hpp"
#include "traces/input.hpp"
#include "traces/lackey_reader.hpp"
#include "traces/reader.hpp"
#include "traces/trace_error.hpp"

namespace mmusim::traces {

// Found by ADL, so that gtest names the compression in parameterized test output.
void PrintTo(Compression c, std::ostream* os) { *os << compression_name(c); }

namespace {


// What an importer fills in an Event: its access and its line.
struct Acc {
  Op op;
  std::uint64_t addr, size, line;
  friend bool operator==(const Acc&, const Acc&) = default;
  friend std::ostream& operator<<(std::ostream& os, const Acc& a) {
    const char* ops[] = {"r", "w", "x"};
    const auto o = static_cast<unsigned>(a.op);
    return os << (o < 3 ? ops[o] : "?") << " 0x" << std::hex << a.addr << std::dec << " " << a.size
              << " @" << a.line;
  }
};
constexpr Op R = Op::Read, W = Op::Write, X = Op::Fetch;

// ChampSim's input_instr (ChampSim/ChampSim inc/trace_instruction.h), as its tracer
// writes it: the memory image of the struct, on a little-endian host.
struct InputInstr {
  std::uint64_t ip = 0;
  std::uint8_t is_branch = 0;
  std::uint8_t branch_taken = 0;
  std::uint8_t destination_registers[2] = {};
  std::uint8_t source_registers[4] = {};
  std::uint64_t destination_memory[2] = {};
  std::uint64_t source_memory[4] = {};
};
static_assert(sizeof(InputInstr) == ChampsimReader::kRecordSize);
static_assert(offsetof(InputInstr, destination_memory) == 16);
static_assert(offsetof(InputInstr, source_memory) == 32);
static_assert(std::endian::native == std::endian::little, "records are written as memory images");

std::string bytes_of(const std::vector<InputInstr>& recs) {
  std::string s(recs.size() * sizeof(InputInstr), '\0');
  if (!recs.empty()) std::memcpy(s.data(), recs.data(), s.size());
  return s;
}

class ImporterTest : public trace_test::TraceFileTest {
 protected:
  // Every access of a file; fails the test on any error.
  template <typename ReaderT>
  std::vector<Acc> read_all(const std::string& path) {
    ReaderT r(path);
    EXPECT_EQ(r.path(), path);
    std::vector<Acc> out;
    Event ev;
    try {
      while (r.next(ev)) out.push_back({ev.op, ev.addr, ev.size, ev.line});
    } catch (const TraceError& e) {
      ADD_FAILURE() << "unexpected error: " << e.what();
    }
    return out;
  }
};

// ---------------------------------------------------------------- lackey

// The shape of real output: valgrind's banner and summary around the records,
// "I  " with two spaces, " L"/" S"/" M" with one leading space, addresses padded to
// 8 hex digits by "%08lx" and wider when they need to be.
const std::string kLackey =
    "==12345== Lackey, an example Valgrind tool\n"                                      // 1
    "==12345== Copyright (C) 2002-2017, and GNU GPL'd, by Nicholas Nethercote.\n"       // 2
    "==12345== Using Valgrind-3.18.1 and LibVEX; rerun with -h for copyright info\n"    // 3
    "==12345== Command: ./a.out\n"                                                      // 4
    "==12345== \n"                                                                      // 5
    "I  04016b0,3\n"                                                                    // 6
    "I  04016b3,5\n"                                                                    // 7
    " S 1ffefffea8,8\n"                                                                 // 8
    "\n"                                                                                // 9
    " L 1ffefffea0,8\n"                                                                 // 10
    " M 0421f00,4\n"                                                                    // 11: two events
    "I  0401e10,7\n"                                                                    // 12
    " L 1ffefff6c0,32\n"                                                                // 13: AVX
    " S 1ffefff400,512\n"                                                               // 14: FXSAVE
    " M 1ffefff000,1\r\n"                                                               // 15: CRLF
    "--12345-- WARNING: unhandled amd64-linux syscall: 334\n"                           // 16
    "I  FFFFFFFFFF600000,4\n"                                                           // 17: upper case, 16 digits
    "==12345== \n"                                                                      // 18
    "==12345== Counted 1 call to main()\n"                                              // 19
    " L 0000000000000008,18446744073709551615\n";                                       // 20: max size

const std::vector<Acc> kLackeyEvents = {
    {X, 0x4016b0, 3, 6},          {X, 0x4016b3, 5, 7},        {W, 0x1ffefffea8, 8, 8},
    {R, 0x1ffefffea0, 8, 10},     {R, 0x421f00, 4, 11},       {W, 0x421f00, 4, 11},
    {X, 0x401e10, 7, 12},         {R, 0x1ffefff6c0, 32, 13},  {W, 0x1ffefff400, 512, 14},
    {R, 0x1ffefff000, 1, 15},     {W, 0x1ffefff000, 1, 15},   {X, 0xffffffffff600000, 4, 17},
    {R, 0x8, UINT64_MAX, 20},
};

TEST_F(ImporterTest, LackeyRecordsBecomeExactEvents) {
  EXPECT_EQ(read_all<LackeyReader>(write("t.lackey", kLackey)), kLackeyEvents);
}

TEST_F(ImporterTest, LackeyLineTracksEventsAndOptionsAreReset) {
  LackeyReader r(write("t.lackey", kLackey));
  EXPECT_EQ(r.line(), 0u);
  Event ev;
  ev.has_value = true;  // left over from an earlier use of the Event
  ev.rmw = true;
  ev.name = "stale";
  std::size_t n = 0;
  while (r.next(ev)) {
    EXPECT_EQ(r.line(), ev.line);
    EXPECT_FALSE(ev.has_value);
    EXPECT_FALSE(ev.rmw);  // M is a load and a store, not a locked access
    EXPECT_TRUE(ev.name.empty());
    ++n;
  }
  EXPECT_EQ(n, kLackeyEvents.size());
  EXPECT_FALSE(r.next(ev));  // stays at the end
}

TEST_F(ImporterTest, LackeyLastLineWithoutNewline) {
  EXPECT_EQ(read_all<LackeyReader>(write("t.lackey", "I  0400000,2\n M 0600010,8")),
            (std::vector<Acc>{{X, 0x400000, 2, 1}, {R, 0x600010, 8, 2}, {W, 0x600010, 8, 2}}));
}

TEST_F(ImporterTest, LackeyLeadingZerosDoNotCountTowardsTheAddressWidth) {
  EXPECT_EQ(read_all<LackeyReader>(write("t.lackey", "I  0000000000000000000400,1\n L 00fedcba9876543210,0016\n")),
            (std::vector<Acc>{{X, 0x400, 1, 1}, {R, 0xfedcba9876543210, 16, 2}}));
}

TEST_F(ImporterTest, LackeyEmptyAndBannerOnlyFilesHaveNoEvents) {
  EXPECT_TRUE(read_all<LackeyReader>(write("empty.lackey", "")).empty());
  EXPECT_TRUE(read_all<LackeyReader>(write("banner.lackey", "==1== Lackey\n==1==\n\n   \n")).empty());
}

struct LackeyBadLine {
  std::string line;
  std::uint64_t column;
  std::string message;  // a part of the message
};

void PrintTo(const LackeyBadLine& b, std::ostream* os) { *os << '"' << b.line << '"'; }

class ImporterLackeyErrorTest : public ImporterTest, public ::testing::WithParamInterface<LackeyBadLine> {};

// Every malformed line is reported at its line and column, quoting the token, and
// is skipped: the records around it still read.
TEST_P(ImporterLackeyErrorTest, ErrorNamesLineColumnAndTokenThenReadingGoesOn) {
  const LackeyBadLine& bad = GetParam();
  const std::string path = write("bad.lackey", "==7== Lackey\nI  0400000,4\n" + bad.line + "\n L 0601000,8\n");
  LackeyReader r(path);
  Event ev;
  ASSERT_TRUE(r.next(ev));
  EXPECT_EQ(ev.line, 2u);
  try {
    r.next(ev);
    FAIL() << "no error for '" << bad.line << "'";
  } catch (const TraceError& e) {
    EXPECT_EQ(e.file, path);
    EXPECT_EQ(e.line, 3u) << e.what();
    EXPECT_EQ(e.column, bad.column) << e.what();
    EXPECT_NE(e.message.find(bad.message), std::string::npos) << e.what();
    EXPECT_TRUE(e.recoverable) << e.what();
  }
  ASSERT_TRUE(r.next(ev));
  EXPECT_EQ((Acc{ev.op, ev.addr, ev.size, ev.line}), (Acc{R, 0x601000, 8, 4}));
  EXPECT_FALSE(r.next(ev));
}

INSTANTIATE_TEST_SUITE_P(
    Lines, ImporterLackeyErrorTest,
    ::testing::Values(
        LackeyBadLine{"X  0400,4", 1, "unexpected 'X' (expected \"I  ADDR,SIZE\""},
        LackeyBadLine{"IL 0400,4", 1, "unexpected 'IL'"},
        LackeyBadLine{"hello from the program", 1, "unexpected 'hello'"},
        LackeyBadLine{"  SB 04016b0", 3, "unexpected 'SB'"},
        LackeyBadLine{"I", 1, "unexpected 'I'"},
        LackeyBadLine{" L   ", 6, "missing ADDR,SIZE after 'L'"},
        LackeyBadLine{"I  0x400,4", 4, "bad address '0x400' (expected hexadecimal digits without 0x"},
        LackeyBadLine{" S ,8", 4, "bad address ''"},
        LackeyBadLine{" S 04zz,8", 4, "bad address '04zz'"},
        LackeyBadLine{"I  0400", 8, "missing ,SIZE after the address"},
        LackeyBadLine{"I  0400 ,4", 8, "missing ,SIZE after the address"},
        LackeyBadLine{"I  10000000000000000,4", 4, "address '10000000000000000' does not fit in 64 bits"},
        LackeyBadLine{" L 0400,abc", 9, "bad size 'abc' (expected a decimal byte count)"},
        LackeyBadLine{" L 0400,", 9, "bad size ''"},
        LackeyBadLine{" L 0400,4x", 9, "bad size '4x'"},
        LackeyBadLine{" L 0400,0x8", 9, "bad size '0x8'"},
        LackeyBadLine{" L 0400,18446744073709551616", 9, "size '18446744073709551616' does not fit in 64 bits"},
        LackeyBadLine{" S 0400,0", 9, "size '0' (expected at least 1 byte)"},
        LackeyBadLine{" S 0400,000", 9, "size '000' (expected at least 1 byte)"},
        LackeyBadLine{" M 0400,4 junk", 11, "unexpected 'junk' after the record (expected the end of the line)"},
        LackeyBadLine{"=12= not a banner", 1, "unexpected '=12='"},
        LackeyBadLine{"==pid== not a banner", 1, "unexpected '==pid=='"}),
    [](const auto& info) { return std::to_string(info.index); });

TEST_F(ImporterTest, LackeyErrorTextIsOneCompilerStyleLine) {
  const std::string path = write("bad.lackey", "I  0400,4\n L 0400,abc\n");
  LackeyReader r(path);
  Event ev;
  ASSERT_TRUE(r.next(ev));
  try {
    r.next(ev);
    FAIL();
  } catch (const TraceError& e) {
    EXPECT_STREQ(e.what(), (path + ":2:9: error: bad size 'abc' (expected a decimal byte count)").c_str());
  }
}

TEST_F(ImporterTest, LackeyRunawayTokenIsCutShortInTheMessage) {
  LackeyReader r(write("bad.lackey", std::string(500, 'Z') + "\n"));
  Event ev;
  try {
    r.next(ev);
    FAIL();
  } catch (const TraceError& e) {
    EXPECT_LT(e.message.size(), 200u) << e.message;
    EXPECT_NE(e.message.find("ZZZ...'"), std::string::npos) << e.message;
  }
}

// Several bad lines in a row, each reported and skipped, and an M line's store
// half is not lost to an error on the next line.
TEST_F(ImporterTest, LackeyKeepsGoingAcrossSeveralErrors) {
  const std::string path = write("bad.lackey", " M 0500,2\nbad\n\nworse\n S 0600,1\n");
  LackeyReader r(path);
  std::vector<Acc> events;
  std::vector<std::uint64_t> error_lines;
  Event ev;
  for (;;) {
    try {
      if (!r.next(ev)) break;
      events.push_back({ev.op, ev.addr, ev.size, ev.line});
    } catch (const TraceError& e) {
      ASSERT_TRUE(e.recoverable);
      error_lines.push_back(e.line);
    }
  }
  EXPECT_EQ(events, (std::vector<Acc>{{R, 0x500, 2, 1}, {W, 0x500, 2, 1}, {W, 0x600, 1, 5}}));
  EXPECT_EQ(error_lines, (std::vector<std::uint64_t>{2, 4}));
}

class ImporterLackeyCompressedTest : public ImporterTest, public ::testing::WithParamInterface<Compression> {};

TEST_P(ImporterLackeyCompressedTest, ReadsTheSameAsPlain) {
  const std::string path = compress("t.lackey.z", kLackey, GetParam());
  EXPECT_EQ(read_all<LackeyReader>(path), kLackeyEvents);
  EXPECT_EQ(detect_format(path), Format::Lackey);
}

INSTANTIATE_TEST_SUITE_P(Compressions, ImporterLackeyCompressedTest,
                         ::testing::Values(Compression::Gzip, Compression::Xz, Compression::Zstd),
                         [](const auto& info) { return std::string(compression_name(info.param)); });

TEST_F(ImporterTest, LackeyCorruptCompressedDataIsFatalAfterTheGoodLines) {
  std::string many;
  for (int i = 0; i < 200000; ++i) many += " L " + std::to_string(0x10000000 + i * 8) + ",8\n";
  std::string gz;
  {
    const std::string full = compress("full.gz", many, Compression::Gzip);
    std::ifstream in(full, std::ios::binary);
    gz.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string path = write("cut.lackey.gz", gz.substr(0, gz.size() / 2));
  LackeyReader r(path);
  Event ev;
  std::uint64_t n = 0, last = 0;
  try {
    while (r.next(ev)) {
      ++n;
      last = ev.line;
    }
    FAIL() << "a cut gzip stream read to a clean end";
  } catch (const TraceError& e) {
    EXPECT_FALSE(e.recoverable);
    EXPECT_EQ(e.line, last) << e.what();
    EXPECT_NE(e.message.find("gzip"), std::string::npos) << e.what();
  }
  EXPECT_GT(n, 0u);
  EXPECT_LT(n, 200000u);
  EXPECT_THROW(r.next(ev), TraceError);  // stays failed
}

// ---------------------------------------------------------------- ChampSim

std::vector<InputInstr> champsim_records() {
  std::vector<InputInstr> recs(4);
  recs[0].ip = 0x401000;  // no memory operand
  recs[0].source_registers[0] = 6;

  recs[1].ip = 0x401004;  // a hole in each operand list
  recs[1].source_memory[0] = 0x7ffd0010;
  recs[1].source_memory[2] = 0x601000;
  recs[1].destination_memory[1] = 0x602008;

  recs[2].ip = 0xffffffff81000000;  // every operand, branch and register fields set
  recs[2].is_branch = 1;
  recs[2].branch_taken = 1;
  recs[2].destination_registers[0] = 26;
  recs[2].destination_registers[1] = 25;
  for (int i = 0; i < 4; ++i) recs[2].source_registers[i] = static_cast<std::uint8_t>(i + 1);
  recs[2].source_memory[0] = 0x1000;
  recs[2].source_memory[1] = 0x2000;
  recs[2].source_memory[2] = 0x3000;
  recs[2].source_memory[3] = 0x0123456789abcdef;
  recs[2].destination_memory[0] = 0x4000;
  recs[2].destination_memory[1] = 0xfedcba9876543210;

  recs[3].ip = 0x401010;  // a store only
  recs[3].destination_memory[0] = 0x7ffd0008;
  return recs;
}

const std::vector<Acc> kChampsimEvents = {
    {X, 0x401000, 1, 1},
    {X, 0x401004, 1, 2}, {R, 0x7ffd0010, 8, 2}, {R, 0x601000, 8, 2}, {W, 0x602008, 8, 2},
    {X, 0xffffffff81000000, 1, 3}, {R, 0x1000, 8, 3}, {R, 0x2000, 8, 3}, {R, 0x3000, 8, 3},
    {R, 0x0123456789abcdef, 8, 3}, {W, 0x4000, 8, 3}, {W, 0xfedcba9876543210, 8, 3},
    {X, 0x401010, 1, 4}, {W, 0x7ffd0008, 8, 4},
};

TEST_F(ImporterTest, ChampsimRecordsBecomeExactEvents) {
  EXPECT_EQ(read_all<ChampsimReader>(write("t.champsimtrace", bytes_of(champsim_records()))), kChampsimEvents);
}

TEST_F(ImporterTest, ChampsimRecordCountTracksEventsAndOptionsAreReset) {
  ChampsimReader r(write("t.champsimtrace", bytes_of(champsim_records())));
  EXPECT_EQ(r.record(), 0u);
  Event ev;
  ev.has_value = true;
  ev.supervisor = true;
  std::size_t n = 0;
  while (r.next(ev)) {
    EXPECT_EQ(r.record(), ev.line);
    EXPECT_FALSE(ev.has_value);
    EXPECT_FALSE(ev.supervisor);
    ++n;
  }
  EXPECT_EQ(n, kChampsimEvents.size());
  EXPECT_EQ(r.record(), 4u);
  EXPECT_FALSE(r.next(ev));
}

TEST_F(ImporterTest, ChampsimEmptyFileHasNoEvents) {
  EXPECT_TRUE(read_all<ChampsimReader>(write("empty.champsimtrace", "")).empty());
}

// More records than one read block (16384), so that records straddle refills.
TEST_F(ImporterTest, ChampsimManyRecordsAcrossBlocks) {
  std::vector<InputInstr> recs(40000);
  for (std::size_t i = 0; i < recs.size(); ++i) {
    recs[i].ip = 0x400000 + 4 * i;
    if (i % 3 == 0) recs[i].source_memory[1] = 0x10000000 + 8 * i;
  }
  const std::string plain = bytes_of(recs);
  for (const std::string& path : {write("many.champsimtrace", plain), compress("many.xz", plain, Compression::Xz)}) {
    const std::vector<Acc> evs = read_all<ChampsimReader>(path);
    ASSERT_EQ(evs.size(), recs.size() + (recs.size() + 2) / 3) << path;
    std::size_t k = 0;
    for (std::size_t i = 0; i < recs.size(); ++i) {
      ASSERT_EQ(evs[k++], (Acc{X, 0x400000 + 4 * i, 1, i + 1})) << path;
      if (i % 3 == 0) {
        ASSERT_EQ(evs[k++], (Acc{R, 0x10000000 + 8 * i, 8, i + 1})) << path;
      }
    }
  }
}

TEST_F(ImporterTest, ChampsimTruncatedRecordNamesItsByteOffset) {
  const std::string path = write("cut.champsimtrace", bytes_of(champsim_records()).substr(0, 2 * 64 + 10));
  ChampsimReader r(path);
  std::vector<Acc> events;
  Event ev;
  try {
    while (r.next(ev)) events.push_back({ev.op, ev.addr, ev.size, ev.line});
    FAIL() << "no error for a partial record";
  } catch (const TraceError& e) {
    EXPECT_EQ(e.file, path);
    EXPECT_EQ(e.line, 3u) << e.what();
    EXPECT_NE(e.message.find("truncated record at byte 128"), std::string::npos) << e.what();
    EXPECT_NE(e.message.find("10 of 64 bytes"), std::string::npos) << e.what();
    EXPECT_FALSE(e.recoverable);
  }
  // Both whole records were delivered first.
  EXPECT_EQ(events, std::vector<Acc>(kChampsimEvents.begin(), kChampsimEvents.begin() + 5));
  // Not recoverable: the same error again.
  try {
    r.next(ev);
    FAIL();
  } catch (const TraceError& e) {
    EXPECT_NE(e.message.find("truncated record at byte 128"), std::string::npos) << e.what();
  }
}

TEST_F(ImporterTest, ChampsimFileShorterThanOneRecord) {
  ChampsimReader r(write("short.champsimtrace", std::string(63, '\x01')));
  Event ev;
  try {
    r.next(ev);
    FAIL();
  } catch (const TraceError& e) {
    EXPECT_EQ(e.line, 1u) << e.what();
    EXPECT_NE(e.message.find("truncated record at byte 0 "), std::string::npos) << e.what();
  }
}

class ImporterChampsimCompressedTest : public ImporterTest, public ::testing::WithParamInterface<Compression> {};

TEST_P(ImporterChampsimCompressedTest, ReadsTheSameAsPlain) {
  const std::string path = compress("t.champsimtrace.z", bytes_of(champsim_records()), GetParam());
  EXPECT_EQ(read_all<ChampsimReader>(path), kChampsimEvents);
  EXPECT_EQ(detect_format(path), Format::Champsim);
}

TEST_P(ImporterChampsimCompressedTest, TruncatedRecordInsideCompressedData) {
  const std::string path =
      compress("cut.champsimtrace.z", bytes_of(champsim_records()).substr(0, 3 * 64 + 1), GetParam());
  ChampsimReader r(path);
  Event ev;
  std::size_t n = 0;
  try {
    while (r.next(ev)) ++n;
    FAIL();
  } catch (const TraceError& e) {
    EXPECT_EQ(e.line, 4u) << e.what();
    EXPECT_NE(e.message.find("truncated record at byte 192"), std::string::npos) << e.what();
  }
  EXPECT_EQ(n, 12u);
}

INSTANTIATE_TEST_SUITE_P(Compressions, ImporterChampsimCompressedTest,
                         ::testing::Values(Compression::Xz, Compression::Gzip, Compression::Zstd),
                         [](const auto& info) { return std::string(compression_name(info.param)); });

TEST_F(ImporterTest, ChampsimCorruptXzIsFatalNotATruncatedRecord) {
  std::vector<InputInstr> recs(50000);
  for (std::size_t i = 0; i < recs.size(); ++i) {
    recs[i].ip = 0x400000 + 4 * i;
    recs[i].source_memory[0] = 0x7f0000000000 + 64 * (i * 2654435761u % 100000);
  }
  std::string xz;
  {
    const std::string full = compress("full.xz", bytes_of(recs), Compression::Xz);
    std::ifstream in(full, std::ios::binary);
    xz.assign(std::istreambuf_iterator<char>(in), {});
  }
  ChampsimReader r(write("cut.xz", xz.substr(0, xz.size() / 2)));
  Event ev;
  std::uint64_t last = 0;
  try {
    while (r.next(ev)) last = ev.line;
    FAIL();
  } catch (const TraceError& e) {
    EXPECT_FALSE(e.recoverable);
    EXPECT_EQ(e.line, last) << e.what();
    EXPECT_NE(e.message.find("xz"), std::string::npos) << e.what();
    EXPECT_EQ(e.message.find("truncated record"), std::string::npos) << e.what();
  }
  EXPECT_GT(last, 0u);
  EXPECT_LT(last, recs.size());
}

// ---------------------------------------------------------------- detection

TEST_F(ImporterTest, DetectFormatClassifiesTheSamples) {
  EXPECT_EQ(detect_format(write("a.lackey", kLackey)), Format::Lackey);
  // Without valgrind's banner (say, filtered through grep -v '^=='), the records alone.
  EXPECT_EQ(detect_format(write("b.lackey", "I  04016b0,3\n S 1ffefffea8,8\n M 0421f00,4\n")), Format::Lackey);
  EXPECT_EQ(detect_format(write("c.lackey", " L 1ffefffea0,8\n")), Format::Lackey);
  EXPECT_EQ(detect_format(write("t.champsimtrace", bytes_of(champsim_records()))), Format::Champsim);
  // A single record is enough.
  EXPECT_EQ(detect_format(write("one.champsimtrace", bytes_of({champsim_records()[1]}))), Format::Champsim);
  // And the text format is not mistaken for either.
  EXPECT_EQ(detect_format(write("t.trace", "r 0x1000\nx 0x400000 4\n")), Format::Text);
}

}  // namespace
}  // namespace mmusim::traces
