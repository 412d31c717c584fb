// The words `mmusim explain` prints for x86 paging structures (explain.cpp): entry and
// table names as the SDM spells them, an entry's bits decoded, the rights combined so
// far, a #PF error code bit by bit, and the trace line an event came from. Plain
// functions of their arguments, kept apart from the run that explain.cpp drives.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hw/memory_timing.hpp"
#include "mmu/rights.hpp"
#include "mmu/walk.hpp"
#include "traces/event.hpp"

namespace mmusim::cli::explain_text {

using json = nlohmann::json;
using mmu::Level;
using mmu::u32;
using mmu::u64;
using traces::Event;
using traces::Op;

std::string hex(u64 v);

const char* entry_name(Level l);

// The table an entry of level `l` sits in (SDM §4.5 names).
const char* table_name(Level l);

Level level_below(Level l);

const char* size_name(mmu::PageSize s);

const char* op_word(Op op);

std::string render_event(const Event& ev);

// Line `n` of a text trace as written (comments included), or nothing.
std::optional<std::string> source_line(const std::string& path, u64 n);

std::string rights_text(bool rw, bool us, bool xd, const mmu::ControlRegs& cr);

json rights_json(bool rw, bool us, bool xd);

// The flags of entry `e` at `level` that the SDM defines there (Tables 4-15..4-20):
// D and G only in a leaf, PS in a PDPTE or PDE, PAT in its place for a leaf.
std::string flags_text(Level level, u64 e, const mmu::ControlRegs& cr);

json flags_json(Level level, u64 e, const mmu::ControlRegs& cr);

// Why each reserved bit set in a present entry is reserved (SDM §4.5 Tables 4-15..4-20).
std::string reserved_text(Level level, u64 e, u64 set, const mmu::ControlRegs& cr);

// Every rule of SDM §4.6 that forbids the access, in words. The decision itself is
// mmu::rights_violation's; this only names what it found.
std::vector<std::string> rights_reasons(const mmu::Translation& t, const mmu::Access& a, const mmu::ControlRegs& cr);

// The #PF error code bit by bit (SDM §4.7, Figure 4-12).
void error_code(u32 ec, std::string& t, json& j);

std::string cached_in(const hw::MemoryTiming& timing, u64 pa);

}  // namespace mmusim::cli::explain_text
