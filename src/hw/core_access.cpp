// The access path of the core: translation of each page an access touches, the
// fault → kernel → retry loop of OS mode, the data transfer, expectations and logs.
#include <ostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "hw/core.hpp"
#include "hw/system.hpp"

namespace mmusim::hw {

using traces::Event;
using traces::Expect;
using traces::Op;

namespace {

// More faults than this on one access means the kernel did not fix what the
// hardware reported: a model bug, stopped rather than looped on.
constexpr unsigned kMaxFaultsPerAccess = 16;

const char* vector_name(mmu::Vector v) {
  switch (v) {
    case mmu::Vector::PF: return "#PF";
    case mmu::Vector::GP: return "#GP";
    case mmu::Vector::SS: return "#SS";
    default: return "none";
  }
}

bool is_kill(kernel::Resolution r) {
  return r == kernel::Resolution::Sigsegv || r == kernel::Resolution::Sigbus || r == kernel::Resolution::Oom;
}

}  // namespace

void Core::fail(const Event& ev, const std::string& what) {
  ++stats_.expectations_failed;
  if (out_.diag) *out_.diag << fmt::format("{}:{}: expectation failed: {}\n", sys_.trace_name(), ev.line, what);
}

void Core::data_transfer(tlm::tlm_command cmd, const Piece& p, unsigned char* bytes) {
  tx_.set_command(cmd);
  tx_.set_address(p.pa);
  tx_.set_data_ptr(bytes);
  tx_.set_data_length(p.len);
  tx_.set_streaming_width(p.len);
  tx_.set_byte_enable_ptr(nullptr);
  tx_.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  sc_core::sc_time delay = sc_core::SC_ZERO_TIME;
  data_socket->b_transport(tx_, delay);
  if (tx_.is_response_error())
    throw std::runtime_error(fmt::format("physical address {:#x} does not exist (beyond 2^MAXPHYADDR)", p.pa));
}

void Core::access(const Event& ev) {
  const bool write = ev.op == Op::Write;
  const bool fetch = ev.op == Op::Fetch;
  const std::uint64_t size = ev.size;
  if (size == 0) throw std::runtime_error("access size must be at least 1 byte");
  if ((ev.has_value || ev.op == Op::Print) && size > 8)
    throw std::runtime_error("an access with a value is at most 8 bytes");

  // Expectations belong to one mode: a signal needs the kernel; an exception
  // vector is what bare mode reports (in OS mode the kernel handles it).
  const bool signal_expect = ev.expect == Expect::Sigsegv || ev.expect == Expect::Sigbus;
  const bool vector_expect = ev.expect == Expect::PageFault || ev.expect == Expect::GeneralProtection ||
                             ev.expect == Expect::StackFault;
  if (sys_.bare_ && signal_expect)
    throw std::runtime_error("expect=SIGSEGV/SIGBUS needs the kernel model (OS mode); bare mode reports #PF/#GP/#SS");
  if (!sys_.bare_ && vector_expect)
    throw std::runtime_error("expect=#PF/#GP/#SS is for bare mode; in OS mode expect the signal (expect=SIGSEGV)");

  pid_ = sys_.bare_ ? 0 : current_pid(ev);
  ++stats_.accesses;
  ++(write ? stats_.writes : fetch ? stats_.fetches : stats_.reads);

  mmu::Access a;
  a.type = write ? mmu::AccessType::Write : fetch ? mmu::AccessType::Fetch : mmu::AccessType::Read;
  a.implicit = ev.implicit;
  a.stack = ev.stack;
  a.rmw = ev.rmw;
  // `user=0` is a supervisor-mode access; in OS mode user code runs at CPL 3.
  const unsigned cpl = ev.supervisor ? 0 : regs_.cpl;
  a.user_mode = cpl == 3 && !ev.implicit;
  mmu::ControlRegs cr = regs_;
  cr.cpl = cpl;

  // An access that crosses a 4 KiB boundary is two translations, lower page first.
  Piece pieces[2];
  const std::uint64_t first_len = std::min<std::uint64_t>(size, mmu::kPageSize4K - (ev.addr & 0xFFF));
  pieces[0] = {ev.addr, 0, static_cast<unsigned>(first_len)};
  unsigned n = 1;
  if (first_len < size) {
    pieces[1] = {ev.addr + first_len, 0, static_cast<unsigned>(size - first_len)};
    n = 2;
    ++stats_.page_splits;
  }

  // Only an access log needs the access's own cycle count.
  const std::uint64_t cycles_before = out_.access_log ? stats_.total_cycles() : 0;
  unsigned faults = 0;
  mmu::Fault last_fault;
  for (;;) {
    mmu::Fault fault;
    std::uint64_t translation_cycles = 0;
    for (unsigned i = 0; i < n && !fault; ++i) {
      a.la = pieces[i].la;
      const mmu::Translated t = mmu_.translate(a, cr);
      ++stats_.translations;
      stats_.tlb_hits += t.tlb_hit();
      advance(stats::CycleKind::Tlb, t.tlb_cycles);
      // A restarted access's walk is drawn as its fault's retry_walk step.
      if (out_.timeline && t.walk_cycles && !fault_open_)
        out_.timeline->walk(id_, clock_, t.walk_cycles, a.la, static_cast<bool>(t.fault));
      if (t.walk_cycles) advance(stats::CycleKind::Walk, t.walk_cycles);
      translation_cycles += t.tlb_cycles + t.walk_cycles;
      if (t.fault) fault = t.fault;
      else pieces[i].pa = t.pa;
    }
    if (fault_open_) {
      // The fault before this translation ends here: the restarted access's TLB
      // lookups and walk are the last part of what the fault cost the program.
      record_.steps.push_back({"retry_walk", translation_cycles});
      record_.total_cycles += translation_cycles;
      record_fault(ev);
    }
    if (!fault) break;
    last_fault = fault;
    ++faults;
    bool retry = false;
    const bool ended = handle_fault(ev, fault, retry);
    if (!retry || faults >= kMaxFaultsPerAccess) {
      if (retry) throw std::runtime_error(fmt::format("fault loop at {:#x}: the kernel model did not resolve it", fault.cr2));
      (void)ended;
      check_access_expectations(ev, pieces, n, 0, &last_fault);
      log_access(ev, pieces, n, &last_fault, faults, stats_.total_cycles() - cycles_before);
      return;
    }
  }

  // The access itself. Contents are modelled where the trace gives values.
  std::uint64_t value = 0;
  unsigned char bytes[8] = {};
  if (write && ev.has_value) {
    for (unsigned i = 0; i < size; ++i) bytes[i] = static_cast<unsigned char>(ev.value >> (8 * i));
    data_transfer(tlm::TLM_WRITE_COMMAND, pieces[0], bytes);
    if (n == 2) data_transfer(tlm::TLM_WRITE_COMMAND, pieces[1], bytes + pieces[0].len);
  } else if (!write && (ev.has_value || ev.op == Op::Print)) {
    data_transfer(tlm::TLM_READ_COMMAND, pieces[0], bytes);
    if (n == 2) data_transfer(tlm::TLM_READ_COMMAND, pieces[1], bytes + pieces[0].len);
    for (unsigned i = 0; i < size; ++i) value |= std::uint64_t(bytes[i]) << (8 * i);
  }
  // The data access's time is what the memory hierarchy gives each piece. Instruction
  // fetches go through the data caches too: there is no L1 instruction cache model.
  std::uint64_t data_cycles = 0;
  for (unsigned i = 0; i < n; ++i) data_cycles += timing_.access(pieces[i].pa, write, Requester::Data).cycles;
  advance(stats::CycleKind::Data, data_cycles);

  if (ev.op == Op::Print && out_.out) *out_.out << ev.name << ": " << value << '\n';
  // The common access, unchecked and unlogged, calls neither.
  if (ev.has_value || ev.expect != Expect::None || faults)
    check_access_expectations(ev, pieces, n, value, faults ? &last_fault : nullptr);
  if (out_.access_log)
    log_access(ev, pieces, n, faults ? &last_fault : nullptr, faults, stats_.total_cycles() - cycles_before);
}

// Returns true if the access is over (bare mode, or the task was killed); sets
// `retry` when the kernel fixed the cause and the access must be restarted.
bool Core::handle_fault(const Event& ev, const mmu::Fault& f, bool& retry) {
  retry = false;
  if (f.vector == mmu::Vector::PF) ++stats_.page_faults;
  else ++(f.vector == mmu::Vector::GP ? stats_.gp_faults : stats_.ss_faults);
  if (sys_.bare_) return true;  // bare mode records the fault and goes on with the next line

  const std::uint32_t pid = pid_;
  if (f.vector != mmu::Vector::PF) {
    // A user-mode #GP is SIGSEGV (si_code SI_KERNEL), #SS is SIGBUS
    // (arch/x86/kernel/traps.c: exc_general_protection, exc_stack_segment).
    ++stats_.signals;
    if (out_.out)
      *out_.out << fmt::format("[line {}] pid {}: {} at {:#x} (non-canonical address): killed by {}\n", ev.line,
                               pid, vector_name(f.vector), ev.addr, f.vector == mmu::Vector::GP ? "SIGSEGV" : "SIGBUS");
    // The teardown is the kernel's, but not a page fault's: the Kernel kind holds
    // exactly the faults' cycles.
    advance(stats::CycleKind::OsEvents, sys_.os().kill(pid));
    pid_ = 0;
    return true;
  }

  record_.clear();
  fault_pid_ = pid;
  fault_start_ = clock_;
  sys_.os().exc_page_fault(pid, f.cr2, f.error_code, record_);
  advance(stats::CycleKind::Kernel, record_.total_cycles);
  if (out_.check) sys_.check_kernel();
  fault_open_ = true;
  if (is_kill(record_.resolution)) record_fault(ev);  // no access is restarted

  if (is_kill(record_.resolution)) {
    ++stats_.signals;
    if (out_.out) {
      const char* sig = record_.resolution == kernel::Resolution::Sigbus ? "SIGBUS"
                        : record_.resolution == kernel::Resolution::Oom   ? "SIGKILL (out of memory)"
                                                                          : "SIGSEGV";
      const char* code = record_.resolution != kernel::Resolution::Sigsegv ? ""
                         : record_.si_code == kernel::SEGV_MAPERR         ? " (SEGV_MAPERR)"
                                                                          : " (SEGV_ACCERR)";
      *out_.out << fmt::format("[line {}] pid {}: {}{} at {:#x}, error code {:#x}\n", ev.line, pid, sig, code,
                               f.cr2, f.error_code);
    }
    pid_ = 0;
    return true;
  }
  retry = true;
  return false;
}

void Core::record_fault(const Event& ev) {
  fault_open_ = false;
  stats_.huge_faults += record_.huge;
  auto& fk = stats_.faults[static_cast<size_t>(record_.resolution)];
  ++fk.count;
  fk.cycles += record_.total_cycles;
  fk.max_cycles = std::max(fk.max_cycles, record_.total_cycles);
  fk.latency.record(record_.total_cycles);
  if (!sys_.examples_.count(record_.resolution)) sys_.examples_[record_.resolution] = {ev.line, fault_pid_, record_};
  log_fault(ev, record_);
  if (out_.timeline) out_.timeline->fault(id_, fault_start_, ev.line, fault_pid_, record_);
}

void Core::check_access_expectations(const Event& ev, const Piece* pieces, unsigned n, std::uint64_t value,
                                     const mmu::Fault* fault) {
  const bool killed = !sys_.bare_ && fault && pid_ == 0;
  // A fault that ends the access: in bare mode every fault, in OS mode a kill.
  const mmu::Fault* final_fault = sys_.bare_ ? fault : (killed ? fault : nullptr);
  if (ev.has_value && ev.op != Op::Write) {
    ++stats_.expectations;
    if (final_fault)
      fail(ev, fmt::format("r {:#x} ={:#x}: the access faulted ({} error code {:#x})", ev.addr, ev.value,
                           vector_name(final_fault->vector), final_fault->error_code));
    else if (value != ev.value)
      fail(ev, fmt::format("r {:#x}: read {:#x}, expected {:#x}", ev.addr, value, ev.value));
  }
  if (ev.expect == Expect::None) {
    if (killed) {
      ++stats_.expectations;
      fail(ev, fmt::format("the process was killed by this access, which does not carry expect=SIGSEGV/SIGBUS"));
    }
    return;
  }
  ++stats_.expectations;
  switch (ev.expect) {
    case Expect::PhysAddr:
      if (final_fault)
        fail(ev, fmt::format("expected pa {:#x}, got {} error code {:#x}", ev.expect_value,
                             vector_name(final_fault->vector), final_fault->error_code));
      else if (pieces[0].pa != ev.expect_value)
        fail(ev, fmt::format("expected pa {:#x}, got {:#x}", ev.expect_value, pieces[0].pa));
      return;
    case Expect::PageFault:
      if (!final_fault || final_fault->vector != mmu::Vector::PF)
        fail(ev, fmt::format("expected #PF:{:#x}, got {}", ev.expect_value,
                             final_fault ? vector_name(final_fault->vector) : "no fault"));
      else if (final_fault->error_code != ev.expect_value)
        fail(ev, fmt::format("expected #PF:{:#x}, got #PF:{:#x} (cr2 {:#x})", ev.expect_value,
                             final_fault->error_code, final_fault->cr2));
      else if (final_fault->cr2 != pieces[0].la && !(n == 2 && final_fault->cr2 == pieces[1].la))
        // SDM §4.7 / §6.15 (#PF): CR2 is the linear address of the first byte of
        // the access in the faulting page.
        fail(ev, fmt::format("#PF:{:#x} with cr2 {:#x}; expected cr2 {:#x}{}", ev.expect_value, final_fault->cr2,
                             pieces[0].la, n == 2 ? fmt::format(" or {:#x}", pieces[1].la) : ""));
      return;
    case Expect::GeneralProtection:
    case Expect::StackFault: {
      const mmu::Vector want = ev.expect == Expect::GeneralProtection ? mmu::Vector::GP : mmu::Vector::SS;
      if (!final_fault || final_fault->vector != want)
        fail(ev, fmt::format("expected {}, got {}", vector_name(want),
                             final_fault ? vector_name(final_fault->vector) : "no fault"));
      return;
    }
    case Expect::Sigsegv:
    case Expect::Sigbus: {
      const bool want_segv = ev.expect == Expect::Sigsegv;
      if (!killed) {
        fail(ev, fmt::format("expected {}, but the access completed", want_segv ? "SIGSEGV" : "SIGBUS"));
        return;
      }
      const bool got_segv = fault->vector == mmu::Vector::GP ||
                            (fault->vector == mmu::Vector::PF && record_.resolution == kernel::Resolution::Sigsegv);
      if (got_segv != want_segv) {
        fail(ev, fmt::format("expected {}, got {}", want_segv ? "SIGSEGV" : "SIGBUS", got_segv ? "SIGSEGV" : "another signal"));
        return;
      }
      if (want_segv && ev.expect_segv != traces::SegvCode::Any) {
        const int want = ev.expect_segv == traces::SegvCode::MapErr ? kernel::SEGV_MAPERR : kernel::SEGV_ACCERR;
        if (fault->vector != mmu::Vector::PF || record_.si_code != want)
          fail(ev, fmt::format("expected SIGSEGV:{}, got si_code {}", want == kernel::SEGV_MAPERR ? "MAPERR" : "ACCERR",
                               fault->vector == mmu::Vector::PF ? record_.si_code : 0x80));
      }
      if (ev.expect_has_code && fault->error_code != ev.expect_value)
        fail(ev, fmt::format("expected error code {:#x}, got {:#x}", ev.expect_value, fault->error_code));
      return;
    }
    default:
      return;
  }
}

void Core::log_access(const Event& ev, const Piece* pieces, unsigned n, const mmu::Fault* fault, unsigned faults,
                      std::uint64_t cycles) {
  if (!out_.access_log) return;
  nlohmann::json j;
  j["line"] = ev.line;
  j["cpu"] = id_;
  j["pid"] = pid_;
  j["op"] = std::string(traces::op_name(ev.op));
  j["va"] = fmt::format("{:#x}", ev.addr);
  j["size"] = ev.size;
  const bool completed = !(fault && (sys_.bare_ || pid_ == 0));
  if (completed) {
    j["pa"] = fmt::format("{:#x}", pieces[0].pa);
    if (n == 2) j["pa2"] = fmt::format("{:#x}", pieces[1].pa);
  }
  if (fault) {
    nlohmann::json f;
    f["vector"] = vector_name(fault->vector);
    f["error_code"] = fmt::format("{:#x}", fault->error_code);
    if (fault->vector == mmu::Vector::PF) f["cr2"] = fmt::format("{:#x}", fault->cr2);
    if (!sys_.bare_ && fault->vector == mmu::Vector::PF) f["resolution"] = kernel::to_string(record_.resolution);
    j["fault"] = std::move(f);
    j["faults"] = faults;
  }
  j["cycles"] = cycles;
  *out_.access_log << j.dump() << '\n';
}

void Core::log_fault(const Event& ev, const kernel::FaultRecord& rec) {
  if (!out_.fault_log) return;
  nlohmann::json j;
  j["line"] = ev.line;
  j["cpu"] = id_;
  j["pid"] = pid_;
  j["address"] = fmt::format("{:#x}", rec.address);
  j["access"] = std::string(traces::op_name(ev.op));
  j["error_code"] = fmt::format("{:#x}", rec.error_code);
  j["resolution"] = kernel::to_string(rec.resolution);
  if (rec.huge) j["huge"] = true;  // resolved at PMD level (a THP or the huge zero page)
  if (rec.si_code) j["si_code"] = rec.si_code;
  j["cycles"] = rec.total_cycles;
  j["ns"] = cfg_.cycles_to_ns(rec.total_cycles);
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& s : rec.steps) steps.push_back({{"step", s.name}, {"cycles", s.cycles}});
  j["steps"] = std::move(steps);
  nlohmann::json path = nlohmann::json::array();
  for (const auto& f : rec.path) path.push_back({{"function", f.function}, {"cycles", f.cycles}});
  j["path"] = std::move(path);
  *out_.fault_log << j.dump() << '\n';
}

}  // namespace mmusim::hw
