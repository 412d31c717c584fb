#include "hw/system.hpp"

#include <cstdlib>

namespace mmusim::hw {
namespace {
sc_core::sc_time clock_period(const config::Config& cfg) {
  return sc_core::sc_time(1.0 / cfg.core.frequency_ghz, sc_core::SC_NS);
}
}  // namespace

void quiet_systemc() { ::setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0); }

System::System(const config::Config& cfg, EventSource& events, RunOptions outputs)
    : cfg_(cfg),
      timing_(cfg),
      // Memory annotates no delay of its own: the initiators take every access's time
      // from timing_, which knows the caches (a DMI pointer cannot carry a per-access
      // latency).
      mem_("phys_mem", store_, sc_core::SC_ZERO_TIME, cfg.mem.maxphyaddr),
      mmu_("mmu0", cfg, clock_period(cfg), timing_),
      core_("core0", cfg, events, mmu_, timing_, store_, outputs) {
  tlm_utils::tlm_quantumkeeper::set_global_quantum(clock_period(cfg) *
                                                   static_cast<double>(cfg.core.quantum_cycles));
  mmu_.walker.socket.bind(mem_.socket);
  core_.data_socket.bind(mem_.socket);
}

void System::run() { sc_core::sc_start(); }

}  // namespace mmusim::hw
