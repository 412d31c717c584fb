// A libFuzzer target for one trace reader, chosen at build time by MMUSIM_FUZZ_FORMAT
// (fuzz/CMakeLists.txt builds one executable per format). Whatever the bytes, reading
// must end in events or a TraceError: never a crash, a sanitizer report or a hang.
//
// The readers open paths (they stream from files), so each input is written to an
// anonymous in-memory file (memfd) and read back through /proc/self/fd.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "traces/reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const int fd = memfd_create("mmusim-fuzz", 0);
  if (fd < 0) return 0;
  for (std::size_t done = 0; done < size;) {
    const ssize_t n = write(fd, data + done, size - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    auto reader = mmusim::traces::open_reader(path, mmusim::traces::Format::MMUSIM_FUZZ_FORMAT);
    mmusim::traces::Event ev;
    // A bound on events per input keeps a valid but huge decompressed input from
    // looking like a hang; errors that say "skip this line" are followed, as
    // --keep-going would.
    for (unsigned events = 0; events < 100000;) {
      try {
        if (!reader->next(ev)) break;
        ++events;
      } catch (const mmusim::traces::TraceError& e) {
        if (!e.recoverable) break;
      }
    }
  } catch (const mmusim::traces::TraceError&) {
  }
  close(fd);
  return 0;
}
