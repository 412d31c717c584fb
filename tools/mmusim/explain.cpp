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
using json = nlohmann::json;
using mmu::Level;
using mmu::u32;
using mmu::u64;
using traces::Event;
using traces::Op;

constexpr int kExitOk = 0;
constexpr int kExitBadInput = 2;
// As Core::access: more faults than this on one access is a model bug, not a fix.
constexpr unsigned kMaxRounds = 16;

// An error that names the trace and line, exit status 2.
struct ExplainError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string hex(u64 v) { return fmt::format("{:#x}", v); }

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

// Physical memory as the walker sees it, with the walk's own A/D writes kept aside: the
// displayed walk applies the SDM's rules (mmu::walk) without changing the machine.
class OverlayMemory : public mmu::PagingMemory {
 public:
  explicit OverlayMemory(const hw::SparseMemory& mem) : mem_(mem) {}
  u64 load64(u64 pa) override {
    const auto it = writes_.find(pa);
    return it != writes_.end() ? it->second : mem_.read64(pa);
  }
  bool cmpxchg64(u64 pa, u64 expected, u64 desired) override {
    if (load64(pa) != expected) return false;
    writes_[pa] = desired;
    return true;
  }

 private:
  const hw::SparseMemory& mem_;
  std::map<u64, u64> writes_;
};

// ---- names -------------------------------------------------------------------------

const char* entry_name(Level l) {
  switch (l) {
    case Level::PML5E:
      return "PML5E";
    case Level::PML4E:
      return "PML4E";
    case Level::PDPTE:
      return "PDPTE";
    case Level::PDE:
      return "PDE";
    case Level::PTE:
      return "PTE";
  }
  return "?";
}

// The table an entry of level `l` sits in (SDM §4.5 names).
const char* table_name(Level l) {
  switch (l) {
    case Level::PML5E:
      return "PML5";
    case Level::PML4E:
      return "PML4";
    case Level::PDPTE:
      return "PDPT";
    case Level::PDE:
      return "PD";
    case Level::PTE:
      return "PT";
  }
  return "?";
}

Level level_below(Level l) { return static_cast<Level>(static_cast<unsigned>(l) - 1); }

const char* size_name(mmu::PageSize s) {
  return s == mmu::PageSize::Size4K ? "4 KiB" : s == mmu::PageSize::Size2M ? "2 MiB" : "1 GiB";
}

const char* op_word(Op op) {
  switch (op) {
    case Op::Read:
      return "r: a data read";
    case Op::Write:
      return "w: a data write";
    case Op::Fetch:
      return "x: an instruction fetch";
    default:
      return "print: a data read (its value printed)";
  }
}

std::string render_event(const Event& ev) {
  try {
    std::ostringstream s;
    {
      traces::TextWriter w(s);
      w.write(ev);
    }
    std::string text = s.str();
    const auto nl = text.find('\n');  // the writer's `mmutrace 1` line
    if (nl != std::string::npos) text.erase(0, nl + 1);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  } catch (const std::exception&) {
    return fmt::format("(an event on line {})", ev.line);
  }
}

