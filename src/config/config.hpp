// Every configurable value of the model, with its unit and default, in one place.
// Each value has a dotted key (`tlb.l1d.entries`) through which configuration files
// and `--set KEY=VALUE` reach it; the effective configuration of a run is written
// into its stats. Defaults are a Skylake-like machine; each latency cites where its
// number comes from (../shared/reference/linux-fault-path.md §3.2 unless noted).
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tlb/replacement.hpp"

namespace mmusim::config {

using u64 = std::uint64_t;

// Every core of the machine is alike: the same clock, TLBs, caches and timing.
struct CoreConfig {
  double frequency_ghz = 3.0;     // core clock: cycles ↔ time (Skylake-like, §3.2 header)
  u64 quantum_cycles = 10000;     // temporal-decoupling quantum: a core synchronises with SystemC
                                  // when its clock has run this far past its last synchronisation
  bool strict_timing = false;     // synchronise with the SystemC kernel at every event
  u64 cr3_write_cycles = 200;     // MOV to CR3 on a context switch [assume]
};

// CPUs a machine may have: the width of the kernel's cpumask (kernel/tlb.hpp).
inline constexpr unsigned kMaxCores = 64;

// Control-register bits the modelled kernel sets at boot (OS mode; a bare-mode trace
// sets its own with `set`).
struct Cr4Config {
  bool pcide = true;              // Linux sets CR4.PCIDE where the CPU has PCID (X86_FEATURE_PCID:
                                  // Skylake and Zen 4 both do) and then tags each address space
                                  // with one of TLB_NR_DYN_ASIDS per-CPU PCIDs (kernel/tlb.hpp)
};

// How the time of a physical-memory access (a page-table entry load, an A/D update
// or a trace data access) is found.
enum class MemoryModel : unsigned char {
  Fixed,   // every access costs mem.latency: a teaching machine
  Caches,  // the access looks up the data caches (CacheConfig) and costs the latency of
           // the level that serves it, DRAM on a miss in all of them
};

struct MemoryConfig {
  u64 size_bytes = 4ull << 30;    // simulated physical memory the kernel may allocate
  unsigned maxphyaddr = 46;       // M: physical-address width (x86-paging-semantics.md §0)
  MemoryModel model = MemoryModel::Caches;
  u64 latency_cycles = 12;        // model=fixed: one access (Skylake L2 hit, §3.1)
};

// One level of the data-cache hierarchy. Its latency is the load-to-use time of an
// access it serves (not an increment over the level above).
struct CacheLevelConfig {
  unsigned sets;
  unsigned ways;
  unsigned line_bytes;
  u64 latency_cycles;
};

// The data caches page-table loads go through (and trace data accesses with
// cache.data). Defaults: Skylake client, Intel OM 248966 Table 2-6 via §3.1
// (L1 4, L2 12, L3 ~44 cycles); L3 8 MiB 16-way [assume: one 4-core part]; DRAM
// ~250 cycles (§3.2).
struct CacheConfig {
  CacheLevelConfig l1d{64, 8, 64, 4};       // 32 KiB, 8-way
  CacheLevelConfig l2{1024, 4, 64, 12};     // 256 KiB, 4-way
  CacheLevelConfig llc{8192, 16, 64, 44};   // 8 MiB, 16-way
  u64 dram_latency_cycles = 250;
  bool data = false;              // on: trace data accesses look up (and fill) the same caches, so
                                  // they compete with page-table lines as on hardware; off: a
                                  // data access costs the L1D latency and leaves the caches alone
                                  // (the option; off keeps translation-focused runs fast)
};

// How the arrays of one TLB level divide the page sizes among them.
enum class TlbArrays : unsigned char {
  Split,       // an array per page size (Intel L1 DTLB)
  Shared4k2m,  // `4k+2m`: the 4k array holds 4K and 2M pages, 1G pages have their own (Intel STLB)
  Unified,     // the 4k array holds every size; fully associative when ways = entries (Zen L1)
};

struct TlbArrayConfig {
  unsigned entries;
  unsigned ways;
  tlb::Replacement replacement = tlb::Replacement::Lru;
};

// One TLB: up to three arrays (keys tlb.NAME.4k.*, .2m.*, .1g.*). A page size whose
// array has 0 entries is cached as entries of the next smaller size that has one
// ("smashed", SDM §4.10.2.3: a large page may be cached as several smaller entries).
// A level whose 4k array has 0 entries is absent.
struct TlbLevelConfig {
  TlbArrayConfig a4k;
  TlbArrayConfig a2m;
  TlbArrayConfig a1g;
  TlbArrays arrays = TlbArrays::Split;
  u64 latency_cycles;             // a lookup: hit or miss, paid by every access reaching the level
};

// Defaults: Skylake, Intel OM 248966-045 Table 2-15 (§3.1). The STLB is filled on every
// walk together with the L1 TLB, and an STLB hit fills the L1 TLB; neither evicts from
// the other (non-inclusive, non-exclusive): Intel does not document an inclusion
// policy, and NINE is what a fill-both-on-walk hierarchy gives.
struct TlbConfig {
  TlbLevelConfig l1d{{64, 4}, {32, 4}, {4, 4}, TlbArrays::Split, 1};       // hit overlapped
                                                                           // with L1D [assume]
  TlbLevelConfig l1i{{128, 8}, {8, 8}, {0, 0}, TlbArrays::Split, 1};       // 2M: 8 FA per thread;
                                                                           // 1G smashed into 2M
  TlbLevelConfig l2{{1536, 12}, {0, 0}, {16, 4}, TlbArrays::Shared4k2m, 9};  // STLB: +9 (§3.2)
  TlbLevelConfig l2i{{0, 0}, {0, 0}, {0, 0}, TlbArrays::Split, 7};         // a separate L2 ITLB
                                                                           // (Zen); absent: fetches
                                                                           // use the unified l2
  u64 seed = 1;                   // seed of the `random` replacement policy
};

// Paging-structure caches (SDM Vol. 3A §4.10.3): one array per non-leaf level. Intel
// does not disclose their sizes; §3.2's table gives PML4E 4, PDPTE 4-8, PDE 32 entries
// for Skylake [assume]; the associativities and PML5E (no LA57 on Skylake) are
// [assume]. entries = 0 disables that level.
struct PscConfig {
  TlbArrayConfig pml5e{2, 2};
  TlbArrayConfig pml4e{4, 4};
  TlbArrayConfig pdpte{4, 4};
  TlbArrayConfig pde{32, 4};
  u64 hit_cycles = 1;             // a PSC hit, paid once per walk that skips levels [assume]
};

// Cost of each step of the modelled kernel fault path, in core cycles. First-cut
// values; with them the fault totals (page-table allocation aside) are: zero-page
// read 1,750 (§3.2 Skylake column: ~1,800), zero-fill write 3,100 (~3,500), COW
// copy 3,650 (~5,200: the copy side is under-costed), COW reuse 1,750 (~2,000).
// Calibrating each step to the measured medians is issue 7.
struct KernelCostConfig {
  u64 exception_entry = 250;      // #PF delivery + asm entry (§3.2 [assume])
  u64 exception_exit = 150;       // irqentry_exit + IRET (§3.1: entry+exit ≈ 0.2–0.3 µs)
  u64 vma_lookup = 150;           // lock_vma_under_rcu / find_vma [assume]
  u64 pgtable_walk = 1100;        // __handle_mm_fault's software walk, PTE map and lock: the
                                  // rest of the measured ~0.59 µs zero-page read fault (§4.1)
  u64 pgtable_alloc = 600;        // one page-table page: allocation and clear [assume]
  u64 frame_alloc = 700;          // folio_prealloc: allocation, memcg charge, LRU add [assume]
  // Clearing and copying memory cost its size over a bandwidth, so that a 2 MiB huge page
  // costs 512 times a 4 KiB one (clear_page_erms, copy_mc_user_highpage).
  double zero_bandwidth = 8.192;  // bytes/cycle: 4 KiB in 500 cycles, measured memset 166 ns
                                  // streaming (§4.1; §3.2 "clear 4 KiB ~150-500 cycles")
  double copy_bandwidth = 5.4613;  // bytes/cycle: 4 KiB in 750 cycles, measured memcpy 248 ns
                                  // streaming (§4.1; §3.2 "copy 4 KiB 90-750 cycles")
  u64 pte_update = 100;           // set_pte_at + update_mmu_cache [assume]
  u64 rmap_update = 150;          // folio_add_new_anon_rmap / folio_remove_rmap_pte [assume]
  u64 tlb_flush_local = 150;      // INVLPG of one page (§3.2 [assume])
  u64 fork_per_pte = 260;         // copy_present_ptes per present PTE: measured 86 ns (§4.1)
  u64 signal_delivery = 1000;     // force_sig_fault to a user handler [assume]
  // Scheduling and TLB shootdowns. A shootdown to one target costs its initiator
  // ipi_send + ipi_delivery + ipi_entry + the target's flush + ipi_ack = 4,500 cycles
  // = 1.5 µs at 3 GHz, and each further target ipi_send = 0.2 µs more (§3.2 "Remote
  // TLB shootdown, first target 1.5 µs (bare metal) ... each extra target +0.2 µs");
  // how the 1.5 µs divides into the parts below is [assume].
  u64 context_switch = 1500;      // __schedule + switch_to, the CR3 write apart [assume: ~0.5 µs;
                                  // lmbench lat_ctx's 1–3 µs also counts a pipe wake-up]
  u64 ipi_send = 600;             // initiator: one target's csd setup and APIC ICR write; the
                                  // targets are sent to one after another (§3.2 +0.2 µs/target)
  u64 ipi_delivery = 1500;        // ICR write → the target's interrupt starts [assume]
  u64 ipi_entry = 700;            // target: interrupt entry up to flush_tlb_func [assume]
  u64 ipi_exit = 500;             // target: after its acknowledgement, to the interrupted code [assume]
  u64 ipi_ack = 1550;             // target's csd unlock → the spinning initiator sees it [assume]

