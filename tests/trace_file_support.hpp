// Test support for trace readers: a temporary directory per test, and trace files
// written into it plain or compressed (through traces::Output, as `mmusim convert`
// writes them).
#pragma once

#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "traces/input.hpp"
#include "traces/output.hpp"

namespace trace_test {

class TraceFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mmusim_trace_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& bytes) {
    const std::string path = (std::filesystem::path(dir_) / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  std::string compress(const std::string& name, const std::string& bytes, mmusim::traces::Compression c) {
    const std::string path = (std::filesystem::path(dir_) / name).string();
    mmusim::traces::Output out(path, c);
    out.stream().write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    EXPECT_EQ(mmusim::traces::Input(path).compression(), c) << path;
    return path;
  }

  std::string dir_;
};

}  // namespace trace_test