// Line `n` of a text trace as written (comments included), or nothing.
std::optional<std::string> source_line(const std::string& path, u64 n) {
  try {
    if (traces::detect_format(path) != traces::Format::Text) return std::nullopt;
    traces::Input in(path);
    std::string line;
    u64 at = 1;
    char buf[65536];
    for (std::size_t got; (got = in.read(buf, sizeof buf)) > 0;) {
      for (std::size_t i = 0; i < got; ++i) {
        if (buf[i] == '\n') {
          if (at == n) return line;
          ++at;
          line.clear();
        } else if (at == n) {
          line += buf[i];
        }
      }
    }
    if (at == n && !line.empty()) return line;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

// ---- one entry's bits ----------------------------------------------------------------

std::string rights_text(bool rw, bool us, bool xd, const mmu::ControlRegs& cr) {
  return fmt::format("R/W={} U/S={} XD={}  ({}, {}, {})", int(rw), int(us), int(xd), rw ? "writable" : "read-only",
                     us ? "user" : "supervisor only",
                     !xd           ? "executable"
                     : cr.efer_nxe ? "execute-disable"
                                   : "XD ignored: EFER.NXE=0");
}

json rights_json(bool rw, bool us, bool xd) { return {{"rw", rw}, {"us", us}, {"xd", xd}}; }

// The flags of entry `e` at `level` that the SDM defines there (Tables 4-15..4-20):
// D and G only in a leaf, PS in a PDPTE or PDE, PAT in its place for a leaf.
std::string flags_text(Level level, u64 e, const mmu::ControlRegs& cr) {
  auto b = [&](u64 bit) { return int((e & bit) != 0); };
  std::string s = fmt::format("P={} R/W={} U/S={} PWT={} PCD={} A={}", b(mmu::bit::P), b(mmu::bit::RW), b(mmu::bit::US),
                              b(mmu::bit::PWT), b(mmu::bit::PCD), b(mmu::bit::A));
  const bool leaf = mmu::is_leaf(level, e);
  if (leaf) s += fmt::format(" D={}", b(mmu::bit::D));
  if (level == Level::PTE)
    s += fmt::format(" PAT={}", b(mmu::bit::PAT4K));
  else
    s += fmt::format(" PS={}", b(mmu::bit::PS));
  if (leaf && level != Level::PTE) s += fmt::format(" PAT={}", b(mmu::bit::PAT_LARGE));
  if (leaf) s += fmt::format(" G={}", b(mmu::bit::G));
  s += fmt::format(" XD={}", b(mmu::bit::XD));
  if (leaf && cr.cr4_pke) s += fmt::format(" PKEY={}", (e & mmu::kPkeyMask) >> mmu::kPkeyShift);
  return s;
}

json flags_json(Level level, u64 e, const mmu::ControlRegs& cr) {
  json j;
  auto b = [&](u64 bit) { return (e & bit) != 0; };
  j["p"] = b(mmu::bit::P);
  j["rw"] = b(mmu::bit::RW);
  j["us"] = b(mmu::bit::US);
  j["pwt"] = b(mmu::bit::PWT);
  j["pcd"] = b(mmu::bit::PCD);
  j["a"] = b(mmu::bit::A);
  const bool leaf = mmu::is_leaf(level, e);
  if (leaf) j["d"] = b(mmu::bit::D);
  if (level == Level::PTE)
    j["pat"] = b(mmu::bit::PAT4K);
  else
    j["ps"] = b(mmu::bit::PS);
  if (leaf && level != Level::PTE) j["pat"] = b(mmu::bit::PAT_LARGE);
  if (leaf) j["g"] = b(mmu::bit::G);
  j["xd"] = b(mmu::bit::XD);
  if (leaf && cr.cr4_pke) j["pkey"] = (e & mmu::kPkeyMask) >> mmu::kPkeyShift;
  return j;
}

// Why each reserved bit set in a present entry is reserved (SDM §4.5 Tables 4-15..4-20).
std::string reserved_text(Level level, u64 e, u64 set, const mmu::ControlRegs& cr) {
  std::vector<std::string> why;
  if (set & mmu::bit::XD) why.push_back("bit 63: XD is reserved while EFER.NXE=0");
  if (set & mmu::above_maxphyaddr_mask(cr.maxphyaddr))
    why.push_back(fmt::format("bits 51:{}: beyond MAXPHYADDR={}", cr.maxphyaddr, cr.maxphyaddr));
  if ((set & mmu::bit::PS) && (level == Level::PML4E || level == Level::PML5E))
    why.push_back(fmt::format("bit 7: PS must be 0 in a {}", entry_name(level)));
  const u64 rest = set & ~mmu::bit::XD & ~mmu::above_maxphyaddr_mask(cr.maxphyaddr) & ~mmu::bit::PS;
  if (rest && mmu::is_leaf(level, e))
    why.push_back(fmt::format("bits {}:13: a {} page's frame must be aligned to its size",
                              level == Level::PDE ? 20 : 29, size_name(mmu::leaf_page_size(level))));
  std::string s = hex(set) + " (";
  for (std::size_t i = 0; i < why.size(); ++i) s += (i ? "; " : "") + why[i];
  return s + ")";
}

// Every rule of SDM §4.6 that forbids the access, in words. The decision itself is
// mmu::rights_violation's; this only names what it found.
std::vector<std::string> rights_reasons(const mmu::Translation& t, const mmu::Access& a, const mmu::ControlRegs& cr) {
  std::vector<std::string> r;
  if (a.user_mode && !t.us)
    r.push_back("a user-mode access to a supervisor-mode address (U/S=0 at some level; SDM §4.6.1)");
  if (a.is_fetch() && cr.efer_nxe && t.xd)
    r.push_back("an instruction fetch from an execute-disable page (XD=1 at some level, EFER.NXE=1; SDM §4.6.1)");
  if (a.is_fetch() && !a.user_mode && cr.cr4_smep && t.us)
    r.push_back("SMEP: a supervisor-mode fetch from a user-mode address (SDM §4.6.1)");
  if (!a.is_fetch() && !a.user_mode && cr.cr4_smap && t.us && !(!a.implicit && cr.rflags_ac))
    r.push_back("SMAP: a supervisor-mode data access to a user-mode address without RFLAGS.AC=1 (SDM §4.6.1)");
  if (a.is_write() && !t.rw && (a.user_mode || cr.cr0_wp))
    r.push_back(fmt::format("a write to a read-only page (R/W=0 at some level) {} (SDM §4.6.1)",
                            a.user_mode ? "in user mode" : "with CR0.WP=1"));
  if (mmu::pkey_forbids(t, a, cr)) {
    const unsigned k = t.pkey & 0xF;
    r.push_back(fmt::format("protection key {}: PKRU has AD={} WD={} for it (SDM §4.6.2)", k, (cr.pkru >> (2 * k)) & 1,
                            (cr.pkru >> (2 * k + 1)) & 1));
  }
  return r;
}

// The #PF error code bit by bit (SDM §4.7, Figure 4-12).
void error_code(u32 ec, std::string& t, json& j) {
  struct Bit {
    unsigned n;
    const char* name;
    const char* key;
    const char* one;
    const char* zero;
  };
  static const Bit bits[] = {
      {0, "P", "p", "the entries were present: a protection or reserved-bit violation", "a not-present entry"},
      {1, "W/R", "w", "a write", "a read"},
      {2, "U/S", "u", "a user-mode access", "a supervisor-mode access"},
      {3, "RSVD", "rsvd", "a reserved bit was set in a paging-structure entry", "no reserved bit set"},
      {4, "I/D", "id", "an instruction fetch", "not an instruction fetch"},
      {5, "PK", "pk", "the protection key forbids it", "not a protection-key violation"},
      {6, "SS", "ss", "a shadow-stack access", "not a shadow-stack access (shadow stacks are not modelled)"},
  };
  json jb = json::object();
  for (const Bit& b : bits) {
    const bool on = (ec >> b.n) & 1u;
    t += fmt::format("      bit {}  {:<5} {}  {}\n", b.n, b.name, int(on), on ? b.one : b.zero);
    jb[b.key] = on;
  }
  j["error_code_bits"] = jb;
}

std::string cached_in(const hw::MemoryTiming& timing, u64 pa) {
  if (timing.model() == config::MemoryModel::Fixed) return "memory (mem.model=fixed: no caches)";
  for (hw::ServedBy l : {hw::ServedBy::L1d, hw::ServedBy::L2, hw::ServedBy::Llc})
    if (timing.level(l).contains(pa)) return hw::name(l);
  return "dram";
}

// ---- the machine at line N -----------------------------------------------------------

struct Ctx {
  Ctx(hw::System& s, const config::Config& c) : sys(s), cfg(c) {}
  hw::System& sys;
  const config::Config& cfg;
  unsigned cpu = 0;
  mmu::ControlRegs cr;
  mmu::Access a;
  bool os = false;
  u32 pid = 0;
};

struct TlbProbe {
  const char* name = "";
  const tlb::Tlb* level = nullptr;
  const tlb::TlbEntry* entry = nullptr;
  bool usable = false;
  std::string why_not;
};

TlbProbe probe_tlb(const char* name, const tlb::Tlb* level, const Ctx& c) {
  TlbProbe p;
  p.name = name;
  p.level = level;
  if (!level) return p;
  p.entry = level->probe(c.a.la, c.cr.pcid());
  if (!p.entry) return p;
  // As Mmu::usable: a hit serves only if the rights it holds allow the access now,
  // and a write finds D=1 (SDM §4.8: otherwise the processor walks to set D).
  if (const u32 ec = mmu::rights_violation(p.entry->t, c.a, c.cr)) {
    const auto why = rights_reasons(p.entry->t, c.a, c.cr);
    p.why_not = why.empty() ? fmt::format("its rights do not allow this access (error code {:#x})", ec) : why.front();
  } else if (c.a.is_write() && !p.entry->t.dirty) {
    p.why_not = "a write needs D=1 and the entry has D=0 (SDM §4.8): memory is walked to set it";
  } else {
    p.usable = true;
  }
  return p;
}

std::string tlb_entry_text(const tlb::TlbEntry& e, u64 la) {
  const mmu::Translation whole = e.page();
  std::string s =
      fmt::format("{} page {:#x} -> frame {:#x}, R/W={} U/S={} XD={} D={}", size_name(whole.size),
                  whole.page_base_la(la), whole.page_pa, int(e.t.rw), int(e.t.us), int(e.t.xd), int(e.t.dirty));
  s += e.global ? ", global" : fmt::format(", PCID {}", e.pcid);
  if (e.size < e.page_size) s += fmt::format(" (held as a {} piece)", size_name(static_cast<mmu::PageSize>(e.size)));
  return s;
}

json tlb_json(const TlbProbe& p, u64 la, bool consulted) {
  json j;
  j["level"] = p.name;
  j["present"] = p.level != nullptr;
  if (!p.level) return j;
  j["hit"] = p.entry != nullptr;
  j["consulted"] = consulted;
  if (p.entry) {
    const mmu::Translation whole = p.entry->page();
    j["page_size"] = size_name(whole.size);
    j["page"] = hex(whole.page_base_la(la));
    j["frame"] = hex(whole.page_pa);
    j["rights"] = rights_json(p.entry->t.rw, p.entry->t.us, p.entry->t.xd);
    j["dirty"] = p.entry->t.dirty;
    j["global"] = p.entry->global;
    j["pcid"] = p.entry->pcid;
    j["usable"] = p.usable;
    if (!p.usable) j["why_not"] = p.why_not;
  }
  return j;
}

const char* served_name(mmu::ServedFrom f) {
  return f == mmu::ServedFrom::L1 ? "l1" : f == mmu::ServedFrom::L2 ? "l2" : "walk";
}

// One translation of `la`, explained, then done for real. Returns the real result.
mmu::Translated translation(Ctx& c, u64 la, const std::string& title, std::string& t, json& j) {
  c.a.la = la;
  const mmu::ControlRegs& cr = c.cr;
  mmu::Mmu& mmu = c.sys.mmu(c.cpu);
  j["kind"] = "translation";
  j["address"] = hex(la);
  t += fmt::format("\n{}\n", title);

  // SDM §4.5, §6.15: a non-canonical address faults before any TLB lookup or walk.
  if (mmu::check_canonical(c.a, cr)) {
    const unsigned top = cr.cr4_la57 ? 56 : 47;
    t += fmt::format(
        "  {:#x} is not canonical: bits 63:{} must all equal bit {} ({}-level paging, SDM §4.5).\n"
        "  No TLB is looked up and no entry is read.\n",
        la, top, top, cr.cr4_la57 ? 5 : 4);
    const mmu::Translated r = mmu.translate(c.a, cr);
    const bool ss = r.fault.vector == mmu::Vector::SS;
    t += fmt::format("  Outcome: {}(0): {} (SDM §6.15); CR2 is not loaded\n", ss ? "#SS" : "#GP",
                     ss ? "a stack reference to a non-canonical address" : "a non-canonical address");
    j["canonical"] = false;
    j["outcome"] = {{"fault", ss ? "#SS" : "#GP"}, {"error_code", "0x0"}};
    return r;
  }
  j["canonical"] = true;

  // What the TLB levels and paging-structure caches hold now, probed without
  // touching their replacement state (SDM §4.10.2, §4.10.3).
  const bool fetch = c.a.is_fetch();
  const tlb::Tlb* l1 = fetch ? &mmu.l1i() : &mmu.l1d();
  const tlb::Tlb* l2 = fetch ? (mmu.l2i() ? mmu.l2i() : mmu.l2()) : mmu.l2();
  const TlbProbe p1 = probe_tlb(fetch ? "L1 ITLB" : "L1 DTLB", l1, c);
  const TlbProbe p2 = probe_tlb(fetch && mmu.l2i() ? "L2 ITLB" : "L2 STLB", l2, c);
  // As Mmu::translate: the L2 is looked up only on an L1 miss.
  const bool l2_consulted = p1.entry == nullptr && l2 != nullptr;
  const bool by_l1 = p1.entry && p1.usable;
  const bool by_l2 = !p1.entry && p2.entry && p2.usable;
  const bool walks = !by_l1 && !by_l2;

  t += fmt::format("  Where it starts (SDM §4.10; PCID {})\n", cr.pcid());
  j["pcid"] = cr.pcid();
  json jt = json::array();
  for (const TlbProbe* p : {&p1, &p2}) {
    const bool consulted = p == &p1 || l2_consulted;
    jt.push_back(tlb_json(*p, la, consulted));
    if (!p->level) {
      t += fmt::format("    {:<10} absent in this machine\n", p->name);
      continue;
    }
    if (!p->entry) {
      t += fmt::format("    {:<10} miss\n", p->name);
      continue;
    }
    t += fmt::format("    {:<10} hit   {}\n", p->name, tlb_entry_text(*p->entry, la));
    if (!consulted)
      t += fmt::format("    {:<10}       (not looked up: the L1 hit decides)\n", "");
    else if (!p->usable)
      t += fmt::format("    {:<10}       not usable: {};\n    {:<10}       the entry is dropped and memory is walked\n",
                       "", p->why_not, "");
  }
  j["tlb"] = jt;

  const mmu::PagingStructureCache& psc = mmu.psc();
  std::optional<mmu::WalkStart> psc_start;
  Level psc_level = Level::PTE;
  json jp = json::array();
  for (Level l : mmu::PagingStructureCache::kLevels) {
    if (static_cast<unsigned>(l) > static_cast<unsigned>(mmu::top_level(cr.cr4_la57))) break;
    json e{{"level", entry_name(l)}, {"enabled", psc.enabled(l)}};
    if (!psc.enabled(l)) {
      t += fmt::format("    PSC {:<6} absent in this machine\n", entry_name(l));
      jp.push_back(e);
      continue;
    }
    const auto hit = psc.probe(l, la, cr.pcid(), cr);
    e["hit"] = hit.has_value();
    if (hit) {
      t += fmt::format("    PSC {:<6} hit   {} at {:#x}, rights of the path to it {}\n", entry_name(l),
                       table_name(hit->level), hit->table_pa, rights_text(hit->rw, hit->us, hit->xd, cr));
      e["next_table"] = hex(hit->table_pa);
      e["rights"] = rights_json(hit->rw, hit->us, hit->xd);
      // The lowest level that hits is where a walk continues (SDM §4.10.3.2).
      if (!psc_start) {
        psc_start = hit;
        psc_level = l;
      }
    } else {
      t += fmt::format("    PSC {:<6} miss\n", entry_name(l));
    }
    jp.push_back(e);
  }
  j["psc"] = jp;

  const mmu::WalkStart start = psc_start ? *psc_start : mmu::walk_start(cr);
  std::string plan;
  if (by_l1)
    plan = fmt::format("the {} hit serves the access: no walk", p1.name);
  else if (by_l2)
    plan = fmt::format("the {} hit serves the access (and fills the {}): no walk", p2.name, p1.name);
  else if (psc_start) {
    const unsigned skipped = static_cast<unsigned>(mmu::top_level(cr.cr4_la57)) - static_cast<unsigned>(start.level);
    plan = fmt::format("the walk starts at the {} (PSC {} hit): {} entry load{} skipped", table_name(start.level),
                       entry_name(psc_level), skipped, skipped == 1 ? "" : "s");
  } else
    plan = fmt::format("the walk starts at the {} named by CR3", table_name(start.level));
  t += fmt::format("    => {}\n", plan);
  j["plan"] = plan;

  // The entries through the SDM's rules (mmu::walk) on an overlay, so that showing a
  // walk sets no A/D bit: `memory` from CR3, what memory alone says; `hw` the walk the
  // MMU does, from below the PSC hit (the two differ only if a PSC entry is stale).
  OverlayMemory overlay(c.sys.store());
  const mmu::WalkResult memory = mmu::walk(overlay, c.a, cr);
  const bool partial = walks && psc_start;
  OverlayMemory overlay_hw(c.sys.store());
  const mmu::WalkResult hw = partial ? mmu::walk(overlay_hw, c.a, cr, start) : memory;
  struct Shown {
    mmu::WalkStep step;
    bool skipped;
    std::string line_in;  // which cache holds the entry's line before the access
  };
  std::vector<Shown> shown;
  for (unsigned i = 0; i < memory.nsteps; ++i)
    if (partial && static_cast<unsigned>(memory.steps[i].level) > static_cast<unsigned>(start.level))
      shown.push_back({memory.steps[i], true, ""});
  for (unsigned i = 0; i < hw.nsteps; ++i) shown.push_back({hw.steps[i], false, ""});
  for (Shown& s : shown) s.line_in = cached_in(c.sys.timing(c.cpu), s.step.entry_pa);

  // The translation itself, as the core does it.
  const mmu::Translated real = mmu.translate(c.a, cr);

  t += walks ? fmt::format("  The walk (SDM §4.5; rights combined as §4.6.1: R/W and U/S ANDed, XD ORed)\n")
             : fmt::format("  The page tables in memory (not read now: the TLB entry is used)\n");
  json jw = json::array();
  mmu::WalkStart at = mmu::walk_start(cr);
  bool memory_broken = false;  // memory's own walk faulted in the levels the PSC skips
  for (std::size_t i = 0; i < shown.size(); ++i) {
    const mmu::WalkStep& s = shown[i].step;
    const bool skipped = shown[i].skipped;
    if (partial && !skipped && (i == 0 || shown[i - 1].skipped)) {
      // The walk goes on from the PSC entry: its table and the rights it combined.
      if (i > 0 && memory_broken)
        t += fmt::format(
            "           (memory now faults above the {}; the PSC {} entry, made before that change,\n"
            "            still leads to the {} at {:#x})\n",
            table_name(start.level), entry_name(psc_level), table_name(start.level), start.table_pa);
      else if (i > 0 && (at.table_pa != start.table_pa || at.rw != start.rw || at.us != start.us || at.xd != start.xd))
        t += fmt::format(
            "           (memory now leads to the {} at {:#x} with R/W={} U/S={} XD={}; the PSC {} entry,\n"
            "            made before that change, holds {:#x} with R/W={} U/S={} XD={})\n",
            table_name(start.level), at.table_pa, int(at.rw), int(at.us), int(at.xd), entry_name(psc_level),
            start.table_pa, int(start.rw), int(start.us), int(start.xd));
      at = start;
    }
    const u64 e = s.entry;
    const u64 after = c.sys.store().read64(s.entry_pa);
    const bool last = i + 1 == shown.size();
    json je;
    je["level"] = entry_name(s.level);
    je["index"] = mmu::table_index(la, s.level);
    je["address"] = hex(s.entry_pa);
    je["value"] = fmt::format("{:#018x}", e);
    je["line_in"] = shown[i].line_in;
    if (skipped) je["skipped_by_psc"] = true;
    t += fmt::format("    {:<6} {}[{}] at {:#x} = {:#018x}   line in {}{}\n", entry_name(s.level), table_name(s.level),
                     mmu::table_index(la, s.level), s.entry_pa, e, shown[i].line_in,
                     skipped ? fmt::format("   (not read: the PSC {} entry stands in)", entry_name(psc_level)) : "");
    if (!(e & mmu::bit::P)) {
      // SDM §4.7: a not-present entry faults whatever its other bits hold.
      t += fmt::format("           P=0: not present; its other bits are ignored (SDM §4.7)\n");
      je["flags"] = {{"p", false}};
      if (!skipped) je["fault_here"] = json::array({"not present"});
      memory_broken |= skipped;
      jw.push_back(je);
      continue;
    }
    t += fmt::format("           {}\n", flags_text(s.level, e, cr));
    je["flags"] = flags_json(s.level, e, cr);
    if (const u64 rsv = e & mmu::reserved_mask(s.level, e, cr)) {
      t += fmt::format("           reserved bits set: {}: RSVD fault (SDM §4.7)\n", reserved_text(s.level, e, rsv, cr));
      je["reserved_bits"] = hex(rsv);
      if (!skipped) je["fault_here"] = json::array({"reserved bit set"});
      memory_broken |= skipped;
      jw.push_back(je);
      continue;
    }
    const bool leaf = mmu::is_leaf(s.level, e);
    const mmu::WalkStart next = mmu::descend(at, e, cr);  // folds this entry's rights in
    if (leaf) {
      const mmu::PageSize size = mmu::leaf_page_size(s.level);
      const u64 frame = e & mmu::phys_addr_mask(cr.maxphyaddr) & ~(mmu::page_bytes(size) - 1);
      // SDM §4.5: a large page's offset takes the index bits below its level too.
      const unsigned bits = mmu::page_shift(size);
      t += fmt::format("           -> {} page at {:#x}; the page offset is bits {}:0 of the address = {:#x}\n",
                       size_name(size), frame, bits - 1, la & (mmu::page_bytes(size) - 1));
      je["page_size"] = size_name(size);
      je["frame"] = hex(frame);
    } else {
      t += fmt::format("           -> {} at {:#x}\n", table_name(level_below(s.level)), next.table_pa);
      je["next_table"] = hex(next.table_pa);
    }
    t += fmt::format("           rights so far  {}\n", rights_text(next.rw, next.us, next.xd, cr));
    je["rights_so_far"] = rights_json(next.rw, next.us, next.xd);
    if (after != e) {
      std::string what;
      if ((after & mmu::bit::A) && !(e & mmu::bit::A)) what += "A";
      if ((after & mmu::bit::D) && !(e & mmu::bit::D)) what += what.empty() ? "D" : " and D";
      t += fmt::format("           now {:#018x}{}\n", after,
                       what.empty() ? "" : fmt::format(": this access set {} (SDM §4.8)", what));
      je["value_after"] = fmt::format("{:#018x}", after);
    }
    if (last && !skipped && hw.fault) {
      mmu::Translation tr;
      tr.rw = next.rw;
      tr.us = next.us;
      tr.xd = next.xd;
      tr.pkey = static_cast<unsigned char>((e & mmu::kPkeyMask) >> mmu::kPkeyShift);
      const auto why = rights_reasons(tr, c.a, cr);
      for (const std::string& w : why) t += fmt::format("           forbids this access: {}\n", w);
      je["fault_here"] = why;
    }
    jw.push_back(je);
    at = next;
  }
  j["walk"] = jw;

  // The outcome is the real translation's: a TLB entry can disagree with memory.
  json jo;
  jo["served_by"] = served_name(real.from);
  jo["tlb_cycles"] = real.tlb_cycles;
  jo["walk_cycles"] = real.walk_cycles;
  const std::string cost = fmt::format("{} cycle{} in the TLBs + {} in the walk", real.tlb_cycles,
                                       real.tlb_cycles == 1 ? "" : "s", real.walk_cycles);
  // Memory alone (the displayed walk) and the real translation differ only when a
  // cached entry outlived a change to memory that no invalidation followed (§4.10.4).
  const mmu::WalkResult& r = memory;
  const bool differs = r.ok() != !real.fault || (r.ok() && r.translation.physical(la) != real.pa) ||
                       (!r.ok() && r.fault.error_code != real.fault.error_code);
  if (!real.fault) {
    const std::string from =
        real.from == mmu::ServedFrom::Walk
            ? std::string("from the walk")
            : fmt::format("from the {} entry", real.from == mmu::ServedFrom::L1 ? p1.name : p2.name);
    t += fmt::format("  Outcome: physical address {:#x} ({}; {})\n", real.pa, from, cost);
    jo["pa"] = hex(real.pa);
  } else {
    t += fmt::format("  Outcome: #PF, error code {:#x}, CR2 = {:#x} (SDM §4.7; {})\n", real.fault.error_code,
                     real.fault.cr2, cost);
    jo["fault"] = "#PF";
    jo["error_code"] = hex(real.fault.error_code);
    jo["cr2"] = hex(real.fault.cr2);
    error_code(real.fault.error_code, t, jo);
    t += "    the #PF drops every TLB and PSC entry for this address (SDM §4.10.4.1)\n";
  }
  if (differs) {
    const std::string memory_says = r.ok() ? fmt::format("maps it to {:#x}", r.translation.physical(la))
                                           : fmt::format("would fault (#PF {:#x})", r.fault.error_code);
    const std::string cache = real.from == mmu::ServedFrom::Walk
                                  ? "the walk went on from a paging-structure-cache entry made"
                                  : "the TLB entry was made";
    t += fmt::format(
        "    stale: memory now {}, but {} before that change;\n"
        "    it stays in use until INVLPG, a CR3 load or INVPCID drops it (SDM §4.10.4)\n",
        memory_says, cache);
    jo["stale"] = true;
  }
  j["outcome"] = jo;
  return real;
}

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
