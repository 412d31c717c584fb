#include "explain_text.hpp"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "mmu/reserved.hpp"
#include "traces/input.hpp"
#include "traces/reader.hpp"
#include "traces/text_writer.hpp"

namespace mmusim::cli::explain_text {

std::string hex(u64 v) { return fmt::format("{:#x}", v); }

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

}  // namespace mmusim::cli::explain_text
