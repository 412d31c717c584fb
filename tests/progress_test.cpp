// The progress line of `mmusim run`: on a terminal only (util-linux `script` gives the
// run one), after the delay (shortened here with MMUSIM_PROGRESS_DELAY_MS), with the
// percentage of a file of known size, cleared at the end; never with --quiet or when
// stderr is a file.
#include <gtest/gtest.h>

#include <string>

#include "cli_support.hpp"

namespace {

class Progress : public cli_test::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    trace_ = (dir_ / "u.mmut").string();
    ASSERT_EQ(mmusim("gen uniform --accesses 400000 --footprint 1M -o " + trace_).status, 0);
  }
  // Runs `mmusim run ARGS TRACE` on a pseudo-terminal; returns what the terminal showed.
  cli_test::Result on_terminal(const std::string& args) {
    return run("MMUSIM_PROGRESS_DELAY_MS=0 script", "-qec '" + std::string(MMUSIM_BINARY) + " run " + args + " " +
                                                        trace_ + " > /dev/null' /dev/null");
  }
  std::string trace_;
};

TEST_F(Progress, ALineOnATerminalWithRateAndPercentThenCleared) {
  const cli_test::Result r = on_terminal("");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.out.find("M events/s, "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("% of " + trace_), std::string::npos) << r.out;
  EXPECT_NE(r.out.rfind("\r\x1b[K"), std::string::npos) << "the line is erased at the end";
}

TEST_F(Progress, NoneWithQuiet) {
  const cli_test::Result r = on_terminal("--quiet");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.out.find("events/s"), std::string::npos) << r.out;
}

TEST_F(Progress, NoneWhenStderrIsAFile) {
  const cli_test::Result r = run("MMUSIM_PROGRESS_DELAY_MS=0 " + std::string(MMUSIM_BINARY), "run " + trace_);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.err.find("events/s"), std::string::npos) << r.err;
}

}  // namespace