  // Cycles to clear / copy `bytes`, rounded to the nearest cycle.
  u64 zero_cycles(u64 bytes) const { return static_cast<u64>(static_cast<double>(bytes) / zero_bandwidth + 0.5); }
  u64 copy_cycles(u64 bytes) const { return static_cast<u64>(static_cast<double>(bytes) / copy_bandwidth + 0.5); }
};

// When a private writable mapping of shared pages gets its own copies.
enum class CowPolicy : unsigned char {
  Lazy,   // at the first write to each page (Linux, Windows NT)
  Eager,  // at map time, every page (Windows 98: seeds/004)
};

// /sys/kernel/mm/transparent_hugepage/enabled.
enum class ThpPolicy : unsigned char { Never, Madvise, Always };

// Kernel behaviour that Linux makes a setting. Defaults are this machine's Linux
// 6.18 (linux-fault-path.md §0, §4.2).
struct KernelConfig {
  KernelCostConfig cost;
  bool automap_exec = true;       // automap maps rwx (TRACE_FORMAT.md, spawn automap)
  unsigned fault_around_pages = 16;  // fault_around_bytes 65536 / 4 KiB (mm/memory.c default)
  unsigned tlb_flush_ceiling = 33;   // pages: a flush of more flushes the whole PCID instead of page
                                     // by page (tlb_single_page_flush_ceiling, arch/x86/mm/tlb.c;
                                     // debugfs x86/tlb_single_page_flush_ceiling)
  unsigned file_folio_pages = 1;  // page-cache folio size in pages: 1 = order-0 folios (a file
                                  // written in 4 KiB chunks, §4.4); larger folios are mapped whole
  ThpPolicy thp = ThpPolicy::Madvise;  // transparent_hugepage/enabled = madvise (§0)
  bool thp_use_zero_page = true;  // transparent_hugepage/use_zero_page = 1 (§0): a read fault in a
                                  // THP region maps the huge zero page
  CowPolicy cow = CowPolicy::Lazy;
};

struct Config {
  unsigned cores = 1;             // CPUs, each a Core with its own MMU; 1..kMaxCores
  CoreConfig core;
  Cr4Config cr4;
  MemoryConfig mem;
  CacheConfig cache;
  TlbConfig tlb;
  PscConfig psc;
  KernelConfig kernel;

  u64 ns_to_cycles(double ns) const { return static_cast<u64>(ns * core.frequency_ghz + 0.5); }
  double cycles_to_ns(u64 cycles) const { return static_cast<double>(cycles) / core.frequency_ghz; }
};

// A configuration error: names the key (and the file and line where there is one).
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// One named value: its key, unit, what it is, and how to read and write it.
struct Param {
  std::string key;
  std::string unit;
  std::string what;
  std::function<void(std::string_view)> set;   // throws ConfigError on a bad value
  std::function<nlohmann::json()> get;
};

// The registry of every value of `cfg`, bound to it.
std::vector<Param> params(Config& cfg);

// Applies one `KEY=VALUE` (or `KEY = VALUE`) override; throws ConfigError naming the key.
void set(Config& cfg, std::string_view assignment);
// Reads a file of `key = value` lines (`#` comments); errors name file and line.
void load_file(Config& cfg, const std::string& path);
// Checks that the values are possible (ways divide entries, nonzero sizes ...).
void validate(const Config& cfg);
// The effective configuration as a flat JSON object, key → value.
nlohmann::json to_json(Config& cfg);

}  // namespace mmusim::config
