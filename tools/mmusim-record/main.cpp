// mmusim-record: runs a program under valgrind's lackey tool and writes what it
// accessed as an mmusim trace, while it runs.
//
//   mmusim-record -o OUT [--to text|binary] -- PROGRAM [ARGS...]
//
// Lackey (valgrind --tool=lackey --trace-mem=yes) prints one line per instruction
// fetch, load, store and modify. It writes them to a pipe (--log-fd), which the
// LackeyReader reads as the program runs, so the text never lands on disk: memory
// use stays bounded however long the program runs. The trace is binary unless OUT
// names a .trace file, compressed by OUT's extension (.gz, .xz, .zst), and runs as one
// process with automap (`mmusim run OUT`).
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "../mmusim/convert.hpp"
#include "traces/trace_error.hpp"

namespace {

constexpr const char* kUsage = "usage: mmusim-record -o OUT [--to text|binary] -- PROGRAM [ARGS...]\n";

}  // namespace

int main(int argc, char** argv) {
  std::string out;
  std::string to = "auto";
  int i = 1;
  for (; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if ((a == "-o" || a == "--output") && i + 1 < argc) out = argv[++i];
    else if (a == "--to" && i + 1 < argc) to = argv[++i];
    else if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else {
      std::cerr << "mmusim-record: error: unexpected argument '" << a << "'\n" << kUsage;
      return 2;
    }
  }
  if (out.empty() || i >= argc) {
    std::cerr << "mmusim-record: error: " << (out.empty() ? "missing -o OUT" : "missing the program to run")
              << '\n' << kUsage;
    return 2;
  }

  int fds[2];
  if (pipe(fds) != 0) {
    std::cerr << "mmusim-record: error: pipe: " << std::strerror(errno) << '\n';
    return 2;
  }
  const pid_t child = fork();
  if (child < 0) {
    std::cerr << "mmusim-record: error: fork: " << std::strerror(errno) << '\n';
    return 2;
  }
  if (child == 0) {
    close(fds[0]);
    std::vector<std::string> args = {"valgrind", "--tool=lackey", "--trace-mem=yes",
                                     "--log-fd=" + std::to_string(fds[1])};
    for (int k = i; k < argc; ++k) args.emplace_back(argv[k]);
    std::vector<char*> cargs;
    for (auto& s : args) cargs.push_back(s.data());
    cargs.push_back(nullptr);
    execvp("valgrind", cargs.data());
    std::cerr << "mmusim-record: error: cannot run valgrind: " << std::strerror(errno) << '\n';
    _exit(127);
  }
  close(fds[1]);

  int status = 0;
  try {
    const auto r = mmusim::cli::convert("/dev/fd/" + std::to_string(fds[0]), mmusim::traces::Format::Lackey, out,
                                        mmusim::cli::parse_encoding(to));
    close(fds[0]);
    waitpid(child, &status, 0);
    std::cerr << fmt::format("mmusim-record: {} events from {} into {} ({} bytes)\n", r.events, argv[i], out,
                             r.bytes_out);
  } catch (const std::exception& e) {
    close(fds[0]);
    waitpid(child, &status, 0);
    std::cerr << "mmusim-record: " << e.what() << '\n';
    return 2;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
    std::cerr << "mmusim-record: error: valgrind could not run the program (is valgrind installed?)\n";
    return 2;
  }
  // The program's own failure is not a recording failure: say it, keep the trace.
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
    std::cerr << fmt::format("mmusim-record: note: the program exited with status {}\n", WEXITSTATUS(status));
  return 0;
}
