// mmusim: the command line. `mmusim run TRACE` simulates a trace and prints the
// program's output and a summary; exit status 0 on success, 1 if an expectation
// failed, 2 on bad input (malformed trace, bad configuration, refused event).
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "config/config.hpp"
#include "convert.hpp"
#include "explain.hpp"
#include "progress.hpp"
#include "hw/system.hpp"
#include "hw/trace_source.hpp"
#include "stats/csv.hpp"
#include "stats/report.hpp"
#include "stats/timeline.hpp"
#include "traces/reader.hpp"
#include "traces/trace_error.hpp"

namespace po = boost::program_options;
using namespace mmusim;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitExpectationFailed = 1;
constexpr int kExitBadInput = 2;

const char* kUsage =
    "usage: mmusim run TRACE [options]     simulate a trace (format and .gz/.xz/.zst compression by content)\n"
    "       mmusim convert IN OUT [--format F] [--to text|binary]\n"
    "                                      rewrite a trace (any readable format) as text or binary;\n"
    "                                      OUT's name chooses: *.trace[.gz|.xz|.zst] text, else binary\n"
    "       mmusim gen KIND [--accesses N] [--footprint SIZE] [--seed S] ... -o OUT\n"
    "                                      write a synthetic workload (seq, stride, uniform, zipf,\n"
    "                                      chase, fork-server, threads)\n"
    "       mmusim explain TRACE --line N [--config FILE] [--set KEY=VALUE]... [--json]\n"
    "                                      explain the access on line N step by step (docs/explain.md)\n"
    "       mmusim config [options]        list every configuration key with its value and unit\n"
    "       mmusim --help | --version\n";

std::unique_ptr<std::ofstream> open_output(const std::string& path, const char* what) {
  if (path.empty()) return nullptr;
  auto f = std::make_unique<std::ofstream>(path);
  if (!*f) throw std::runtime_error(fmt::format("{}: error: cannot write {}", path, what));
  return f;
}

int list_config(config::Config& cfg) {
  for (auto& p : config::params(cfg))
    std::cout << fmt::format("{:<32} = {:<12} {:<8} {}\n", p.key, p.get().dump(), p.unit, p.what);
  return kExitOk;
}

