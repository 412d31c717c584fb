// `mmusim convert` and `mmusim gen`: traces written rather than simulated.
#pragma once

#include <string>
#include <vector>

#include "traces/reader.hpp"

namespace mmusim::cli {

// How an output trace is encoded: by --to, else by its name (a name whose stem ends in
// .trace is text, anything else binary); compression by its last extension.
enum class Encoding { Auto, Text, Binary };
Encoding parse_encoding(const std::string& name);  // "auto", "text", "binary"

struct ConvertResult {
  std::uint64_t events = 0;
  std::uint64_t bytes_out = 0;  // as written, after compression
};

// Reads IN (in `from`, detected when Auto) and writes every event to OUT. Throws
// TraceError for bad input, std::runtime_error when OUT cannot be written.
ConvertResult convert(const std::string& in, traces::Format from, const std::string& out, Encoding to);

// `mmusim gen KIND [generator options] -o OUT [--to text|binary]`: args after "gen".
int gen(const std::vector<std::string>& args);

}  // namespace mmusim::cli
