// `--csv FILE`: a run as one row of comma-separated values, for spreadsheets and
// pandas (`pandas.read_csv`). The columns are the stats JSON (report.hpp) flattened
// to dotted names (`faults.cow_copy.latency_ns.p50`, `config.kernel.cow`), every
// number and string of it except the per-process, per-phase and per-CPU parts, which
// are lists. Several runs append to one file: the first writes the header, and a run
// whose columns differ from the file's is refused (a different kind of run, e.g. one
// core against several, belongs in its own file).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mmusim::stats {

// The column names and values of `run` (a run_json), in one order.
struct CsvRow {
  std::vector<std::string> columns;
  std::vector<std::string> values;
};
CsvRow csv_row(const nlohmann::json& run);

// Appends `row` to `path`, with the header first if the file is new or empty.
// Throws std::runtime_error naming the file if it cannot be written or its header
// is not this row's.
void append_csv(const std::string& path, const CsvRow& row);

}  // namespace mmusim::stats
