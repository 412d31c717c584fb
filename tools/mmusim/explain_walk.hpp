// The translation part of `mmusim explain` (explain.cpp): what the TLBs and
// paging-structure caches hold for the address, every entry the walk reads with its
// bits and the rights combined so far, and the outcome; then the translation done for
// real, as Core::access does it.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "hw/system.hpp"
#include "mmu/mmu.hpp"

namespace mmusim::cli::explain_walk {

using json = nlohmann::json;
using mmu::u32;
using mmu::u64;

// The machine at line N, and the access being explained.
struct Ctx {
  Ctx(hw::System& s, const config::Config& c) : sys(s), cfg(c) {}
  hw::System& sys;
  const config::Config& cfg;
  unsigned cpu = 0;
  mmu::ControlRegs cr;
  mmu::Access a;
  bool os = false;
  u32 pid = 0;
};

// One translation of `la` on the access's CPU, explained into `t` (text) and `j`
// (JSON) under `title`, then done for real (TLB fills, A/D bits). Returns the real result.
mmu::Translated translation(Ctx& c, u64 la, const std::string& title, std::string& t, json& j);

}  // namespace mmusim::cli::explain_walk
