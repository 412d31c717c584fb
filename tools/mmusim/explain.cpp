// `mmusim explain`: one access of a trace, step by step (explain.hpp, docs/explain.md).
//
// The trace runs on the ordinary machine (hw::System) with an event source that stops
// before line N and keeps that event. When sc_start returns, every structure holds
// what the access would meet: the core's registers, its TLBs, paging-structure caches
// and data caches, physical memory and the kernel. SystemC is not run again; what
// follows is plain calls: const probes first (they change no replacement state), the
// SDM's rules as the pure functions of src/mmu over a copy-on-write view of memory
// (so the display's walk sets no A/D bit), then the real Mmu::translate and, in OS
// mode, Kernel::exc_page_fault and the retry, as Core::access does them.
#include "explain.hpp"
#include "explain_text.hpp"
#include "explain_walk.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <sstream>

#include "config/config.hpp"
#include "hw/system.hpp"
#include "hw/trace_source.hpp"
#include "kernel/kernel.hpp"
#include "mmu/reserved.hpp"
#include "mmu/rights.hpp"
#include "mmu/walk.hpp"
#include "traces/input.hpp"
#include "traces/reader.hpp"
#include "traces/text_writer.hpp"
#include "traces/trace_error.hpp"

namespace mmusim::cli {
namespace {

namespace po = boost::program_options;
// explain_text brings the names used here too (json, Level, u64, Event, Op).
using namespace explain_text;
using namespace explain_walk;

constexpr int kExitOk = 0;
constexpr int kExitBadInput = 2;
// As Core::access: more faults than this on one access is a model bug, not a fix.
constexpr unsigned kMaxRounds = 16;

// An error that names the trace and line, exit status 2.
struct ExplainError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

bool is_access(Op op) { return op == Op::Read || op == Op::Write || op == Op::Fetch || op == Op::Print; }

// ---- the event source --------------------------------------------------------------

// The trace up to line N: the first event at or after N is kept, not executed, and the
// run ends there. An OS-mode access that is the trace's first OS event would boot the
// kernel and spawn process 1 with automap (Core::current_pid, TRACE_FORMAT.md); that
// spawn goes in as an event of its own so that the kernel the access meets exists.
class StopBefore : public hw::EventSource {
 public:
  StopBefore(hw::EventSource& in, u64 line) : in_(in), line_(line) {}

  bool next(Event& ev) override {
    if (stopped_) return false;
    if (!in_.next(ev)) return false;
    if (ev.line < line_) return true;
    kept_ = ev;
    stopped_ = true;
    if (sys_ && is_access(ev.op) && !sys_->bare_mode() && sys_->kernel() == nullptr) {
      Event spawn;
      spawn.op = Op::Spawn;
      spawn.line = ev.line;
      spawn.pid = 1;
      spawn.automap = true;
      ev = spawn;
      booted_ = true;
      return true;
    }
    return false;
  }
  const std::string& name() const override { return in_.name(); }

  void attach(const hw::System& sys) { sys_ = &sys; }
  const std::optional<Event>& kept() const { return kept_; }
  bool booted() const { return booted_; }

