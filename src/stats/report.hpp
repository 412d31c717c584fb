// What a run reports: the stats JSON (`--stats FILE`, every counter and the
// effective configuration) and the human summary printed after the program output.
#pragma once

#include <iosfwd>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "hw/system.hpp"

namespace mmusim::stats {

nlohmann::json run_json(const hw::System& sys, config::Config& cfg, const std::string& trace);
void print_summary(std::ostream& out, const hw::System& sys, const std::string& trace);

}  // namespace mmusim::stats
