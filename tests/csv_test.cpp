// `--csv FILE`: one row per run, appended, the header written once; a run whose columns
// differ is refused; fields with commas or quotes are quoted (RFC 4180).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"
#include "stats/csv.hpp"

namespace {

// RFC 4180 records of `text` (quoted fields may hold commas and doubled quotes).
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string f;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') f += text[++i];
      else if (c == '"') quoted = false;
      else f += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().push_back(f), f.clear();
    } else if (c == '\n') {
      rows.back().push_back(f), f.clear();
      rows.emplace_back();
    } else {
      f += c;
    }
  }
  if (rows.back().empty()) rows.pop_back();
  return rows;
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class Csv : public cli_test::TempDirTest {};

// The dll-sharing comparison of README.md: lazy against eager copy-on-write, two rows
// of one file, read back by column name.
TEST_F(Csv, RunsAppendRowsUnderOneHeader) {
  const std::string csv = (dir_ / "runs.csv").string(), trace = std::string(MMUSIM_EXAMPLES) + "/dll-sharing.trace";
  ASSERT_EQ(mmusim("run --quiet --csv " + csv + " " + trace).status, 0);
  mmusim("run --quiet --set kernel.cow=eager --csv " + csv + " " + trace);  // its fault-count expectations fail
  const auto rows = parse_csv(read(csv));
  ASSERT_EQ(rows.size(), 3u) << "the header once, then a row per run";
  const auto col = [&](const std::string& name) {
    for (std::size_t i = 0; i < rows[0].size(); ++i)
      if (rows[0][i] == name) return i;
    ADD_FAILURE() << name << " is not a column";
    return std::size_t{0};
  };
  ASSERT_EQ(rows[1].size(), rows[0].size());
  ASSERT_EQ(rows[2].size(), rows[0].size());
  EXPECT_EQ(rows[1][col("config.kernel.cow")], "lazy");
  EXPECT_EQ(rows[2][col("config.kernel.cow")], "eager");
  EXPECT_LT(std::stol(rows[1][col("kernel.peak_frames_in_use")]), std::stol(rows[2][col("kernel.peak_frames_in_use")]))
      << "eager copy-on-write holds more frames";
  EXPECT_GT(std::stol(rows[1][col("faults.cow_copy.count")]), 0);
  col("faults.cow_copy.latency_ns.p99");
  col("cycles.total");
  col("tlb.l1d.misses");
}

TEST_F(Csv, ARunOfAnotherKindIsRefusedAndTheFileKept) {
  const std::string csv = (dir_ / "runs.csv").string();
  ASSERT_EQ(mmusim("run --quiet --csv " + csv + " " + MMUSIM_EXAMPLES + "/fork-cow.trace").status, 0);
  const std::string before = read(csv);
  const cli_test::Result r =
      mmusim("run --quiet --set cores=2 --csv " + csv + " " + MMUSIM_EXAMPLES + "/multicore-cow.trace");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find(csv + ": its columns are not this run's"), std::string::npos) << r.err;
  EXPECT_EQ(read(csv), before);
}

TEST_F(Csv, FieldsWithCommasAndQuotesAreQuoted) {
  const std::string csv = (dir_ / "q.csv").string();
  mmusim::stats::append_csv(csv, mmusim::stats::csv_row({{"trace", "a,\"b\".trace"}, {"n", 3}}));
  EXPECT_EQ(read(csv), "n,trace\n3,\"a,\"\"b\"\".trace\"\n");
  const auto rows = parse_csv(read(csv));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1][1], "a,\"b\".trace");
}

}  // namespace
