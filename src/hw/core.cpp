#include "hw/core.hpp"

#include <ostream>

#include <fmt/format.h>

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

Core::Core(sc_core::sc_module_name name, const config::Config& cfg, EventSource& events,
           mmu::Mmu& mmu, MemoryTiming& timing, SparseMemory& memory, RunOptions outputs)
    : sc_module(name),
      data_socket("data_socket"),
      cfg_(cfg),
      events_(events),
      mmu_(mmu),
      timing_(timing),
      memory_(memory),
      out_(outputs),
      period_(sc_core::sc_time(1.0 / cfg.core.frequency_ghz, sc_core::SC_NS)) {
  regs_.maxphyaddr = cfg.mem.maxphyaddr;
  SC_THREAD(run);
}

Core::~Core() = default;

void Core::advance(stats::CycleKind kind, std::uint64_t cycles) {
  stats_.cycles[static_cast<size_t>(kind)] += cycles;
  pending_cycles_ += cycles;
}

void Core::commit_time() {
  // Once per event, not per charge: sc_time arithmetic is the costliest part of a
  // TLB hit otherwise, and an event is the unit strict mode synchronises on.
  if (pending_cycles_ == 0) return;
  qk_.inc(period_ * static_cast<double>(pending_cycles_));
  pending_cycles_ = 0;
  if (cfg_.core.strict_timing || qk_.need_sync()) qk_.sync();
}

void Core::run() {
  qk_.reset();
  start_phase("", 1);
  Event ev;
  auto skip = [&](const std::string& why) {
    ++stats_.skipped;
    if (out_.diag) *out_.diag << "mmusim: warning: " << why << " (skipped: --keep-going)\n";
  };
  try {
    for (;;) {
      try {
        if (!events_.next(ev)) break;
      } catch (const traces::TraceError& e) {
        if (!out_.keep_going || !e.recoverable) throw;
        skip(e.what());
        continue;
      }
      ++stats_.events;
      line_ = ev.line;
      try {
        execute(ev);
        commit_time();
      } catch (const std::logic_error& e) {
        // A bug in the model, never an input problem: stop even with --keep-going,
        // but say which line of the trace brought it out.
        throw std::logic_error(fmt::format("{}:{}: internal error: {}", events_.name(), ev.line, e.what()));
      } catch (const std::exception& e) {
        // Kernel refusals, impossible events: one line naming the trace line.
        std::string what = fmt::format("{}:{}: error: {}", events_.name(), ev.line, e.what());
        if (!out_.keep_going) throw EventError(what);
        skip(what);
      }
    }
  } catch (const std::exception& e) {
    // Nothing escapes the SC_THREAD: the run ends here, and System reports it.
    error_ = e.what();
  }
  close_phase();
  commit_time();
  qk_.sync();
}

void Core::execute(const Event& ev) {
  const bool first = !started_;
  started_ = true;
  switch (ev.op) {
    case Op::Read: case Op::Write: case Op::Fetch: case Op::Print:
      access(ev);
      return;
    case Op::Mode:
      if (!first) throw EventError("`mode` must be the first event of a trace");
      bare_ = ev.name == "bare";
      if (!bare_) throw EventError(fmt::format("unknown mode '{}' (expected bare)", ev.name));
      return;
    case Op::Cpu:
      if (ev.pid != 0)
        throw EventError(fmt::format("cpu {}: this machine has 1 core (multi-core is not modelled yet)", ev.pid));
      return;
    case Op::Mark:
      close_phase();
      start_phase(ev.name, ev.line);
      return;
    default:
      break;
  }
  if (bare_) execute_bare_event(ev);
  else execute_os_event(ev);
}

// ---- OS mode -------------------------------------------------------------------

kernel::Kernel& Core::os() {
  if (!kernel_) {
    // Linux runs with EFER.NXE=1 (the kernel's PTEs use XD for non-executable VMAs),
    // CR0.WP=1 and global pages; user code runs at CPL 3.
    regs_.efer_nxe = true;
    regs_.cr0_wp = true;
    regs_.cr4_pge = true;
    regs_.cpl = 3;
    kernel_ = std::make_unique<kernel::Kernel>(memory_, cfg_, *this);
  }
  return *kernel_;
}

void Core::load_task(std::uint32_t pid) {
  const kernel::Mm* mm = &os().mm_of(pid);
  pid_ = pid;
  if (mm == loaded_mm_) return;  // threads of one address space: no CR3 load
  // MOV to CR3 with CR4.PCIDE=0 flushes every non-global entry (SDM §4.10.4.1).
  regs_.cr3 = os().cr3(pid);
  mmu_.invalidate_pcid(regs_.pcid(), tlb::Flush::Cr3);
  loaded_mm_ = mm;
  ++stats_.cr3_loads;
  advance(stats::CycleKind::ContextSwitch, cfg_.core.cr3_write_cycles);
}

void Core::task_gone(std::uint32_t pid) {
  if (pid != pid_) return;
  // Like a CPU whose task exited: it switches to the kernel's own page tables, so
  // nothing of the dead address space stays cached.
  pid_ = 0;
  if (loaded_mm_) mmu_.invalidate_pcid(regs_.pcid(), tlb::Flush::Cr3);
  loaded_mm_ = nullptr;
  regs_.cr3 = 0;
}

