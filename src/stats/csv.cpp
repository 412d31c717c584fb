#include "stats/csv.hpp"

#include <fstream>
#include <stdexcept>

#include <fmt/format.h>

namespace mmusim::stats {
namespace {

// RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled.
std::string field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  q += '"';
  return q;
}

void flatten(const nlohmann::json& j, const std::string& prefix, CsvRow& row) {
  for (const auto& [key, value] : j.items()) {
    const std::string name = prefix.empty() ? key : prefix + "." + key;
    if (value.is_object()) flatten(value, name, row);
    else if (value.is_array() || value.is_null()) continue;  // lists: per CPU, per phase, TLB arrays
    else {
      row.columns.push_back(name);
      row.values.push_back(value.is_string() ? value.get<std::string>() : value.dump());
    }
  }
}

std::string line(const std::vector<std::string>& fields) {
  std::string l;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) l += ',';
    l += field(fields[i]);
  }
  return l;
}

}  // namespace

CsvRow csv_row(const nlohmann::json& run) {
  nlohmann::json j = run;
  j.erase("processes");  // a column per process would differ from run to run
  j.erase("phases");
  CsvRow row;
  flatten(j, "", row);
  return row;
}

void append_csv(const std::string& path, const CsvRow& row) {
  const std::string header = line(row.columns);
  std::string existing;
  {
    std::ifstream in(path);
    if (in) std::getline(in, existing);
  }
  if (!existing.empty() && existing != header)
    throw std::runtime_error(fmt::format(
        "{}: its columns are not this run's (another kind of run, e.g. another core count); "
        "write this run to a new file",
        path));
  std::ofstream out(path, std::ios::app);
  if (!out) throw std::runtime_error(fmt::format("{}: cannot write the CSV row", path));
  if (existing.empty()) out << header << '\n';
  out << line(row.values) << '\n';
  if (!out) throw std::runtime_error(fmt::format("{}: cannot write the CSV row", path));
}

}  // namespace mmusim::stats