int run(const std::string& trace, const po::variables_map& vm, config::Config& cfg) {
  auto stats_file = open_output(vm["stats"].as<std::string>(), "the stats");
  auto access_log = open_output(vm["access-log"].as<std::string>(), "the access log");
  auto fault_log = open_output(vm["fault-log"].as<std::string>(), "the fault log");
  auto timeline_file = open_output(vm["timeline"].as<std::string>(), "the timeline");
  std::unique_ptr<stats::Timeline> timeline;
  if (timeline_file) timeline = std::make_unique<stats::Timeline>(*timeline_file, cfg.core.frequency_ghz, cfg.cores);

  // Throws TraceError for a missing or unreadable file; std::invalid_argument for a bad --format.
  hw::TraceSource file(trace, traces::parse_format(vm["format"].as<std::string>()));
  cli::ProgressSource source(file, std::cerr, cli::progress_wanted(vm.count("quiet") > 0), cli::progress_delay());
  hw::RunOptions outs;
  outs.out = &std::cout;
  outs.diag = &std::cerr;
  outs.access_log = access_log.get();
  outs.fault_log = fault_log.get();
  outs.timeline = timeline.get();
  outs.keep_going = vm.count("keep-going") > 0;
  outs.check = vm.count("check") > 0;
  hw::quiet_systemc();
  hw::System sys(cfg, source, outs);
  sys.run();
  source.finish();
  if (timeline) timeline->finish();

  const stats::RunStats s = sys.stats();
  if (!vm.count("quiet")) stats::print_summary(std::cout, sys, trace);
  if (stats_file || !vm["csv"].as<std::string>().empty()) {
    const nlohmann::json j = stats::run_json(sys, cfg, trace);
    if (stats_file) *stats_file << j.dump(2) << '\n';
    if (!vm["csv"].as<std::string>().empty()) stats::append_csv(vm["csv"].as<std::string>(), stats::csv_row(j));
  }
  if (sys.error()) {
    std::cerr << "mmusim: " << *sys.error() << '\n';
    return kExitBadInput;
  }
  if (s.skipped) {
    // The run went to the end, but its input was not what it should be.
    std::cerr << fmt::format("mmusim: {} lines were skipped (--keep-going)\n", s.skipped);
    return kExitBadInput;
  }
  if (s.expectations_failed) {
    std::cerr << fmt::format("mmusim: {} of {} expectations failed\n", s.expectations_failed, s.expectations);
    return kExitExpectationFailed;
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  // `gen` has the generator's own options: they go to it whole.
  if (argc >= 2 && std::string(argv[1]) == "gen") {
    try {
      return cli::gen(std::vector<std::string>(argv + 2, argv + argc));
    } catch (const std::exception& e) {
      std::cerr << "mmusim: error: " << e.what() << '\n' << kUsage;
      return kExitBadInput;
    }
  }
  // `explain` parses its own options (--line, --json, --config, --set).
  if (argc >= 2 && std::string(argv[1]) == "explain")
    return cli::explain(std::vector<std::string>(argv + 2, argv + argc), std::cout, std::cerr);
  po::options_description opts("options");
  opts.add_options()
      ("help,h", "print this help")
      ("version", "print the version")
      ("config,c", po::value<std::string>(), "configuration file of `key = value` lines (configs/*.conf)")
      ("format", po::value<std::string>()->default_value("auto"),
       "input trace format: auto (by content), text, binary, lackey or champsim")
      ("to", po::value<std::string>()->default_value("auto"), "convert: output encoding, auto, text or binary")
      ("set", po::value<std::vector<std::string>>()->composing(), "override one value: --set KEY=VALUE (repeatable)")
      ("stats", po::value<std::string>()->default_value(""), "write every counter as JSON to FILE")
      ("access-log", po::value<std::string>()->default_value(""), "write one JSON line per access to FILE")
      ("fault-log", po::value<std::string>()->default_value(""), "write one JSON line per page fault to FILE")
      ("timeline", po::value<std::string>()->default_value(""),
       "write per-CPU walks, faults (with their steps), IPIs and switches to FILE as Chrome/Perfetto "
       "trace-event JSON (ui.perfetto.dev)")
      ("csv", po::value<std::string>()->default_value(""),
       "append the run as one row of comma-separated values to FILE (header first if new)")
      ("quiet,q", "print only the program's output: no summary, no progress line")
      ("keep-going", "skip malformed lines and refused events with a warning instead of stopping")
      ("check", "verify refcounts, mapcounts and page tables against the VMAs after every OS event and fault");
  po::options_description hidden;
  hidden.add_options()("command", po::value<std::string>())("args", po::value<std::vector<std::string>>());
  po::options_description all;
  all.add(opts).add(hidden);
  po::positional_options_description pos;
  pos.add("command", 1).add("args", -1);

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "mmusim: error: " << e.what() << "\n" << kUsage;
    return kExitBadInput;
  }
  if (vm.count("help")) {
    std::cout << "mmusim " MMUSIM_VERSION " - a cycle-level x86-64 MMU and page-fault simulator\n\n"
              << kUsage << '\n' << opts;
    return kExitOk;
  }
  if (vm.count("version")) {
    std::cout << "mmusim " MMUSIM_VERSION "\n";
    return kExitOk;
  }
  const std::string command = vm.count("command") ? vm["command"].as<std::string>() : "";
  const auto args = vm.count("args") ? vm["args"].as<std::vector<std::string>>() : std::vector<std::string>{};

  config::Config cfg;
  try {
    if (vm.count("config")) config::load_file(cfg, vm["config"].as<std::string>());
    if (vm.count("set"))
      for (const auto& s : vm["set"].as<std::vector<std::string>>()) config::set(cfg, s);
    config::validate(cfg);
    if (command == "config") return list_config(cfg);
    if (command == "run") {
      if (args.size() != 1) {
        std::cerr << "mmusim: error: `run` takes one trace file\n" << kUsage;
        return kExitBadInput;
      }
      return run(args[0], vm, cfg);
    }
    if (command == "convert") {
      if (args.size() != 2) {
        std::cerr << "mmusim: error: `convert` takes an input and an output file\n" << kUsage;
        return kExitBadInput;
      }
      const auto r = cli::convert(args[0], traces::parse_format(vm["format"].as<std::string>()), args[1],
                                  cli::parse_encoding(vm["to"].as<std::string>()));
      if (!vm.count("quiet")) std::cerr << fmt::format("mmusim: {} events to {} ({} bytes)\n", r.events, args[1], r.bytes_out);
      return kExitOk;
    }
  } catch (const config::ConfigError& e) {
    std::cerr << "mmusim: error: " << e.what() << '\n';
    return kExitBadInput;
  } catch (const traces::TraceError& e) {
    std::cerr << "mmusim: " << e.what() << '\n';
    return kExitBadInput;
  } catch (const std::exception& e) {
    std::cerr << "mmusim: error: " << e.what() << '\n';
    return kExitBadInput;
  }
  std::cerr << (command.empty() ? "mmusim: error: no command\n"
                                : fmt::format("mmusim: error: unknown command '{}'\n", command))
            << kUsage;
  return kExitBadInput;
}
