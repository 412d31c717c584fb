// Simulated physical memory as a TLM-2.0 target: loosely-timed b_transport that
// annotates a fixed access latency, DMI granted one 4 KiB frame at a time (frames
// are allocated on demand, so no larger region is contiguous), and debug transport
// for untimed inspection. Contents live in a SparseMemory, shared with the kernel
// model, which stores to page tables through its direct map rather than the bus.
#pragma once

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>

#include "hw/sparse_memory.hpp"

namespace mmusim::hw {

class PhysMem : public sc_core::sc_module {
 public:
  // Every initiator (each core's walker and data port) binds here.
  tlm_utils::multi_passthrough_target_socket<PhysMem> socket;

  // `latency`: the time one access takes (configuration mem.latency × the clock period).
  PhysMem(sc_core::sc_module_name name, SparseMemory& store, sc_core::sc_time latency,
          unsigned maxphyaddr);

  SparseMemory& store() { return store_; }
  std::uint64_t transactions() const { return transactions_; }

 private:
  void b_transport(int initiator, tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
  bool get_direct_mem_ptr(int initiator, tlm::tlm_generic_payload& tx, tlm::tlm_dmi& dmi);
  unsigned int transport_dbg(int initiator, tlm::tlm_generic_payload& tx);
  // Checks address range and command; sets the response status. True if the access may proceed.
  bool admit(tlm::tlm_generic_payload& tx) const;

  SparseMemory& store_;
  sc_core::sc_time latency_;
  std::uint64_t limit_;           // 2^MAXPHYADDR: addresses above do not exist
  std::uint64_t transactions_ = 0;
};

}  // namespace mmusim::hw
