#include "mmu/page_walker.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace mmusim::mmu {

PageWalker::PageWalker(sc_core::sc_module_name name, sc_core::sc_time clock_period)
    : sc_module(name), socket("socket"), period_(clock_period) {}

void PageWalker::transact(tlm::tlm_command cmd, u64 pa, u64& data) {
  tx_.set_command(cmd);
  tx_.set_address(pa);
  tx_.set_data_ptr(reinterpret_cast<unsigned char*>(&data));
  tx_.set_data_length(8);
  tx_.set_streaming_width(8);
  tx_.set_byte_enable_ptr(nullptr);
  tx_.set_dmi_allowed(false);
  tx_.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  socket->b_transport(tx_, delay_);
  if (tx_.is_response_error())
    // The walker only reads entries at addresses below 2^MAXPHYADDR (bits 51:M of
    // every entry it follows are reserved), so an error here is a wiring bug.
    throw std::logic_error("page walker: memory answered " + tx_.get_response_string() +
                           " at " + std::to_string(pa));
}

u64 PageWalker::load64(u64 pa) {
  u64 v = 0;
  transact(tlm::TLM_READ_COMMAND, pa, v);
  ++stats_.loads;
  return v;
}

bool PageWalker::cmpxchg64(u64 pa, u64 expected, u64 desired) {
  // A locked RMW: nothing else runs between the read and the write on this thread,
  // and other initiators only run when this thread yields.
  u64 current = 0;
  transact(tlm::TLM_READ_COMMAND, pa, current);
  if (current != expected) return false;
  transact(tlm::TLM_WRITE_COMMAND, pa, desired);
  ++stats_.ad_writes;
  return true;
}

PageWalker::Outcome PageWalker::walk(const Access& a, const ControlRegs& cr) {
  delay_ = sc_core::SC_ZERO_TIME;
  Outcome out;
  out.result = mmu::walk(*this, a, cr);
  out.cycles = static_cast<std::uint64_t>(std::llround(delay_ / period_));
  ++stats_.walks;
  stats_.cycles += out.cycles;
  if (!out.result.ok()) ++stats_.faults;
  return out;
}

}  // namespace mmusim::mmu
