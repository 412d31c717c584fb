// Test support for the kernel suites: a software "CPU" that walks the kernel's
// real page tables in SparseMemory as x86 hardware does (SDM Vol. 3A §4.5-4.8),
// caches translations in a tiny TLB, raises #PF with the architectural error code
// into Kernel::exc_page_fault and retries; and a TlbFlusher that records every
// flush request and invalidates the CPUs' TLBs. No SystemC, and no X86Tlb: these
// suites test the mm code's flush requests on their own (kernel_tlb_test.cpp tests
// what X86Tlb makes of them).
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "hw/sparse_memory.hpp"
#include "kernel/kernel.hpp"
#include "kernel/mm.hpp"
#include "kernel/page.hpp"
#include "kernel/pgtable.hpp"
#include "mmu/types.hpp"

namespace mmusim::kernel::test {

using mmu::AccessType;
using u32 = std::uint32_t;
namespace pf = mmu::pf;

class SoftCpu;

// Records each flush_tlb_mm_range and drops the matching entries of every SoftCpu
// that runs the flushed mm, as a shootdown would. It charges what one CPU's flush
// costs: tlb_flush_local per page, or once for the whole mm above the ceiling.
class FakeTlb : public TlbFlusher {
 public:
  struct Call {
    bool whole_mm;     // the whole mm: TLB_FLUSH_ALL, or more pages than the ceiling
    u64 mm_id;
    u64 start, end;    // the range of a partial flush
    bool freed_tables;
  };
  std::vector<Call> calls;
  std::vector<SoftCpu*> cpus;
  u64 ceiling = config::KernelConfig{}.tlb_flush_ceiling;  // tlb_single_page_flush_ceiling

  void flush_tlb_mm_range(Mm& mm, u64 start, u64 end, unsigned stride_shift, bool freed_tables,
                          Recorder& r) override;
  void switch_mm(unsigned, Mm*, Recorder&) override {}
  void enter_lazy_tlb(unsigned) override {}

  // Partial flushes of `mm_id` whose range holds va.
  std::size_t page_flushes(u64 mm_id, u64 va) const {
    std::size_t n = 0;
    for (const Call& c : calls) n += !c.whole_mm && c.mm_id == mm_id && va >= c.start && va < c.end;
    return n;
  }
  std::size_t mm_flushes(u64 mm_id) const {
    std::size_t n = 0;
    for (const Call& c : calls) n += c.whole_mm && c.mm_id == mm_id;
    return n;
  }
};

// One logical CPU running one task. Its TLB caches a successful walk's combined
// rights, per 4 KiB page or per 2 MiB page for a PDE leaf (PS=1); a #PF
// invalidates the faulting address's entries (SDM §4.10.4.1), which is what lets
// the kernel skip flushes on permission upgrades.
class SoftCpu {
 public:
  struct TlbEntry {
    u64 pfn;  // of the 4 KiB page, or the first of a 2 MiB page
    bool rw, us, xd, dirty;
  };

  SoftCpu(Kernel& k, hw::SparseMemory& mem, FakeTlb& tlb, Pid pid) : k_(k), mem_(mem), tlb_(tlb), pid_(pid) {
    tlb_.cpus.push_back(this);
    mm_id_ = k_.mm_of(pid).id();
  }
  ~SoftCpu() { std::erase(tlb_.cpus, this); }
  SoftCpu(const SoftCpu&) = delete;
  SoftCpu& operator=(const SoftCpu&) = delete;

  Pid pid() const { return pid_; }
  u64 mm_id() const { return mm_id_; }
  // Faults taken by the last access, in order.
  const std::vector<FaultRecord>& faults() const { return faults_; }
  bool livelocked() const { return livelocked_; }
  std::size_t tlb_size() const { return entries_.size() + huge_entries_.size(); }
  bool cached(u64 va) const { return entries_.count(va >> 12) != 0 || huge_entries_.count(va >> 21) != 0; }

  // The physical address of `va`, handling faults like an OS-mode core: each #PF
  // goes to the kernel and the access is retried, until it succeeds, the task is
  // killed (nullopt), or 8 faults pass (livelock: nullopt, livelocked()).
  std::optional<u64> access(u64 va, AccessType type) {
    faults_.clear();
    livelocked_ = false;
    for (int attempt = 0; attempt < 8; ++attempt) {
      if (!k_.alive(pid_)) return std::nullopt;
      u32 err = 0;
      if (auto pa = translate(va, type, err)) return pa;
      flush_page(va);  // #PF invalidates the faulting address's translations
      FaultRecord rec;
      k_.exc_page_fault(pid_, va, err, rec);
      faults_.push_back(rec);
      if (!k_.alive(pid_)) return std::nullopt;
    }
    livelocked_ = true;
    return std::nullopt;
  }

