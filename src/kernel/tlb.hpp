// TLB coherence as Linux keeps it on x86 (arch/x86/mm/tlb.c, asm/tlbflush.h): which
// PCID each CPU gives an address space, when a context switch must flush, which CPUs
// a flush must interrupt, and what each of them then invalidates.
//
// The mm code (memory.c, mprotect.c, ...) asks for flushes through TlbFlusher, at the
// level of an address space and a range; X86Tlb turns them into instructions on the
// CPUs (MOV to CR3, INVLPG) and into IPIs, through the machine's Cpus interface. The
// kernel suites replace X86Tlb with a recording fake (tests/kernel_test_support.hpp).
//
// Followed from Linux 6.18 (linux-fault-path.md §1.10), with these parts:
// - Per CPU, TLB_NR_DYN_ASIDS = 6 slots remember the last address spaces run there,
//   each with the tlb_gen it has caught up with. choose_new_asid reuses an mm's slot
//   (flushing only if the mm's tlb_gen moved on since) or takes the next slot round
//   robin and flushes it. PCID = ASID + 1 (kern_pcid: PCID 0 is for code that does not
//   know PCIDs). Without CR4.PCIDE every switch flushes.
// - mm_cpumask gains a CPU when it switches to the mm and is not cleared at a switch
//   away (Linux 6.x); a flush then interrupts only the CPUs that have the mm loaded and
//   are not lazy (should_flush_tlb), and the others catch up through tlb_gen when they
//   next switch to it. A flush that freed page tables interrupts every CPU of the mask,
//   lazy ones included (native_flush_tlb_multi); a lazy CPU then switches to init_mm
//   and a CPU running another mm leaves the mask.
// - A CPU whose task exits (or that runs no task) is lazy: it keeps the last mm loaded
//   (enter_lazy_tlb), and switching back to that mm flushes only if the mm was flushed
//   meanwhile.
// - A range of at most tlb_single_page_flush_ceiling (kernel.tlb_flush_ceiling, 33)
//   pages is flushed page by page (INVLPG) with one IPI per target for the whole
//   range; a larger one, or a CPU more than one tlb_gen behind, flushes the whole PCID
//   (CR3 reload).
// Not modelled: the periodic mm_cpumask trim (should_trim_cpumask, once a second), PTI's
// second (user) PCID per ASID, INVLPGB broadcast flushes (AMD, Linux 6.15+), and
// KVM's paravirtual flush of preempted vCPUs.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "config/config.hpp"
#include "kernel/mm.hpp"
#include "kernel/recorder.hpp"

namespace mmusim::kernel {

inline constexpr unsigned TLB_NR_DYN_ASIDS = 6;
inline constexpr u64 TLB_FLUSH_ALL = ~0ull;
// CR3 bit 63 with CR4.PCIDE=1: keep the new PCID's entries (X86_CR3_PCID_NOFLUSH).
inline constexpr u64 X86_CR3_PCID_NOFLUSH = 1ull << 63;

// What the mm code asks of TLB maintenance (asm/tlbflush.h).
class TlbFlusher {
 public:
  virtual ~TlbFlusher() = default;
  // flush_tlb_mm_range: every translation of `mm` in [start, end) (end = TLB_FLUSH_ALL:
  // all of it), pages of 1 << stride_shift bytes. freed_tables: page tables were freed,
  // so no CPU may keep walking them, lazy ones included. Charges the caller's cycles
  // (local flush, IPIs, waiting) to `r`.
  virtual void flush_tlb_mm_range(Mm& mm, u64 start, u64 end, unsigned stride_shift, bool freed_tables,
                                  Recorder& r) = 0;
  // switch_mm_irqs_off: `cpu` now runs `next` (nullptr: init_mm, the kernel's own tables).
  virtual void switch_mm(unsigned cpu, Mm* next, Recorder& r) = 0;
  // enter_lazy_tlb: `cpu` stops running user code but keeps its mm loaded.
  virtual void enter_lazy_tlb(unsigned cpu) = 0;
};

// flush_tlb_page / flush_tlb_mm (asm/tlbflush.h): one 4 KiB page, or the whole mm.
inline void flush_tlb_page(TlbFlusher& tlb, Mm& mm, u64 va, Recorder& r) {
  const u64 page = va & ~(kPageSize - 1);
  tlb.flush_tlb_mm_range(mm, page, page + kPageSize, kPageShift, false, r);
}
inline void flush_tlb_mm(TlbFlusher& tlb, Mm& mm, Recorder& r) {
  tlb.flush_tlb_mm_range(mm, 0, TLB_FLUSH_ALL, kPageShift, false, r);
}

// The machine as tlb.c drives it (hw::System implements it).
class Cpus {
 public:
  virtual ~Cpus() = default;
  virtual unsigned smp_processor_id() const = 0;       // the CPU the kernel runs on now
  virtual void write_cr3(unsigned cpu, u64 cr3) = 0;   // MOV to CR3 on `cpu` (SDM §4.10.4.1)
  virtual void invlpg(unsigned cpu, u64 va) = 0;       // INVLPG on `cpu`, in its current PCID

