// Simulated physical memory: the sparse store, and PhysMem as a TLM-2.0 target
// (b_transport with its latency, DMI by frame, debug transport).
#include <gtest/gtest.h>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>

#include "hw/phys_mem.hpp"
#include "hw/sparse_memory.hpp"
#include "hw/system.hpp"

namespace mmusim::hw {
namespace {

TEST(SparseMemory, UnwrittenMemoryReadsZeroAndStoresNothing) {
  SparseMemory m;
  EXPECT_EQ(m.read64(0x123456789000), 0u);
  EXPECT_EQ(m.resident_frames(), 0u);
}

TEST(SparseMemory, WritesSpanningFramesLandInBoth) {
  SparseMemory m;
  m.write64(0x1ffc, 0x1122334455667788);
  EXPECT_EQ(m.read64(0x1ffc), 0x1122334455667788u);
  EXPECT_EQ(m.resident_frames(), 2u);
  EXPECT_EQ(m.read64(0x2000) & 0xFFFFFFFF, 0x11223344u);
}

TEST(SparseMemory, CmpxchgReplacesOnlyTheExpectedValue) {
  SparseMemory m;
  m.write64(0x1000, 0x5);
  EXPECT_FALSE(m.cmpxchg64(0x1000, 0x7, 0x25));
  EXPECT_EQ(m.read64(0x1000), 0x5u);
  EXPECT_TRUE(m.cmpxchg64(0x1000, 0x5, 0x25));
  EXPECT_EQ(m.read64(0x1000), 0x25u);
}

TEST(SparseMemory, CopyAndDiscardFrames) {
  SparseMemory m;
  m.write64(0x5008, 42);
  m.copy_frame(7, 5);
  EXPECT_EQ(m.read64(0x7008), 42u);
  m.discard_frame(5);
  EXPECT_EQ(m.read64(0x5008), 0u);
  EXPECT_EQ(m.read64(0x7008), 42u);
  m.copy_frame(9, 5);  // a never-written source copies as zeros
  EXPECT_EQ(m.read64(0x9000), 0u);
  EXPECT_EQ(m.resident_frames(), 1u);
}

struct Initiator : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<Initiator> socket;
  sc_dt::uint64 invalidated_start = ~0ull;
  explicit Initiator(sc_core::sc_module_name n) : sc_module(n), socket("socket") {
    socket.register_invalidate_direct_mem_ptr(this, &Initiator::invalidate);
  }
  void invalidate(sc_dt::uint64 start, sc_dt::uint64) { invalidated_start = start; }
};

tlm::tlm_response_status transport(Initiator& i, tlm::tlm_command cmd, std::uint64_t addr, std::uint64_t& data,
                                   sc_core::sc_time& delay) {
  tlm::tlm_generic_payload tx;
  tx.set_command(cmd);
  tx.set_address(addr);
  tx.set_data_ptr(reinterpret_cast<unsigned char*>(&data));
  tx.set_data_length(8);
  tx.set_streaming_width(8);
  i.socket->b_transport(tx, delay);
  return tx.get_response_status();
}

// One elaboration per process (SystemC), so the TLM checks share one test.
TEST(PhysMem, TlmTargetTransportsDmiAndDebug) {
  quiet_systemc();
  SparseMemory store;
  const sc_core::sc_time latency(4, sc_core::SC_NS);
  PhysMem mem("mem", store, latency, 46);
  Initiator init("init");
  init.socket.bind(mem.socket);
  sc_core::sc_start(sc_core::SC_ZERO_TIME);

  // b_transport: data round trip; each access annotates the configured latency.
  sc_core::sc_time delay = sc_core::SC_ZERO_TIME;
  std::uint64_t v = 0xdeadbeef;
  EXPECT_EQ(transport(init, tlm::TLM_WRITE_COMMAND, 0x3000, v, delay), tlm::TLM_OK_RESPONSE);
  v = 0;
  EXPECT_EQ(transport(init, tlm::TLM_READ_COMMAND, 0x3000, v, delay), tlm::TLM_OK_RESPONSE);
  EXPECT_EQ(v, 0xdeadbeefu);
  EXPECT_EQ(delay, latency * 2.0);

  // Beyond 2^MAXPHYADDR there is no memory.
  EXPECT_EQ(transport(init, tlm::TLM_READ_COMMAND, 1ull << 46, v, delay), tlm::TLM_ADDRESS_ERROR_RESPONSE);

  // DMI: one frame, readable and writable, the same bytes as b_transport sees.
  tlm::tlm_generic_payload tx;
  tx.set_address(0x3008);
  tlm::tlm_dmi dmi;
  ASSERT_TRUE(init.socket->get_direct_mem_ptr(tx, dmi));
  EXPECT_EQ(dmi.get_start_address(), 0x3000u);
  EXPECT_EQ(dmi.get_end_address(), 0x3fffu);
  EXPECT_TRUE(dmi.is_read_write_allowed());
  std::uint64_t via_dmi = 0;
  std::memcpy(&via_dmi, dmi.get_dmi_ptr(), 8);
  EXPECT_EQ(via_dmi, 0xdeadbeefu);

  // Freeing the frame revokes the pointer before its storage goes.
  store.discard_frame(3);
  EXPECT_EQ(init.invalidated_start, 0x3000u);

  // Debug transport: no time, same contents.
  std::uint64_t dbg = 0x77;
  tlm::tlm_generic_payload d;
  d.set_command(tlm::TLM_WRITE_COMMAND);
  d.set_address(0x9000);
  d.set_data_ptr(reinterpret_cast<unsigned char*>(&dbg));
  d.set_data_length(8);
  d.set_streaming_width(8);
  EXPECT_EQ(init.socket->transport_dbg(d), 8u);
  EXPECT_EQ(store.read64(0x9000), 0x77u);
}

}  // namespace
}  // namespace mmusim::hw