  std::optional<u64> read64(u64 va) {
    auto pa = access(va, AccessType::Read);
    if (!pa) return std::nullopt;
    return mem_.read64(*pa);
  }
  bool write64(u64 va, u64 value) {
    auto pa = access(va, AccessType::Write);
    if (!pa) return false;
    mem_.write64(*pa, value);
    return true;
  }
  bool fetch(u64 va) { return access(va, AccessType::Fetch).has_value(); }

  // INVLPG: whatever page size maps va.
  void flush_page(u64 va) {
    entries_.erase(va >> 12);
    huge_entries_.erase(va >> 21);
  }
  void flush_all() {
    entries_.clear();
    huge_entries_.clear();
  }

 private:
  // The page walk: P, then the combined U/S, R/W and XD of all four levels; A set
  // on every entry used, D on the leaf of a write (locked updates, SDM §4.8).
  std::optional<u64> translate(u64 va, AccessType type, u32& err) {
    const bool write = type == AccessType::Write, fetch = type == AccessType::Fetch;
    err = pf::U | (write ? pf::W : 0) | (fetch ? pf::ID : 0);
    const TlbEntry* hit = nullptr;
    u64 hit_pa = 0;
    if (auto it = entries_.find(va >> 12); it != entries_.end()) {
      hit = &it->second;
      hit_pa = (hit->pfn << 12) | (va & 0xFFF);
    } else if (auto h = huge_entries_.find(va >> 21); h != huge_entries_.end()) {
      hit = &h->second;
      hit_pa = (hit->pfn << 12) | (va & 0x1FFFFF);
    }
    if (hit) {
      if (!allowed(*hit, write, fetch)) {
        err |= pf::P;  // a TLB hit that forbids the access faults as a protection violation
        return std::nullopt;
      }
      if (!write || hit->dirty) return hit_pa;
      // A write through a clean entry re-walks to set D.
    }
    u64 table = k_.cr3(pid_) >> 12;
    std::vector<u64> entry_pas;
    TlbEntry e{0, true, true, false, false};
    bool huge = false;
    for (int level = 4; level >= 1; --level) {
      const u64 pa = kernel::table_entry_pa(table, va, static_cast<mmu::Level>(level));
      const u64 ent = mem_.read64(pa);
      if (!(ent & mmu::bit::P)) return std::nullopt;  // not present: P = 0 in the error code
      e.rw = e.rw && (ent & mmu::bit::RW);
      e.us = e.us && (ent & mmu::bit::US);
      e.xd = e.xd || (ent & mmu::bit::XD);
      entry_pas.push_back(pa);
      table = kernel::pte_pfn(ent);
      // A PDE with PS maps a 2 MiB page (SDM §4.5): the walk ends there; bits 20:12
      // of the entry are its PAT bit and reserved zeros, not address bits.
      if (level == 2 && (ent & mmu::bit::PS)) {
        huge = true;
        table &= ~0x1FFull;
        break;
      }
    }
    e.pfn = table;
    if (!allowed(e, write, fetch)) {
      err |= pf::P;
      return std::nullopt;
    }
    for (u64 pa : entry_pas) mem_.write64(pa, mem_.read64(pa) | mmu::bit::A);
    if (write) mem_.write64(entry_pas.back(), mem_.read64(entry_pas.back()) | mmu::bit::D);
    e.dirty = write || (mem_.read64(entry_pas.back()) & mmu::bit::D);
    if (huge) {
      huge_entries_[va >> 21] = e;
      return (e.pfn << 12) | (va & 0x1FFFFF);
    }
    entries_[va >> 12] = e;
    return (e.pfn << 12) | (va & 0xFFF);
  }

  static bool allowed(const TlbEntry& e, bool write, bool fetch) {
    if (!e.us) return false;           // a user access to a supervisor page
    if (write && !e.rw) return false;  // user writes need R/W at every level, whatever CR0.WP
    if (fetch && e.xd) return false;   // EFER.NXE = 1
    return true;
  }