  // What a target's interrupt handler did: cycles up to its acknowledgement, and after.
  struct Handled {
    u64 before_ack = 0;
    u64 after_ack = 0;
  };
  // smp_call_function_many(targets, func, wait=true): one IPI to each CPU of `targets`,
  // ascending, sent one after another from `elapsed` cycles into the caller's current
  // kernel operation; each target runs func(cpu) in its interrupt handler, on its own
  // timeline. Returns the cycles from the first send until the last acknowledgement
  // reaches the caller.
  virtual u64 smp_call_function_many(const CpuMask& targets, const std::function<Handled(unsigned)>& func,
                                     u64 elapsed) = 0;
};

// One of a CPU's ASID slots (struct tlb_context).
struct TlbContext {
  u64 ctx_id = 0;   // the mm's id (Mm::id()); 0 is init_mm
  u64 tlb_gen = 0;  // the mm's tlb_gen this CPU's entries have caught up with
};

// cpu_tlbstate (and cpu_tlbstate_shared.is_lazy) of one CPU.
struct TlbState {
  Mm* loaded_mm = nullptr;  // nullptr: init_mm
  std::uint16_t loaded_mm_asid = 0;
  std::uint16_t next_asid = 1;  // slot 0 starts as init_mm's (initialize_tlbstate_and_flush)
  std::array<TlbContext, TLB_NR_DYN_ASIDS> ctxs{};
  bool is_lazy = false;
};

// Counters of one CPU's TLB maintenance, as its kernel sees it.
struct CpuTlbCounters {
  u64 cr3_writes = 0;           // switch_mm's CR3 loads
  u64 cr3_noflush = 0;          // of those, with the no-flush bit (the ASID was still valid)
  u64 asid_reuses = 0;          // switches that found the mm's ASID slot still there
  u64 flushes_initiated = 0;    // flush_tlb_mm_range calls made on this CPU
  u64 shootdowns = 0;           // of those, the ones that sent at least one IPI
  u64 ipis_sent = 0;
  u64 ipis_received = 0;
  u64 lazy_skips = 0;           // flushes that spared this CPU because it was lazy
  u64 local_page_flushes = 0;   // INVLPGs on this CPU for flushes (local or by IPI)
  u64 local_full_flushes = 0;   // whole-PCID flushes on this CPU for flushes
};

class X86Tlb : public TlbFlusher {
 public:
  X86Tlb(const config::Config& cfg, Cpus& cpus);

  void flush_tlb_mm_range(Mm& mm, u64 start, u64 end, unsigned stride_shift, bool freed_tables,
                          Recorder& r) override;
  void switch_mm(unsigned cpu, Mm* next, Recorder& r) override;
  void enter_lazy_tlb(unsigned cpu) override;

  const TlbState& state(unsigned cpu) const { return cpus_state_.at(cpu); }
  const CpuTlbCounters& counters(unsigned cpu) const { return counters_.at(cpu); }
  // kern_pcid: the PCID an ASID slot tags entries with (0 without CR4.PCIDE).
  u64 pcid(std::uint16_t asid) const { return pcid_ ? asid + 1u : 0u; }

 private:
  // struct flush_tlb_info.
  struct FlushTlbInfo {
    Mm* mm;
    u64 start, end;
    unsigned stride_shift;
    bool freed_tables;
    u64 new_tlb_gen;
  };
  // The cycles of a flush on one CPU: nothing, INVLPGs or a CR3 reload.
  u64 flush_tlb_func(unsigned cpu, const FlushTlbInfo& f);
  bool should_flush_tlb(unsigned cpu, const FlushTlbInfo& f) const;
  void choose_new_asid(unsigned cpu, const Mm* next, u64 next_tlb_gen, std::uint16_t& new_asid,
                       bool& need_flush);
  // switch_mm_irqs_off; returns the cycles of the CR3 write, if any.
  u64 switch_mm_irqs_off(unsigned cpu, Mm* next);
  u64 build_cr3(const Mm* mm, std::uint16_t asid) const;

  const config::Config& cfg_;
  Cpus& cpus_;
  bool pcid_;
  std::vector<TlbState> cpus_state_;
  std::vector<CpuTlbCounters> counters_;
};

}  // namespace mmusim::kernel
