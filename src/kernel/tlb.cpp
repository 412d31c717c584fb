// arch/x86/mm/tlb.c, function by function (Linux 6.18): see tlb.hpp for what is and
// is not followed.
#include "kernel/tlb.hpp"

#include <algorithm>
#include <stdexcept>

namespace mmusim::kernel {

X86Tlb::X86Tlb(const config::Config& cfg, Cpus& cpus)
    : cfg_(cfg), cpus_(cpus), pcid_(cfg.cr4.pcide), cpus_state_(cfg.cores), counters_(cfg.cores) {
  // initialize_tlbstate_and_flush: each CPU boots in init_mm, in ASID slot 0.
  for (TlbState& s : cpus_state_) s.ctxs[0] = {0, 1};
}

u64 X86Tlb::build_cr3(const Mm* mm, std::uint16_t asid) const {
  // init_mm's tables stand for the kernel's own: no user translation (CR3 0 here).
  return (mm ? mm->cr3() : 0) | pcid(asid);
}

// choose_new_asid: the mm's slot if this CPU still has one (flush only if the mm was
// flushed since), else the next slot round robin, which must be flushed.
void X86Tlb::choose_new_asid(unsigned cpu, const Mm* next, u64 next_tlb_gen, std::uint16_t& new_asid,
                             bool& need_flush) {
  TlbState& s = cpus_state_[cpu];
  if (!pcid_) {
    new_asid = 0;
    need_flush = true;
    return;
  }
  const u64 ctx_id = next ? next->id() : 0;
  for (std::uint16_t asid = 0; asid < TLB_NR_DYN_ASIDS; ++asid) {
    if (s.ctxs[asid].ctx_id != ctx_id) continue;
    new_asid = asid;
    need_flush = s.ctxs[asid].tlb_gen < next_tlb_gen;
    ++counters_[cpu].asid_reuses;
    return;
  }
  new_asid = s.next_asid++;
  if (new_asid >= TLB_NR_DYN_ASIDS) {
    new_asid = 0;
    s.next_asid = 1;
  }
  need_flush = true;
}

u64 X86Tlb::switch_mm_irqs_off(unsigned cpu, Mm* next) {
  TlbState& s = cpus_state_[cpu];
  Mm* prev = s.loaded_mm;
  const bool was_lazy = s.is_lazy;
  s.is_lazy = false;
  std::uint16_t new_asid = 0;
  bool need_flush = false;
  const u64 next_tlb_gen = next ? next->tlb_gen : 1;
  if (prev == next) {
    // Back from lazy mode to the mm still loaded: flushes it skipped meanwhile are
    // caught up here, with a flush of its PCID if the generation moved on.
    if (!was_lazy) return 0;
    if (s.ctxs[s.loaded_mm_asid].tlb_gen == next_tlb_gen) return 0;
    new_asid = s.loaded_mm_asid;
    need_flush = true;
  } else {
    if (next) next->cpumask.set(cpu);
    choose_new_asid(cpu, next, next_tlb_gen, new_asid, need_flush);
  }
  // load_new_mm_cr3: a flushing write records the slot as caught up; a non-flushing one
  // keeps the PCID's entries (CR3 bit 63).
  CpuTlbCounters& c = counters_[cpu];
  ++c.cr3_writes;
  if (need_flush) {
    s.ctxs[new_asid] = {next ? next->id() : 0, next_tlb_gen};
    cpus_.write_cr3(cpu, build_cr3(next, new_asid));
  } else {
    ++c.cr3_noflush;
    cpus_.write_cr3(cpu, build_cr3(next, new_asid) | X86_CR3_PCID_NOFLUSH);
  }
  s.loaded_mm = next;
  s.loaded_mm_asid = new_asid;
  return cfg_.core.cr3_write_cycles;
}

void X86Tlb::switch_mm(unsigned cpu, Mm* next, Recorder& r) {
  r.charge_cycles(Step::cr3_write, switch_mm_irqs_off(cpu, next));
}

void X86Tlb::enter_lazy_tlb(unsigned cpu) {
  TlbState& s = cpus_state_.at(cpu);
  if (s.loaded_mm) s.is_lazy = true;  // init_mm is never lazy
}

// should_flush_tlb: lazy CPUs catch up at their next switch_mm; a CPU that has another
// mm loaded has nothing of this one in its current PCID.
bool X86Tlb::should_flush_tlb(unsigned cpu, const FlushTlbInfo& f) const {
  const TlbState& s = cpus_state_[cpu];
  if (s.is_lazy) return false;
  return s.loaded_mm == f.mm;
}

u64 X86Tlb::flush_tlb_func(unsigned cpu, const FlushTlbInfo& f) {
  TlbState& s = cpus_state_[cpu];
  CpuTlbCounters& c = counters_[cpu];
  if (f.mm != s.loaded_mm) {
    // An IPI for an mm this CPU no longer runs (only freed_tables sends those): it
    // leaves the mm's mask, and later switches back catch up through tlb_gen.
    f.mm->cpumask.reset(cpu);
    return 0;
  }
  if (s.is_lazy) {
    // The page tables a lazy CPU could still walk are being freed: leave the mm.
    return switch_mm_irqs_off(cpu, nullptr);
  }
  TlbContext& ctx = s.ctxs[s.loaded_mm_asid];
  const u64 mm_tlb_gen = f.mm->tlb_gen;
  if (ctx.tlb_gen == mm_tlb_gen || f.new_tlb_gen <= ctx.tlb_gen) return 0;  // already caught up
  u64 cycles = 0;
  // A partial flush is correct only when it is the one generation this CPU missed
  // and the newest: otherwise an older skipped range would stay cached.
  const bool partial = f.end != TLB_FLUSH_ALL && f.new_tlb_gen == mm_tlb_gen && ctx.tlb_gen + 1 == f.new_tlb_gen;
  if (partial) {
    const u64 step = 1ull << f.stride_shift;
    for (u64 a = f.start; a < f.end; a += step) {
      cpus_.invlpg(cpu, a);  // flush_tlb_one_user
      ++c.local_page_flushes;
      cycles += cfg_.kernel.cost.tlb_flush_local;
    }
  } else {
    // flush_tlb_local: reload CR3 with its own value, which drops the PCID's
    // non-global entries.
    cpus_.write_cr3(cpu, build_cr3(s.loaded_mm, s.loaded_mm_asid));
    ++c.local_full_flushes;
    cycles += cfg_.kernel.cost.tlb_flush_local;
  }
  ctx.tlb_gen = mm_tlb_gen;
  return cycles;
}

void X86Tlb::flush_tlb_mm_range(Mm& mm, u64 start, u64 end, unsigned stride_shift, bool freed_tables,
                                Recorder& r) {
  const unsigned cpu = cpus_.smp_processor_id();
  CpuTlbCounters& c = counters_.at(cpu);
  ++c.flushes_initiated;
  if (end != TLB_FLUSH_ALL && ((end - start) >> stride_shift) > cfg_.kernel.tlb_flush_ceiling) {
    start = 0;
    end = TLB_FLUSH_ALL;
  }
  const FlushTlbInfo info{&mm, start, end, stride_shift, freed_tables, ++mm.tlb_gen};

  // Another CPU in the mask: flush_tlb_multi, whose native_flush_tlb_multi interrupts
  // every CPU of the mask when tables were freed, lazy or not, and otherwise those
  // should_flush_tlb picks; on_each_cpu_cond_mask runs the same test on this CPU.
  // None: flush_tlb_func here, if this CPU has the mm loaded (lazily or not).
  CpuMask others = mm.cpumask;
  others.reset(cpu);
  CpuMask targets;
  bool local = cpus_state_[cpu].loaded_mm == &mm;
  if (others.any()) {
    for (unsigned t = 0; t < cpus_state_.size(); ++t) {
      if (!others.test(t)) continue;
      if (freed_tables || should_flush_tlb(t, info)) targets.set(t);
      else if (cpus_state_[t].is_lazy && cpus_state_[t].loaded_mm == &mm) ++counters_[t].lazy_skips;
    }
    local = mm.cpumask.test(cpu) && (freed_tables || should_flush_tlb(cpu, info));
  }

  u64 ack = 0;
  if (targets.any()) {
    ++c.shootdowns;
    c.ipis_sent += targets.count();
    const u64 entry = cfg_.kernel.cost.ipi_entry, exit = cfg_.kernel.cost.ipi_exit;
    ack = cpus_.smp_call_function_many(
        targets,
        [&](unsigned t) {
          ++counters_[t].ipis_received;
          return Cpus::Handled{entry + flush_tlb_func(t, info), exit};
        },
        r.total());
    r.charge(Step::ipi_send, targets.count());
  }
  // The local flush runs while the IPIs are in flight (smp_call_function_many_cond
  // sends first, then calls func locally, then waits).
  const u64 before_local = r.total();
  if (local) {
    const u64 cycles = flush_tlb_func(cpu, info);
    // A step per kind of work: the flush, or the CR3 write of a lazy CPU leaving.
    if (cpus_state_[cpu].loaded_mm == &mm) r.charge_cycles(Step::tlb_flush_local, cycles);
    else r.charge_cycles(Step::cr3_write, cycles);
  }
  if (targets.any()) {
    const u64 sent_and_local = cfg_.kernel.cost.ipi_send * targets.count() + (r.total() - before_local);
    r.charge_cycles(Step::ipi_wait, ack > sent_and_local ? ack - sent_and_local : 0);
  }
}

}  // namespace mmusim::kernel
