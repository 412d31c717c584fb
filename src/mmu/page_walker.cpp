#include "mmu/page_walker.hpp"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace mmusim::mmu {

PageWalker::PageWalker(sc_core::sc_module_name name, sc_core::sc_time clock_period, hw::MemoryTiming& timing)
    : sc_module(name), socket("socket"), timing_(timing), period_(clock_period) {
  socket.register_invalidate_direct_mem_ptr(this, &PageWalker::invalidate_direct_mem_ptr);
}

void PageWalker::invalidate_direct_mem_ptr(sc_dt::uint64 start, sc_dt::uint64 end) {
  // Memory revokes one frame at a time when the kernel frees it: visit only the
  // slots those frames map to, not the whole table.
  const u64 first = start >> 12, last = end >> 12;
  if (last - first >= kDmiSlots) {
    for (DmiSlot& slot : dmi_) slot = DmiSlot{};
    return;
  }
  for (u64 frame = first; frame <= last; ++frame) {
    DmiSlot& slot = dmi_[frame % kDmiSlots];
    if (slot.frame == frame) slot = DmiSlot{};
  }
}

unsigned char* PageWalker::dmi_frame(u64 pa) {
  const u64 frame = pa >> 12;
  DmiSlot& slot = dmi_[frame % kDmiSlots];
  if (slot.frame == frame) return slot.bytes;
  // TLM-2.0 LT practice: ask for DMI only once a transaction's response allowed it.
  if (!dmi_hinted_) return nullptr;
  // One payload for every request: constructing a generic payload allocates.
  dmi_tx_.set_address(frame << 12);
  dmi_tx_.set_command(tlm::TLM_READ_COMMAND);
  tlm::tlm_dmi dmi;
  // Only a grant of exactly this frame, readable and writable, is kept: anything
  // else goes through b_transport.
  if (!socket->get_direct_mem_ptr(dmi_tx_, dmi) || !dmi.is_read_write_allowed() ||
      dmi.get_start_address() != (frame << 12) || dmi.get_end_address() != ((frame << 12) | 0xFFF))
    return nullptr;
  dmi_read_latency_ = dmi.get_read_latency();
  dmi_write_latency_ = dmi.get_write_latency();
  slot.frame = frame;
  slot.bytes = dmi.get_dmi_ptr();
  return slot.bytes;
}

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
  if (tx_.is_dmi_allowed()) dmi_hinted_ = true;
  if (tx_.is_response_error())
    // The walker only reads entries at addresses below 2^MAXPHYADDR (bits 51:M of
    // every entry it follows are reserved), so an error here is a wiring bug.
    throw std::logic_error("page walker: memory answered " + tx_.get_response_string() +
                           " at " + std::to_string(pa));
}

u64 PageWalker::load64(u64 pa) {
  u64 v = 0;
  ++stats_.loads;
  charge(pa, false);
  if (unsigned char* frame = dmi_frame(pa)) {
    std::memcpy(&v, frame + (pa & 0xFFF), sizeof v);  // entries are 8-byte aligned
    delay_ += dmi_read_latency_;
    ++stats_.dmi_loads;
    return v;
  }
  transact(tlm::TLM_READ_COMMAND, pa, v);
  return v;
}

bool PageWalker::cmpxchg64(u64 pa, u64 expected, u64 desired) {
  // A locked RMW: nothing else runs between the read and the write on this thread,
  // and other initiators only run when this thread yields.
  u64 current = 0;
  charge(pa, false);
  if (unsigned char* frame = dmi_frame(pa)) {
    std::memcpy(&current, frame + (pa & 0xFFF), sizeof current);
    delay_ += dmi_read_latency_;
    if (current != expected) return false;
    std::memcpy(frame + (pa & 0xFFF), &desired, sizeof desired);
    delay_ += dmi_write_latency_;
  } else {
    transact(tlm::TLM_READ_COMMAND, pa, current);
    if (current != expected) return false;
    transact(tlm::TLM_WRITE_COMMAND, pa, desired);
  }
  charge(pa, true);
  ++stats_.ad_writes;
  return true;
}

PageWalker::Outcome PageWalker::walk(const Access& a, const ControlRegs& cr) {
  return walk(a, cr, walk_start(cr));
}

PageWalker::Outcome PageWalker::walk(const Access& a, const ControlRegs& cr, const WalkStart& start) {
  delay_ = sc_core::SC_ZERO_TIME;
  cycles_ = 0;
  Outcome out;
  out.result = mmu::walk(*this, a, cr, start);
  const auto top = static_cast<unsigned>(top_level(cr.cr4_la57));
  if (const auto at = static_cast<unsigned>(start.level); at < top) {
    stats_.levels_skipped += top - at;
    ++stats_.partial_walks;
  }
  out.cycles = cycles_ + static_cast<std::uint64_t>(std::llround(delay_ / period_));
  ++stats_.walks;
  stats_.cycles += out.cycles;
  if (!out.result.ok()) ++stats_.faults;
  return out;
}

}  // namespace mmusim::mmu
