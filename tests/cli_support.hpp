// Running the mmusim binary from a test, as a user would: a temporary directory
// per test for traces and outputs, and the exit status, stdout and stderr apart.
#pragma once

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace cli_test {

namespace fs = std::filesystem;

struct Result {
  int status;
  std::string out;     // stdout
  std::string err;     // stderr
  std::string output;  // stdout then stderr, for searching either

  // The lines of stderr that contain `what`.
  std::vector<std::string> err_lines(const std::string& what) const {
    std::vector<std::string> lines;
    std::istringstream in(err);
    for (std::string l; std::getline(in, l);)
      if (l.find(what) != std::string::npos) lines.push_back(l);
    return lines;
  }
  std::string all() const { return "stdout:\n" + out + "stderr:\n" + err; }
};

// A fixture with its own temporary directory.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mmusim_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }

  // Runs `mmusim ARGS`.
  Result mmusim(const std::string& args) { return run(MMUSIM_BINARY, args); }

  // Runs `PROGRAM ARGS` through the shell.
  Result run(const std::string& program, const std::string& args) {
    const fs::path err = dir_ / "stderr.txt";
    const std::string cmd = program + " " + args + " 2>" + err.string();
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    std::array<char, 4096> buf{};
    while (p && fgets(buf.data(), buf.size(), p)) out += buf.data();
    const int raw = p ? pclose(p) : -1;
    std::ifstream e(err);
    std::string errs((std::istreambuf_iterator<char>(e)), {});
    return {WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw), out, errs, out + errs};
  }

  fs::path dir_;
};

}  // namespace cli_test
