#include "hw/core.hpp"

#include <ostream>

#include <fmt/format.h>

#include "hw/system.hpp"
#include "kernel/fault_record.hpp"
#include "traces/trace_error.hpp"

namespace mmusim::hw {

using traces::Event;
using traces::Op;

namespace {
// Thrown by event handlers for an event the machine or the kernel refuses.
struct EventError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
}  // namespace

Core::Core(sc_core::sc_module_name name, unsigned id, System& system, mmu::Mmu& mmu, MemoryTiming& timing)
    : sc_module(name),
      data_socket("data_socket"),
      id_(id),
      sys_(system),
      cfg_(system.config()),
      mmu_(mmu),
      timing_(timing),
      out_(system.out_) {
  regs_.maxphyaddr = cfg_.mem.maxphyaddr;
  SC_THREAD(run);
}

Core::~Core() = default;

void Core::sync() {
  // SystemC time is the shared clock: waiting until it reaches this core's lets every
  // core behind it catch up (TLM-2.0 temporal decoupling, done by hand because the
  // clock is kept in whole cycles rather than as sc_time, which would cost a
  // floating-point conversion per event).
  const sc_core::sc_time at(static_cast<double>(clock_) / cfg_.core.frequency_ghz, sc_core::SC_NS);
  if (at > sc_core::sc_time_stamp()) wait(at - sc_core::sc_time_stamp());
  synced_ = clock_;
  next_sync_ = clock_ + cfg_.core.quantum_cycles;
}

void Core::run() {
  for (;;) {
    while (sys_.running() != id_ && !sys_.done()) wait(wake_);
    if (sys_.done()) break;
    // The trace moved here: this core's next event happens no earlier than the
    // hand-over, so a clock behind it was idle until then.
    if (clock_ < sys_.hand_over_cycles()) {
      stats_.idle_cycles += sys_.hand_over_cycles() - clock_;
      clock_ = sys_.hand_over_cycles();
    }
    if (!run_events()) break;
  }
  sync();
}

bool Core::run_events() {
  Event ev;
  auto skip = [&](const std::string& why) {
    ++stats_.skipped;
    if (out_.diag) *out_.diag << "mmusim: warning: " << why << " (skipped: --keep-going)\n";
  };
  try {
    for (;;) {
      try {
        if (!sys_.next_event(ev)) {
          sys_.finish(std::nullopt);
          return false;
        }
      } catch (const traces::TraceError& e) {
        if (!out_.keep_going || !e.recoverable) throw;
        skip(e.what());
        continue;
      }
      ++stats_.events;
      try {
        if (ev.op == Op::Cpu) {
          if (ev.pid >= sys_.cores())
            throw EventError(fmt::format("cpu {}: this machine has {} core{} (configuration key `cores`)", ev.pid,
                                         sys_.cores(), sys_.cores() == 1 ? "" : "s"));
          if (ev.pid == id_) continue;
          // The other core starts from the SystemC time this one last synchronised at.
          sys_.hand_over(ev.pid, synced_);
          return true;
        }
        if (cfg_.core.strict_timing || clock_ >= next_sync_) sync();
        execute(ev);
      } catch (const std::logic_error& e) {
        // A bug in the model, never an input problem: stop even with --keep-going,
        // but say which line of the trace brought it out.
        throw std::logic_error(fmt::format("{}:{}: internal error: {}", sys_.trace_name(), ev.line, e.what()));
      } catch (const std::exception& e) {
        // Kernel refusals, impossible events: one line naming the trace line.
        std::string what = fmt::format("{}:{}: error: {}", sys_.trace_name(), ev.line, e.what());
        if (!out_.keep_going) throw EventError(what);
        skip(what);
      }
    }
  } catch (const std::exception& e) {
    // Nothing escapes the SC_THREAD: the run ends here, and System reports it.
    sys_.finish(std::string(e.what()));
  }
  return false;
}

void Core::execute(const Event& ev) {
  const bool first = !sys_.started_;
  sys_.started_ = true;
  switch (ev.op) {
    case Op::Read: case Op::Write: case Op::Fetch: case Op::Print:
      access(ev);
      return;
    case Op::Mode:
      if (!first) throw EventError("`mode` must be the first event of a trace");
      sys_.bare_ = ev.name == "bare";
      if (!sys_.bare_) throw EventError(fmt::format("unknown mode '{}' (expected bare)", ev.name));
      return;
    case Op::Mark:
      sys_.close_phase();
      sys_.start_phase(ev.name, ev.line);
      return;
    default:
      break;
  }
  if (sys_.bare_) execute_bare_event(ev);
  else execute_os_event(ev);
}

// ---- OS mode -------------------------------------------------------------------

void Core::enter_os_mode(bool pcide) {
  // Linux runs with EFER.NXE=1 (the kernel's PTEs use XD for non-executable VMAs),
  // CR0.WP=1, global pages and, where the CPU has them, PCIDs; user code at CPL 3.
  regs_.efer_nxe = true;
  regs_.cr0_wp = true;
  regs_.cr4_pge = true;
  regs_.cr4_pcide = pcide;
  regs_.cpl = 3;
}

std::uint32_t Core::current_pid(const Event& ev) {
  kernel::Kernel& k = sys_.os();
  if (const std::uint32_t pid = k.current(id_)) return pid;
  if (!switched_) {
    // Before its first `switch`, a CPU runs the first process the trace spawned; a
    // trace with no spawn runs in process 1, created with automap (TRACE_FORMAT.md).
    if (k.first_spawned() == 0) {
      k.spawn(1, "", true);
      sys_.known_pids_.insert(1);
    }
    const std::uint32_t first = k.first_spawned();
    if (k.exists(first)) {
      const std::uint64_t start = clock_;
      advance(stats::CycleKind::ContextSwitch, k.context_switch(id_, first, false));
      if (out_.timeline) out_.timeline->context_switch(id_, start, clock_ - start, first);
      return first;
    }
  }
  (void)ev;
  throw EventError(fmt::format("no process runs on CPU {} (its task exited); a `switch PID` must come first", id_));
}

void Core::mov_to_cr3(std::uint64_t v) {
  // MOV to CR3 (SDM §4.10.4.1): with PCIDE=1, bit 63 asks not to flush and is not
  // stored; otherwise the new PCID's non-global entries go.
  const bool no_flush = regs_.cr4_pcide && (v >> 63);
  regs_.cr3 = v & ~(1ull << 63);
  ++stats_.cr3_loads;
  if (no_flush) return;
  ++stats_.cr3_flushes;
  mmu_.invalidate_pcid(regs_.pcid(), tlb::Flush::Cr3);
}

void Core::write_cr3(std::uint64_t value) { mov_to_cr3(value); }

void Core::invlpg(std::uint64_t va) { mmu_.invlpg(va, regs_.pcid()); }

void Core::interrupt(std::uint64_t arrival, std::uint64_t cycles) {
  // A core whose clock is behind the arrival was idle until then. One ahead of it
  // (decoupled) takes the handler's cycles after what it has already run: its busy
  // time is right, and its later events wait for the handler.
  if (clock_ < arrival) {
    stats_.idle_cycles += arrival - clock_;
    clock_ = arrival;
  }
  if (out_.timeline) out_.timeline->interrupt(id_, clock_, cycles);
  advance(stats::CycleKind::Ipi, cycles);
}

std::uint64_t Core::tlb_entries_invalidated() const {
  std::uint64_t n = 0;
  for (const tlb::Tlb* t : {&mmu_.l1d(), &mmu_.l1i(), mmu_.l2(), mmu_.l2i()}) {
    if (!t) continue;
    for (unsigned sz = 0; sz < 3; ++sz) n += t->size_stats(static_cast<mmu::PageSize>(sz)).invalidated();
  }
  return n;
}

void Core::count_shootdown(unsigned targets, std::uint64_t wait_cycles, std::uint64_t entries_lost, bool sent) {
  if (sent) {
    ++stats_.shootdowns_sent;
    stats_.ipis_sent += targets;
    stats_.ipi_wait_cycles += wait_cycles;
  } else {
    ++stats_.ipis_received;
    stats_.tlb_entries_shot += entries_lost;
  }
}

void Core::execute_os_event(const Event& ev) {
  kernel::Kernel& k = sys_.os();
  std::uint64_t cycles = 0;
  switch (ev.op) {
    case Op::Spawn:
      cycles = k.spawn(ev.pid, ev.name, ev.automap);
      sys_.known_pids_.insert(ev.pid);
      break;
    case Op::Mmap: {
      kernel::MmapRequest req;
      req.addr = ev.addr;
      req.len = ev.size;
      req.prot = ev.prot;
      req.shared = ev.shared;
      req.populate = ev.populate;
      req.huge = ev.huge;
      req.fixed = ev.fixed;
      req.file = ev.file;
      req.offset = ev.offset;
      req.name = ev.name;
      cycles = k.mmap(ev.pid, req);
      break;
    }
    case Op::Mprotect:
      cycles = k.mprotect(ev.pid, ev.addr, ev.size, ev.prot);
      break;
    case Op::Munmap:
      cycles = k.munmap(ev.pid, ev.addr, ev.size);
      break;
    case Op::Fork:
      cycles = k.fork(ev.pid, ev.pid2);
      sys_.known_pids_.insert(ev.pid2);
      break;
    case Op::Thread:
      cycles = k.thread(ev.pid, ev.pid2);
      sys_.known_pids_.insert(ev.pid2);
      break;
    case Op::Exec:
      // The task goes on in its new address space, on whichever CPU runs it.
      cycles = k.exec(ev.pid, ev.name);
      break;
    case Op::Exit:
      cycles = k.exit(ev.pid);
      break;
    case Op::Switch:
      if (!k.exists(ev.pid)) throw EventError(fmt::format("switch: no live process or thread {}", ev.pid));
    {
      switched_ = true;
      ++stats_.context_switches;
      // What the switch costs later, in misses: the entries its CR3 load dropped.
      const std::uint64_t before = tlb_entries_invalidated(), start = clock_;
      advance(stats::CycleKind::ContextSwitch, k.context_switch(id_, ev.pid));
      stats_.switch_tlb_entries_lost += tlb_entries_invalidated() - before;
      if (out_.timeline) out_.timeline->context_switch(id_, start, clock_ - start, ev.pid);
      return;
    }
    case Op::ExpectFaults: {
      const kernel::TaskCounters& now = k.counters(ev.pid);
      const auto it = sys_.mark_counters_.find(ev.pid);
      const std::uint64_t base_min = it == sys_.mark_counters_.end() ? 0 : it->second.minflt;
      const std::uint64_t base_maj = it == sys_.mark_counters_.end() ? 0 : it->second.majflt;
      ++stats_.expectations;
      if (now.minflt - base_min != ev.minflt)
        fail(ev, fmt::format("expect {} minflt={}: the process took {} minor faults since the last mark",
                             ev.pid, ev.minflt, now.minflt - base_min));
      if (ev.has_majflt && now.majflt - base_maj != ev.majflt)
        fail(ev, fmt::format("expect {} majflt={}: the process took {} major faults since the last mark",
                             ev.pid, ev.majflt, now.majflt - base_maj));
      return;
    }
    case Op::Madvise:
      cycles = k.madvise(ev.pid, ev.addr, ev.size, ev.advice);
      break;
    case Op::File:
      cycles = k.file(ev.file, ev.size, ev.fs_tmpfs);
      break;
    default:
      throw EventError("this event is only valid in bare mode (`mode bare` as the first line)");
  }
  if (out_.timeline) out_.timeline->os_event(id_, clock_, cycles, traces::op_name(ev.op), ev.line);
  advance(stats::CycleKind::OsEvents, cycles);
  if (out_.check) sys_.check_kernel();
}

// ---- bare mode -----------------------------------------------------------------

void Core::execute_bare_event(const Event& ev) {
  switch (ev.op) {
    case Op::Poke: {
      // poke/peek are untimed set-up and inspection (debug transport): an ordinary
      // memory write all the same, so a stale TLB entry stays usable.
      unsigned char bytes[8];
      for (unsigned i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(ev.value >> (8 * i));
      if (ev.size == 0 || ev.size > 8) throw EventError("poke: SIZE must be 1..8 bytes");
      tx_.set_command(tlm::TLM_WRITE_COMMAND);
      tx_.set_address(ev.addr);
      tx_.set_data_ptr(bytes);
      tx_.set_data_length(static_cast<unsigned>(ev.size));
      tx_.set_streaming_width(static_cast<unsigned>(ev.size));
      tx_.set_byte_enable_ptr(nullptr);
      if (data_socket->transport_dbg(tx_) != ev.size)
        throw EventError(fmt::format("poke: physical address {:#x} is beyond 2^MAXPHYADDR", ev.addr));
      return;
    }
    case Op::Peek: {
      unsigned char bytes[8] = {};
      const std::uint64_t size = ev.size ? ev.size : 8;
      if (size > 8) throw EventError("peek: SIZE must be 1..8 bytes");
      tx_.set_command(tlm::TLM_READ_COMMAND);
      tx_.set_address(ev.addr);
      tx_.set_data_ptr(bytes);
      tx_.set_data_length(static_cast<unsigned>(size));
      tx_.set_streaming_width(static_cast<unsigned>(size));
      tx_.set_byte_enable_ptr(nullptr);
      if (data_socket->transport_dbg(tx_) != size)
        throw EventError(fmt::format("peek: physical address {:#x} is beyond 2^MAXPHYADDR", ev.addr));
      std::uint64_t v = 0;
      for (unsigned i = 0; i < size; ++i) v |= std::uint64_t(bytes[i]) << (8 * i);
      if (ev.has_value) {
        ++stats_.expectations;
        if (v != ev.value) fail(ev, fmt::format("peek {:#x}: read {:#x}, expected {:#x}", ev.addr, v, ev.value));
      }
      return;
    }
    case Op::Set:
      for (const auto& [name, value] : ev.sets) set_register(name, value);
      return;
    case Op::Invlpg:
      // INVLPG of a non-canonical address is a no-op (x86-paging-semantics.md §1.2).
      if (mmu::is_canonical(ev.addr, regs_.cr4_la57)) mmu_.invlpg(ev.addr, regs_.pcid());
      return;
    case Op::Invpcid: {
      // SDM §4.10.4.1 / INVPCID: types 0 and 1 act on one PCID (0 when PCIDE=0).
      const auto pcid = static_cast<mmu::u32>(ev.invpcid_pcid & 0xFFF);
      switch (ev.invpcid_type) {
        case 0:
          // A non-canonical address raises #GP(0) and invalidates nothing.
          if (mmu::is_canonical(ev.addr, regs_.cr4_la57)) mmu_.invpcid_address(ev.addr, pcid);
          return;
        case 1: mmu_.invalidate_pcid(pcid, tlb::Flush::InvpcidContext); return;
        case 2: mmu_.invalidate_all(tlb::Flush::InvpcidAll); return;
        case 3: mmu_.invalidate_all_non_global(); return;
        default: throw EventError(fmt::format("invpcid: type {} raises #GP (types are 0..3)", ev.invpcid_type));
      }
    }
    default:
      throw EventError("this event needs the kernel model; it is not valid after `mode bare`");
  }
}

void Core::set_register(const std::string& name, std::uint64_t v) {
  const bool b = v != 0;
  mmu::ControlRegs& r = regs_;
  if (name == "cr3") {
    mov_to_cr3(v);
  } else if (name == "cr4.pge") {
    if (b != r.cr4_pge) mmu_.invalidate_all(tlb::Flush::Cr4);
    r.cr4_pge = b;
  } else if (name == "cr4.pcide") {
    if (r.cr4_pcide && !b) mmu_.invalidate_all(tlb::Flush::Cr4);
    r.cr4_pcide = b;
  } else if (name == "cr4.smep") {
    // SDM §4.10.4.1: SMEP 0→1 invalidates the TLB entries of the current PCID; whether
    // globals count as the PCID's is not said, so drop everything: invalidating more
    // than required is always allowed, keeping a stale global never is.
    if (b && !r.cr4_smep) mmu_.invalidate_all(tlb::Flush::Cr4);
    r.cr4_smep = b;
  } else if (name == "cr4.la57") {
    // Hardware refuses this in long mode (#GP); the contract takes it as a
    // reconfiguration, after which no old translation may survive.
    if (b != r.cr4_la57) mmu_.invalidate_all(tlb::Flush::Cr4);
    r.cr4_la57 = b;
  } else if (name == "efer.nxe") {
    // Not required by the SDM's list, but XD changes meaning: flush (§4.4 advice).
    if (b != r.efer_nxe) mmu_.invalidate_all(tlb::Flush::Efer);
    r.efer_nxe = b;
  } else if (name == "cr0.wp") {
    r.cr0_wp = b;  // no flush: TLB entries hold raw rights (SDM §4.10.2.2)
  } else if (name == "cr4.smap") {
    r.cr4_smap = b;
  } else if (name == "cr4.pke") {
    r.cr4_pke = b;
  } else if (name == "rflags.ac") {
    r.rflags_ac = b;
  } else if (name == "pkru") {
    r.pkru = static_cast<mmu::u32>(v);
  } else if (name == "cpl") {
    if (v > 3) throw EventError(fmt::format("set cpl={}: CPL is 0..3", v));
    r.cpl = static_cast<unsigned>(v);
  } else if (name == "maxphyaddr") {
    if (v < 32 || v > cfg_.mem.maxphyaddr)
      throw EventError(fmt::format("set maxphyaddr={}: must be 32..{} (mem.maxphyaddr)", v, cfg_.mem.maxphyaddr));
    r.maxphyaddr = static_cast<unsigned>(v);
  } else if (name == "cr0.pg" || name == "cr4.pae" || name == "efer.lme") {
    if (!b) throw EventError(fmt::format("set {}=0: only IA-32e (long mode) paging is modelled", name));
  } else {
    throw EventError(fmt::format("set: unknown register '{}'", name));
  }
}

}  // namespace mmusim::hw
