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
      mem_("phys_mem", store_, clock_period(cfg) * static_cast<double>(cfg.mem.latency_cycles),
           cfg.mem.maxphyaddr),
      mmu_("mmu0", cfg, clock_period(cfg)),
      core_("core0", cfg, events, mmu_, store_, outputs) {
  tlm_utils::tlm_quantumkeeper::set_global_quantum(clock_period(cfg) *
                                                   static_cast<double>(cfg.core.quantum_cycles));
  mmu_.walker.socket.bind(mem_.socket);
  core_.data_socket.bind(mem_.socket);
}

void System::run() { sc_core::sc_start(); }

}  // namespace mmusim::hw
