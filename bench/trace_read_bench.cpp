// Reading speed of trace files in every format the simulator reads: the binary
// encoding (docs/binary-format.md), the text format, valgrind lackey output and
// ChampSim records, on the same generated accesses, uncompressed, through
// traces::open_reader as the simulator uses it. Items are events.
//
//   trace_read_bench --benchmark_filter=Binary
//
// Workloads (written once per process into the temporary directory, removed at exit):
//   seq:    x fetches 4 bytes apart between r/w accesses walking an array 8 bytes apart
//   random: r/w/x, sizes 1-8, addresses uniform in 1 GiB, a value on half the writes
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>

#include "traces/binary_writer.hpp"
#include "traces/reader.hpp"
#include "traces/text_writer.hpp"

using namespace mmusim::traces;
namespace fs = std::filesystem;

namespace {

enum Pattern { kSeq = 0, kRandom = 1 };

template <typename F>
void generate(Pattern pattern, std::size_t n, F&& write) {
  std::mt19937_64 rng(1);
  Event e;
  std::uint64_t a = 0x7f0000000000, code = 0x400000;
  for (std::size_t i = 0; i < n; ++i) {
    e.line = i + 1;
    e.has_value = false;
    e.value = 0;
    if (pattern == kSeq) {
      if (i % 2) {
        e.op = Op::Fetch;
        e.size = 4;
        e.addr = code;
        code += 4;
      } else {
        e.op = i % 4 ? Op::Read : Op::Write;
        e.size = 8;
        e.addr = a;
        a += 8;
      }
    } else {
      const unsigned k = rng() % 3;
      e.op = k == 0 ? Op::Read : k == 1 ? Op::Write : Op::Fetch;
      e.size = std::uint64_t{1} << (rng() % 4);
      e.addr = (0x7f0000000000 + (rng() & ((1u << 30) - 1))) & ~(e.size - 1);
      if (e.op == Op::Write && rng() % 2) {
        e.has_value = true;
        e.value = rng() & ((e.size == 8 ? 0 : std::uint64_t{1} << (8 * e.size)) - 1);
      }
    }
    write(e);
  }
}

// The files written by this process, removed when it ends.
struct Files {
  std::map<std::string, std::string> paths;
  ~Files() {
    for (const auto& [key, path] : paths) {
      std::error_code ec;
      fs::remove(path, ec);
    }
  }
};

// ChampSim's input_instr (inc/trace_instruction.h): 64 bytes, little-endian.
struct ChampsimRecord {
  std::uint64_t ip;
  unsigned char is_branch, branch_taken, destination_registers[2], source_registers[4];
  std::uint64_t destination_memory[2], source_memory[4];
};
static_assert(sizeof(ChampsimRecord) == 64);

// Each access as the importers' input: a lackey line; a ChampSim record whose ip is the
// fetch and whose one memory operand is the load or store.
void write_lackey(std::ofstream& out, const Event& e) {
  const char* kind = e.op == Op::Fetch ? "I " : e.op == Op::Read ? " L" : " S";
  char line[64];
  const int n = std::snprintf(line, sizeof line, "%s %08llx,%llu\n", kind, static_cast<unsigned long long>(e.addr),
                              static_cast<unsigned long long>(e.size));
  out.write(line, n);
}

void write_champsim(std::ofstream& out, const Event& e) {
  ChampsimRecord r{};
  r.ip = e.op == Op::Fetch ? e.addr : 0x400000 + 4 * e.line;
  if (e.op == Op::Read) r.source_memory[0] = e.addr;
  if (e.op == Op::Write) r.destination_memory[0] = e.addr;
  out.write(reinterpret_cast<const char*>(&r), sizeof r);
}

const std::string& trace_file(Format format, Pattern pattern, std::size_t n) {
  static Files files;
  const std::string key = std::string(format_name(format)) + (pattern == kSeq ? "-seq-" : "-random-") +
                          std::to_string(n);
  auto it = files.paths.find(key);
  if (it != files.paths.end()) return it->second;
  const std::string path = (fs::temp_directory_path() / ("mmusim_read_bench_" + key)).string();
  std::ofstream out(path, std::ios::binary);
  if (format == Format::Binary) {
    BinaryWriter w(out);
    generate(pattern, n, [&](const Event& e) { w.write(e); });
    w.finish();
  } else if (format == Format::Text) {
    TextWriter w(out);
    generate(pattern, n, [&](const Event& e) { w.write(e); });
  } else if (format == Format::Lackey) {
    generate(pattern, n, [&](const Event& e) { write_lackey(out, e); });
  } else {
    generate(pattern, n, [&](const Event& e) { write_champsim(out, e); });
  }
  return files.paths.emplace(key, path).first->second;
}

void read_all(benchmark::State& state, Format format) {
  const auto pattern = static_cast<Pattern>(state.range(0));
  const auto n = static_cast<std::size_t>(state.range(1));
  const std::string& path = trace_file(format, pattern, n);
  std::uint64_t events = 0;
  Event ev;
  for (auto _ : state) {
    std::unique_ptr<Reader> r = open_reader(path, format);
    std::uint64_t sum = 0;
    while (r->next(ev)) {
      sum += ev.addr;
      ++events;
    }
    benchmark::DoNotOptimize(sum);
  }
  const auto bytes = fs::file_size(path);
  state.SetItemsProcessed(static_cast<std::int64_t>(events));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes * state.iterations()));
  state.counters["bytes_per_event"] = static_cast<double>(bytes) / static_cast<double>(n);
  state.SetLabel(pattern == kSeq ? "seq" : "random");
}

void BM_BinaryRead(benchmark::State& state) { read_all(state, Format::Binary); }
void BM_TextRead(benchmark::State& state) { read_all(state, Format::Text); }
void BM_LackeyRead(benchmark::State& state) { read_all(state, Format::Lackey); }
void BM_ChampsimRead(benchmark::State& state) { read_all(state, Format::Champsim); }

}  // namespace

BENCHMARK(BM_BinaryRead)->Args({kSeq, 50'000'000})->Args({kRandom, 50'000'000})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TextRead)->Args({kSeq, 5'000'000})->Args({kRandom, 5'000'000})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LackeyRead)->Args({kSeq, 5'000'000})->Args({kRandom, 5'000'000})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ChampsimRead)->Args({kSeq, 5'000'000})->Args({kRandom, 5'000'000})->Unit(benchmark::kMillisecond);