 private:
  hw::EventSource& in_;
  u64 line_;
  const hw::System* sys_ = nullptr;
  std::optional<Event> kept_;
  bool stopped_ = false;
  bool booted_ = false;
};


std::string_view resolution_text(kernel::Resolution r) {
  switch (r) {
    case kernel::Resolution::AnonymousPage:
      return "do_anonymous_page: a new zeroed frame, mapped writable";
    case kernel::Resolution::ZeroPage:
      return "do_anonymous_page: the shared zero page, mapped read-only";
    case kernel::Resolution::CowCopy:
      return "copy on write: a new frame, the page copied into it";
    case kernel::Resolution::CowReuse:
      return "the page's only user keeps it: the PTE made writable, no copy";
    case kernel::Resolution::Spurious:
      return "spurious: the PTE already allowed the access; nothing to change";
    case kernel::Resolution::Sigsegv:
      return "bad_area: the task is killed by SIGSEGV";
    case kernel::Resolution::Sigbus:
      return "the task is killed by SIGBUS";
    case kernel::Resolution::Oom:
      return "no frame could be allocated: the task is killed";
    case kernel::Resolution::PageCache:
      return "do_fault: the page-cache page mapped";
  }
  return "";
}

// OS mode: the kernel's #PF handler for `f`, as Core::handle_fault calls it. Returns
// true when the access is retried.
bool kernel_handles(Ctx& c, const mmu::Fault& f, std::string& t, json& j) {
  kernel::FaultRecord rec;
  c.sys.kernel()->exc_page_fault(c.pid, f.cr2, f.error_code, rec);
  j["kind"] = "page_fault_handler";
  j["resolution"] = kernel::to_string(rec.resolution);
  j["cycles"] = rec.total_cycles;
  j["ns"] = c.cfg.cycles_to_ns(rec.total_cycles);
  t += fmt::format("\nThe kernel handles the #PF (pid {}, address {:#x}, error code {:#x})\n", c.pid, f.cr2,
                   f.error_code);
  t += fmt::format("  resolved as {}: {}{}\n", kernel::to_string(rec.resolution), resolution_text(rec.resolution),
                   rec.huge ? " (at PMD level: 2 MiB)" : "");
  if (rec.si_code)
    t += fmt::format(
        "  si_code {} ({})\n", rec.si_code,
        rec.resolution == kernel::Resolution::Sigsegv
            ? (rec.si_code == kernel::SEGV_MAPERR ? "SEGV_MAPERR: no VMA" : "SEGV_ACCERR: the VMA forbids it")
            : "BUS_ADRERR");
  const double ghz = c.cfg.core.frequency_ghz;
  t += fmt::format("  steps, in order ({} GHz)          cycles         ns\n", ghz);
  json js = json::array();
  for (const auto& s : rec.steps) {
    t += fmt::format("    {:<28} {:>9} {:>10.1f}\n", s.name, s.cycles, c.cfg.cycles_to_ns(s.cycles));
    js.push_back({{"step", s.name}, {"cycles", s.cycles}, {"ns", c.cfg.cycles_to_ns(s.cycles)}});
  }
  t += fmt::format("    {:<28} {:>9} {:>10.1f}\n", "total", rec.total_cycles, c.cfg.cycles_to_ns(rec.total_cycles));
  j["steps"] = js;
  t += "  kernel path (innermost first; cycles include callees)\n";
  json jp = json::array();
  for (const auto& fr : rec.path) {
    t += fmt::format("    {:<28} {:>9} {:>10.1f}\n", fr.function, fr.cycles, c.cfg.cycles_to_ns(fr.cycles));
    jp.push_back({{"function", fr.function}, {"cycles", fr.cycles}});
  }
  j["path"] = jp;
  const bool killed = rec.resolution == kernel::Resolution::Sigsegv || rec.resolution == kernel::Resolution::Sigbus ||
                      rec.resolution == kernel::Resolution::Oom;
  j["retry"] = !killed;
  t += killed ? "  the task is dead: the access never completes\n"
              : "  the handler returns (IRET) and the faulting instruction runs again\n";
  return !killed;
}

// Before its first `switch` a CPU runs the trace's first process (Core::current_pid).
void find_task(Ctx& c, std::string& note) {
  kernel::Kernel& k = *c.sys.kernel();
  if ((c.pid = k.current(c.cpu))) return;
  if (c.sys.core(c.cpu).stats().context_switches == 0 && k.first_spawned() != 0 && k.exists(k.first_spawned())) {
    c.pid = k.first_spawned();
    k.context_switch(c.cpu, c.pid, false);  // loads its CR3, as the run would here
    c.cr = c.sys.core(c.cpu).regs();
    note = fmt::format("no task ran on CPU {} yet: this access starts pid {}, the first process of the trace", c.cpu,
                       c.pid);
    return;
  }
  throw std::runtime_error(
      fmt::format("no process runs on CPU {} (its task exited): the run stops at this access", c.cpu));
}

struct Options {
  std::string trace;
  u64 line = 0;
  bool json = false;
  traces::Format format = traces::Format::Auto;
  config::Config cfg;
};

int explain_line(Options& o, std::ostream& out) {
  hw::TraceSource trace(o.trace, o.format);
  StopBefore source(trace, o.line);
  hw::RunOptions outs;  // no program output, no diagnostics: only the explanation
  hw::quiet_systemc();
  hw::System sys(o.cfg, source, outs);
  source.attach(sys);
  sys.run();

  const std::string where = fmt::format("{}:{}", o.trace, o.line);
  if (sys.error()) throw ExplainError(fmt::format("the run stopped before line {}: {}", o.line, *sys.error()));
  if (!source.kept())
    throw ExplainError(fmt::format("{}: error: line {} is never reached (the trace ends before it)", where, o.line));
  const Event ev = *source.kept();
  if (ev.line != o.line)
    throw ExplainError(
        fmt::format("{}: error: line {} holds no event (blank or a comment); the next event is on line {}", where,
                    o.line, ev.line));
  if (!is_access(ev.op))
    throw ExplainError(
        fmt::format("{}: error: line {} is not an access (r, w, x or print): `{}`", where, o.line, render_event(ev)));
  // What Core::access refuses, refused here too: the run would stop at this line.
  if (ev.size == 0) throw ExplainError(fmt::format("{}: error: access size must be at least 1 byte", where));
  if ((ev.has_value || ev.op == Op::Print) && ev.size > 8)
    throw ExplainError(fmt::format("{}: error: an access with a value is at most 8 bytes", where));
  const bool signal_expect = ev.expect == traces::Expect::Sigsegv || ev.expect == traces::Expect::Sigbus;
  const bool vector_expect = ev.expect == traces::Expect::PageFault || ev.expect == traces::Expect::GeneralProtection ||
                             ev.expect == traces::Expect::StackFault;
  if (sys.bare_mode() && signal_expect)
    throw ExplainError(fmt::format("{}: error: expect=SIGSEGV/SIGBUS needs the kernel model (OS mode)", where));
  if (!sys.bare_mode() && vector_expect)
    throw ExplainError(fmt::format("{}: error: expect=#PF/#GP/#SS is for bare mode", where));

  Ctx c(sys, o.cfg);
  c.cpu = sys.running_cpu();
  c.os = !sys.bare_mode();
  c.cr = sys.core(c.cpu).regs();
  std::string note;
  if (c.os) find_task(c, note);
  if (source.booted())
    note = fmt::format(
        "the trace has no process before this line: the kernel boots here and spawns pid 1 with "
        "automap, as the run does{}",
        note.empty() ? "" : "; " + note);

  // As Core::access: `user=0` is a supervisor access; user code runs at CPL 3.
  const unsigned cpl = ev.supervisor ? 0 : c.cr.cpl;
  c.cr.cpl = cpl;
  c.a.type = ev.op == Op::Write   ? mmu::AccessType::Write
             : ev.op == Op::Fetch ? mmu::AccessType::Fetch
                                  : mmu::AccessType::Read;
  c.a.implicit = ev.implicit;
  c.a.stack = ev.stack;
  c.a.rmw = ev.rmw;
  c.a.user_mode = cpl == 3 && !ev.implicit;
  const mmu::ControlRegs& cr = c.cr;

  std::string t;
  json j;
  j["trace"] = o.trace;
  j["line"] = o.line;
  j["event"] = render_event(ev);
  const auto src = source_line(o.trace, o.line);
  if (src) j["source"] = *src;
  j["mode"] = c.os ? "os" : "bare";
  j["cpu"] = c.cpu;
  if (c.os) j["pid"] = c.pid;
  j["op"] = ev.op == Op::Write ? "w" : ev.op == Op::Fetch ? "x" : ev.op == Op::Print ? "print" : "r";
  j["address"] = hex(ev.addr);
  j["size"] = ev.size;
  j["user_mode"] = c.a.user_mode;
  j["cpl"] = cpl;
  if (!note.empty()) j["note"] = note;
  j["registers"] = {{"cr3", hex(cr.cr3)},        {"pcid", cr.pcid()},          {"cr0_wp", cr.cr0_wp},
                    {"cr4_pcide", cr.cr4_pcide}, {"cr4_pge", cr.cr4_pge},      {"cr4_smep", cr.cr4_smep},
                    {"cr4_smap", cr.cr4_smap},   {"cr4_pke", cr.cr4_pke},      {"cr4_la57", cr.cr4_la57},
                    {"efer_nxe", cr.efer_nxe},   {"rflags_ac", cr.rflags_ac},  {"cpl", cpl},
                    {"pkru", hex(cr.pkru)},      {"maxphyaddr", cr.maxphyaddr}};

  t += fmt::format("mmusim explain: {}, line {} ({})\n", o.trace, o.line,
                   c.os ? "OS mode" : "bare mode: no kernel, a fault is reported and not handled");
  t += fmt::format("  {}\n", src ? *src : render_event(ev));
  if (!note.empty()) t += fmt::format("  note: {}\n", note);
  t += "\nThe access\n";
  t += fmt::format("  {:<12} {}\n", "CPU", c.cpu);
  if (c.os) t += fmt::format("  {:<12} {}\n", "pid", c.pid);
  t += fmt::format("  {:<12} {} of {} byte{}{}{}{}\n", "operation", op_word(ev.op), ev.size, ev.size == 1 ? "" : "s",
                   ev.rmw ? ", locked read-modify-write (a write for paging, SDM §4.7)" : "",
                   ev.stack ? ", a stack reference" : "", ev.implicit ? ", implicit supervisor access" : "");
  t += fmt::format("  {:<12} {:#x} (linear)\n", "address", ev.addr);
  t += fmt::format("  {:<12} {} (CPL {}{})\n", "privilege", c.a.user_mode ? "user mode" : "supervisor mode", cpl,
                   ev.supervisor ? ", user=0 on the line"
                   : ev.implicit ? ", implicit"
                                 : "");
  t += fmt::format("  {:<12} {:#x}: {} table at {:#x}, {}\n", "CR3", cr.cr3, table_name(mmu::top_level(cr.cr4_la57)),
                   cr.root_table(),
                   cr.cr4_pcide ? fmt::format("PCID {} (bits 11:0)", cr.pcid()) : "no PCID (CR4.PCIDE=0)");
  t +=
      fmt::format("  {:<12} CR0.WP={}  CR4.PCIDE={} PGE={} SMEP={} SMAP={} PKE={} LA57={}  EFER.NXE={}  RFLAGS.AC={}\n",
                  "registers", int(cr.cr0_wp), int(cr.cr4_pcide), int(cr.cr4_pge), int(cr.cr4_smep), int(cr.cr4_smap),
                  int(cr.cr4_pke), int(cr.cr4_la57), int(cr.efer_nxe), int(cr.rflags_ac));
  if (cr.cr4_pke) t += fmt::format("  {:<12} {:#010x}\n", "PKRU", cr.pkru);

  // An access that crosses a 4 KiB boundary is two translations, lower page first.
  struct Piece {
    u64 la, len, pa = 0;
  };
  std::vector<Piece> pieces;
  const u64 first_len = std::min<u64>(ev.size, mmu::kPageSize4K - (ev.addr & 0xFFF));
  pieces.push_back({ev.addr, first_len});
  if (first_len < ev.size) pieces.push_back({ev.addr + first_len, ev.size - first_len});
  if (pieces.size() == 2)
    t += fmt::format("  it crosses a 4 KiB boundary: two translations, {:#x} ({} bytes) then {:#x} ({} bytes)\n",
                     pieces[0].la, pieces[0].len, pieces[1].la, pieces[1].len);

  // SDM §4.5: the indices into each table and the offset.
  json jsplit = json::array();
  for (const Piece& p : pieces) {
    const bool la57 = cr.cr4_la57;
    t += fmt::format("\nThe linear address {:#x}, {}-level paging (SDM §4.5)\n", p.la, la57 ? 5 : 4);
    json js;
    js["address"] = hex(p.la);
    for (unsigned l = la57 ? 5 : 4; l >= 1; --l) {
      const Level lv = static_cast<Level>(l);
      const unsigned lo = mmu::index_shift(lv);
      const unsigned idx = mmu::table_index(p.la, lv);
      t += fmt::format("  bits {:>2}:{:<2}  {:<4} index  {:>5}  {:>#6x}\n", lo + 8, lo, table_name(lv), idx, idx);
      static const char* const keys[] = {"", "pt_index", "pd_index", "pdpt_index", "pml4_index", "pml5_index"};
      js[keys[l]] = idx;
    }
    t += fmt::format("  bits 11:0   page offset {:>5}  {:>#6x}\n", p.la & 0xFFF, p.la & 0xFFF);
    js["offset"] = p.la & 0xFFF;
    jsplit.push_back(js);
  }
  j["split"] = jsplit;

  json steps = json::array();
  bool completed = false;
  for (unsigned round = 0; round < kMaxRounds; ++round) {
    std::optional<mmu::Fault> fault;
    for (std::size_t i = 0; i < pieces.size() && !fault; ++i) {
      std::string title = pieces.size() == 2 ? fmt::format("Translation of {:#x} (piece {} of 2)", pieces[i].la, i + 1)
                                             : fmt::format("Translation of {:#x}", pieces[i].la);
      if (round) title += ", after the kernel's fix";
      json js;
      js["piece"] = i;
      js["retry"] = round;
      const mmu::Translated r = translation(c, pieces[i].la, title, t, js);
      steps.push_back(js);
      if (r.fault)
        fault = r.fault;
      else
        pieces[i].pa = r.pa;
    }
    if (!fault) {
      completed = true;
      break;
    }
    if (!c.os) {
      t += "\nBare mode: the exception is reported, not handled; the access does not complete.\n";
      break;
    }
    if (fault->vector != mmu::Vector::PF) {
      // arch/x86/kernel/traps.c: a user-mode #GP is SIGSEGV, #SS SIGBUS; no page-fault path.
      t += fmt::format("\nOS mode: {} is not a page fault; the kernel kills pid {} with {} (exc_{}).\n",
                       fault->vector == mmu::Vector::GP ? "#GP" : "#SS", c.pid,
                       fault->vector == mmu::Vector::GP ? "SIGSEGV" : "SIGBUS",
                       fault->vector == mmu::Vector::GP ? "general_protection" : "stack_segment");
      break;
    }
    json jk;
    const bool retry = kernel_handles(c, *fault, t, jk);
    steps.push_back(jk);
    if (!retry) break;
    if (round + 1 == kMaxRounds)
      throw std::runtime_error(fmt::format("fault loop at {:#x}: the kernel model did not resolve it", fault->cr2));
  }
  j["steps"] = steps;

  json jr;
  jr["completed"] = completed;
  if (completed) {
    json pas = json::array();
    for (const Piece& p : pieces) pas.push_back(hex(p.pa));
    jr["pa"] = pas;
    t += fmt::format("\nResult: the access completes at physical address {:#x}", pieces[0].pa);
    if (pieces.size() == 2) t += fmt::format(" and {:#x}", pieces[1].pa);
    if (ev.op != Op::Write && ev.size <= 8) {
      // What it reads, from physical memory: the data access is not simulated here.
      u64 v = 0;
      unsigned shift = 0;
      for (const Piece& p : pieces) {
        unsigned char b[8] = {};
        sys.store().read(p.pa, b, p.len);
        for (u64 k = 0; k < p.len; ++k, shift += 8) v |= u64{b[k]} << shift;
      }
      t += fmt::format(": it reads {} ({:#x})", v, v);
      jr["value"] = v;
    } else if (ev.op == Op::Write && ev.has_value) {
      t += fmt::format(": it writes {} ({:#x})", ev.value, ev.value);
    }
    t += "\n";
  }
  j["result"] = jr;

  if (o.json)
    out << j.dump(2) << '\n';
  else
    out << t;
  return kExitOk;
}

}  // namespace

int explain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  const char* usage =
      "usage: mmusim explain TRACE --line N [--config FILE] [--set KEY=VALUE]... [--format F] [--json]\n";
  po::options_description opts("explain options");
  opts.add_options()("help,h", "print this help")("line,l", po::value<u64>(), "the line of the access to explain")(
      "config,c", po::value<std::string>(), "configuration file")(
      "set", po::value<std::vector<std::string>>()->composing(), "override one value: --set KEY=VALUE")(
      "format", po::value<std::string>()->default_value("auto"), "input trace format")("json",
                                                                                       "print the explanation as JSON");
  po::options_description hidden;
  hidden.add_options()("trace", po::value<std::vector<std::string>>());
  po::options_description all;
  all.add(opts).add(hidden);
  po::positional_options_description pos;
  pos.add("trace", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    err << "mmusim: error: explain: " << e.what() << '\n' << usage;
    return kExitBadInput;
  }
  if (vm.count("help")) {
    out << usage << opts;
    return kExitOk;
  }
  const auto traces = vm.count("trace") ? vm["trace"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (traces.size() != 1 || !vm.count("line")) {
    err << "mmusim: error: explain takes one trace file and --line N\n" << usage;
    return kExitBadInput;
  }
  Options o;
  o.trace = traces[0];
  o.line = vm["line"].as<u64>();
  o.json = vm.count("json") > 0;
  try {
    o.format = traces::parse_format(vm["format"].as<std::string>());
    if (vm.count("config")) config::load_file(o.cfg, vm["config"].as<std::string>());
    if (vm.count("set"))
      for (const auto& s : vm["set"].as<std::vector<std::string>>()) config::set(o.cfg, s);
    config::validate(o.cfg);
    return explain_line(o, out);
  } catch (const ExplainError& e) {
    err << "mmusim: " << e.what() << '\n';
  } catch (const config::ConfigError& e) {
    err << "mmusim: error: " << e.what() << '\n';
  } catch (const traces::TraceError& e) {
    err << "mmusim: " << e.what() << '\n';
  } catch (const std::exception& e) {
    err << fmt::format("mmusim: {}:{}: error: {}\n", o.trace, o.line, e.what());
  }
  return kExitBadInput;
}

}  // namespace mmusim::cli