std::uint32_t Core::current_pid(const Event& ev) {
  if (pid_ != 0) return pid_;
  kernel::Kernel& k = os();
  if (!switched_) {
    // Before its first `switch`, a CPU runs the first process the trace spawned; a
    // trace with no spawn runs in process 1, created with automap (TRACE_FORMAT.md).
    if (k.first_spawned() == 0) {
      k.spawn(1, "", true);
      known_pids_.insert(1);
    }
    const std::uint32_t first = k.first_spawned();
    if (k.exists(first)) {
      load_task(first);
      return pid_;
    }
  }
  (void)ev;
  throw EventError("no process runs on CPU 0 (its task exited); a `switch PID` must come first");
}

void Core::flush_tlb_page(const kernel::Mm& mm, std::uint64_t va) {
  if (&mm == loaded_mm_) mmu_.invlpg(va, regs_.pcid());
}

void Core::flush_tlb_mm(const kernel::Mm& mm) {
  if (&mm == loaded_mm_) mmu_.invalidate_pcid(regs_.pcid(), tlb::Flush::Cr3);
}

void Core::execute_os_event(const Event& ev) {
  kernel::Kernel& k = os();
  std::uint64_t cycles = 0;
  switch (ev.op) {
    case Op::Spawn:
      cycles = k.spawn(ev.pid, ev.name, ev.automap);
      known_pids_.insert(ev.pid);
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
      known_pids_.insert(ev.pid2);
      break;
    case Op::Thread:
      cycles = k.thread(ev.pid, ev.pid2);
      known_pids_.insert(ev.pid2);
      break;
    case Op::Exec: {
      const bool running = ev.pid == pid_;
      if (running) task_gone(ev.pid);
      cycles = k.exec(ev.pid, ev.name);
      if (running) load_task(ev.pid);  // the task goes on, in its new address space
      break;
    }
    case Op::Exit:
      cycles = k.exit(ev.pid);
      task_gone(ev.pid);
      break;
    case Op::Switch:
      if (!k.exists(ev.pid)) throw EventError(fmt::format("switch: no live process or thread {}", ev.pid));
      switched_ = true;
      ++stats_.context_switches;
      load_task(ev.pid);
      return;
    case Op::ExpectFaults: {
      const kernel::TaskCounters& now = k.counters(ev.pid);
      const auto it = mark_counters_.find(ev.pid);
      const std::uint64_t base_min = it == mark_counters_.end() ? 0 : it->second.minflt;
      const std::uint64_t base_maj = it == mark_counters_.end() ? 0 : it->second.majflt;
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
  advance(stats::CycleKind::OsEvents, cycles);
  // An exit, exec or kill can end this CPU's task as a side effect (exec and a
  // fatal signal end the whole thread group): then the CPU runs nothing.
  if (pid_ != 0 && !k.exists(pid_)) task_gone(pid_);
  if (out_.check) check_kernel();
}

void Core::check_kernel() {
  if (!kernel_) return;
  const std::vector<std::string> problems = kernel_->check_invariants();
  if (!problems.empty())
    throw std::logic_error(fmt::format("invariant violated after this line: {}", problems.front()));
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
    // MOV to CR3 (SDM §4.10.4.1): with PCIDE=1, bit 63 asks not to flush and is not
    // stored; otherwise the new PCID's non-global entries go.
    const bool no_flush = r.cr4_pcide && (v >> 63);
    r.cr3 = v & ~(1ull << 63);
    if (!no_flush) mmu_.invalidate_pcid(r.pcid(), tlb::Flush::Cr3);
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

// ---- phases --------------------------------------------------------------------

void Core::start_phase(const std::string& name, std::uint64_t line) {
  stats::Phase p;
  p.name = name;
  p.start_line = line;
  p.start = stats_.phase_counters();
  stats_.phases.push_back(std::move(p));
  // `expect PID minflt=N` and the phase report count from this snapshot; a task
  // born later starts from zero.
  mark_counters_.clear();
  if (kernel_)
    for (std::uint32_t pid : known_pids_) mark_counters_[pid] = kernel_->counters(pid);
}

void Core::close_phase() {
  if (stats_.phases.empty()) return;
  stats::Phase& p = stats_.phases.back();
  const stats::PhaseCounters now = stats_.phase_counters();
  p.counters.accesses = now.accesses - p.start.accesses;
  p.counters.translations = now.translations - p.start.translations;
  p.counters.tlb_hits = now.tlb_hits - p.start.tlb_hits;
  p.counters.page_faults = now.page_faults - p.start.page_faults;
  for (size_t i = 0; i < now.cycles.size(); ++i) p.counters.cycles[i] = now.cycles[i] - p.start.cycles[i];
  if (!kernel_) return;
  for (std::uint32_t pid : known_pids_) {
    const auto it = mark_counters_.find(pid);
    p.tasks[pid] = stats::subtract(kernel_->counters(pid),
                                   it == mark_counters_.end() ? kernel::TaskCounters{} : it->second);
  }
}

}  // namespace mmusim::hw