  friend class FakeTlb;
  Kernel& k_;
  hw::SparseMemory& mem_;
  FakeTlb& tlb_;
  Pid pid_;
  u64 mm_id_ = 0;
  std::map<u64, TlbEntry> entries_;        // by 4 KiB page number
  std::map<u64, TlbEntry> huge_entries_;   // by 2 MiB page number
  std::vector<FaultRecord> faults_;
  bool livelocked_ = false;
};

inline void FakeTlb::flush_tlb_mm_range(Mm& mm, u64 start, u64 end, unsigned stride_shift, bool freed_tables,
                                        Recorder& r) {
  const bool whole = end == TLB_FLUSH_ALL || ((end - start) >> stride_shift) > ceiling;
  calls.push_back({whole, mm.id(), whole ? 0 : start, whole ? 0 : end, freed_tables});
  if (whole) {
    r.charge(Step::tlb_flush_local);
    for (SoftCpu* c : cpus)
      if (c->mm_id_ == mm.id()) c->flush_all();
    return;
  }
  for (u64 a = start; a < end; a += 1ull << stride_shift) {
    r.charge(Step::tlb_flush_local);
    for (SoftCpu* c : cpus)
      if (c->mm_id_ == mm.id()) c->flush_page(a);
  }
}

inline traces::Prot prot(const std::string& s) {
  traces::Prot p;
  p.read = s.size() > 0 && s[0] == 'r';
  p.write = s.size() > 1 && s[1] == 'w';
  p.exec = s.size() > 2 && s[2] == 'x';
  return p;
}

inline MmapRequest anon(u64 addr, u64 len, const std::string& p, bool shared = false) {
  MmapRequest r;
  r.addr = addr;
  r.len = len;
  r.prot = prot(p);
  r.shared = shared;
  return r;
}

// The path of a fault as function names, innermost first.
inline std::vector<std::string> path_of(const FaultRecord& rec) {
  std::vector<std::string> out;
  for (const KernelFrame& f : rec.path) out.emplace_back(f.function);
  return out;
}

inline u64 steps_sum(const FaultRecord& rec) {
  u64 s = 0;
  for (const CostStep& c : rec.steps) s += c.cycles;
  return s;
}

inline bool has_step(const FaultRecord& rec, std::string_view name) {
  for (const CostStep& c : rec.steps)
    if (c.name == name) return true;
  return false;
}

inline const std::vector<std::string> kEntryChain = {"handle_pte_fault", "__handle_mm_fault", "handle_mm_fault",
                                                     "do_user_addr_fault", "exc_page_fault"};

// The chain expected for a fault resolved by `inner` (innermost first) under
// handle_pte_fault.
inline std::vector<std::string> chain(std::vector<std::string> inner) {
  inner.insert(inner.end(), kEntryChain.begin(), kEntryChain.end());
  return inner;
}

// A kernel on a small machine, with the CPUs and helpers the suites share.
class KernelTest : public ::testing::Test {
 protected:
  static constexpr u64 kBase = 0x7f0000000000ull;  // 2 MiB- and 1 GiB-aligned
  static constexpr u64 kPage = 4096;

  void SetUp() override { boot(64ull << 20); }

  void boot(u64 mem_bytes) {
    cpus_.clear();
    cfg.mem.size_bytes = mem_bytes;
    kernel = std::make_unique<Kernel>(mem, cfg, tlb);
    baseline = kernel->frames().in_use();
  }

  void TearDown() override { expect_consistent(); }

  // The CPU running `pid`: a new one when the task first runs or changed its mm
  // (exec); a dead task's last CPU so its faults stay readable.
  SoftCpu& cpu(Pid pid) {
    for (auto it = cpus_.rbegin(); it != cpus_.rend(); ++it) {
      SoftCpu& c = **it;
      if (c.pid() != pid) continue;
      if (!kernel->alive(pid) || c.mm_id() == kernel->mm_of(pid).id()) return c;
      break;
    }
    cpus_.push_back(std::make_unique<SoftCpu>(*kernel, mem, tlb, pid));
    return *cpus_.back();
  }

  void expect_consistent() {
    if (!kernel) return;
    const auto errors = kernel->check_invariants();
    std::string all;
    for (const auto& e : errors) all += e + "\n";
    EXPECT_TRUE(errors.empty()) << all;
  }

  // The leaf PTE of va in pid's tables, 0 if none.
  u64 pte(Pid pid, u64 va) const {
    auto pa = pte_lookup(mem, kernel->mm_of(pid), va);
    return pa ? mem.read64(*pa) : 0;
  }
  u64 pfn(Pid pid, u64 va) const { return pte_pfn(pte(pid, va)); }
  const Page& page(u64 pfn) const { return kernel->frames().page(pfn); }
  u64 minflt(Pid pid) const { return kernel->counters(pid).minflt; }
  u64 resolved(Pid pid, Resolution r) const {
    return kernel->counters(pid).by_resolution[static_cast<unsigned>(r)];
  }
  u64 in_use() const { return kernel->frames().in_use(); }
  const config::KernelCostConfig& cost() const { return cfg.kernel.cost; }

  config::Config cfg;
  hw::SparseMemory mem;
  FakeTlb tlb;
  std::unique_ptr<Kernel> kernel;
  u64 baseline = 0;

 private:
  std::vector<std::unique_ptr<SoftCpu>> cpus_;
};

}  // namespace mmusim::kernel::test
