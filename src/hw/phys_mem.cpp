#include "hw/phys_mem.hpp"

namespace mmusim::hw {

PhysMem::PhysMem(sc_core::sc_module_name name, SparseMemory& store, sc_core::sc_time latency,
                 unsigned maxphyaddr)
    : sc_module(name), socket("socket"), store_(store), latency_(latency),
      limit_(maxphyaddr >= 64 ? ~0ull : (1ull << maxphyaddr)) {
  socket.register_b_transport(this, &PhysMem::b_transport);
  socket.register_get_direct_mem_ptr(this, &PhysMem::get_direct_mem_ptr);
  socket.register_transport_dbg(this, &PhysMem::transport_dbg);
  store_.set_discard_hook([this](std::uint64_t pfn) {
    const std::uint64_t base = pfn << SparseMemory::kFrameShift;
    for (unsigned i = 0; i < socket.size(); ++i)
      socket[i]->invalidate_direct_mem_ptr(base, base + SparseMemory::kFrameBytes - 1);
  });
}

bool PhysMem::admit(tlm::tlm_generic_payload& tx) const {
  const std::uint64_t addr = tx.get_address();
  const unsigned len = tx.get_data_length();
  if (tx.get_byte_enable_ptr() != nullptr || tx.get_streaming_width() < len) {
    tx.set_response_status(tlm::TLM_BYTE_ENABLE_ERROR_RESPONSE);
    return false;
  }
  if (addr >= limit_ || len > limit_ - addr) {
    tx.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return false;
  }
  if (tx.get_command() == tlm::TLM_IGNORE_COMMAND) {
    tx.set_response_status(tlm::TLM_OK_RESPONSE);
    return false;
  }
  return true;
}

void PhysMem::b_transport(int, tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
  ++transactions_;
  if (!admit(tx)) return;
  if (tx.is_read())
    store_.read(tx.get_address(), tx.get_data_ptr(), tx.get_data_length());
  else
    store_.write(tx.get_address(), tx.get_data_ptr(), tx.get_data_length());
  delay += latency_;
  tx.set_dmi_allowed(true);
  tx.set_response_status(tlm::TLM_OK_RESPONSE);
}

bool PhysMem::get_direct_mem_ptr(int, tlm::tlm_generic_payload& tx, tlm::tlm_dmi& dmi) {
  const std::uint64_t addr = tx.get_address();
  if (addr >= limit_) return false;
  const std::uint64_t base = addr & ~(SparseMemory::kFrameBytes - 1);
  // Granting a pointer lets the initiator write without us seeing it, so the frame
  // must exist from now on, as on a real memory.
  dmi.set_dmi_ptr(store_.frame_data(base >> SparseMemory::kFrameShift));
  dmi.set_start_address(base);
  dmi.set_end_address(base + SparseMemory::kFrameBytes - 1);
  dmi.allow_read_write();
  dmi.set_read_latency(latency_);
  dmi.set_write_latency(latency_);
  return true;
}

unsigned int PhysMem::transport_dbg(int, tlm::tlm_generic_payload& tx) {
  if (!admit(tx)) return 0;
  if (tx.is_read())
    store_.read(tx.get_address(), tx.get_data_ptr(), tx.get_data_length());
  else
    store_.write(tx.get_address(), tx.get_data_ptr(), tx.get_data_length());
  tx.set_response_status(tlm::TLM_OK_RESPONSE);
  return tx.get_data_length();
}

}  // namespace mmusim::hw
