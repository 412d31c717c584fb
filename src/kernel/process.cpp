// Tasks and the lifetime of address spaces: mm_alloc / mmput / exit_mmap
// (kernel/fork.c, mm/mmap.c), copy_process for fork and threads, exec's new mm
// (fs/exec.c exec_mmap, de_thread) and do_exit / do_group_exit (kernel/exit.c).
#include <fmt/format.h>

#include "kernel/internal.hpp"

namespace mmusim::kernel {

namespace {

// exit_mmap: every page unmapped, one flush of the mm, then every page table. The
// flush frees tables, so it reaches the CPUs that keep the mm lazily too, and they
// switch to init_mm: no CPU holds the mm once it is gone.
void exit_mmap(KernelState& k, Mm& mm, Recorder& r) {
  std::vector<Vma> vmas = mm.take_all();
  MmuGather tlb;
  tlb.fullmm = true;
  tlb.freed_tables = true;
  for (const Vma& v : vmas) zap_pte_range(k, mm, v.vm_start, v.vm_end, tlb, r);
  tlb_finish_mmu(k, mm, tlb, r);
  for (Vma& v : vmas) remove_vma(k, std::move(v));
  free_all_pgtables(k, mm);
}

Task& new_task(KernelState& k, Pid pid, Pid tgid, Mm* mm, const std::string& name) {
  Task& t = k.tasks[pid];
  t = Task{pid, tgid, mm, name};
  k.counters[pid] = TaskCounters{};  // a reused PID starts from zero, like a new process
  return t;
}

void check_new_pid(const KernelState& k, Pid pid, const char* event) {
  if (pid == 0) throw KernelError(fmt::format("{}: PID 0 is not a valid task", event));
  if (k.tasks.count(pid)) throw KernelError(fmt::format("{}: PID {} already exists", event, pid));
}

}  // namespace

Task& KernelState::task(Pid pid, const char* event) {
  auto it = tasks.find(pid);
  if (it != tasks.end()) return it->second;
  if (counters.count(pid)) throw KernelError(fmt::format("{}: PID {} has exited", event, pid));
  throw KernelError(fmt::format("{}: unknown PID {}", event, pid));
}

Mm* mm_alloc(KernelState& k, Recorder& r) {
  // pgd_alloc: a zeroed PML4. No kernel half is modelled, so it starts empty.
  auto pgd = k.frames.alloc();
  if (!pgd) return nullptr;
  k.frames.page(*pgd).pagetable = true;
  k.mem.zero_frame(*pgd);
  charge(r, Step::pgtable_alloc);
  const u64 id = k.next_mm_id++;
  auto mm = std::make_unique<Mm>(id, *pgd);
  Mm* raw = mm.get();
  k.mms.emplace(id, std::move(mm));
  return raw;
}

void mmput(KernelState& k, Mm& mm, Recorder& r) {
  if (--mm.users > 0) return;
  exit_mmap(k, mm, r);
  k.mms.erase(mm.id());
}

void do_exit(KernelState& k, Pid pid, Recorder& r) {
  auto it = k.tasks.find(pid);
  if (it == k.tasks.end()) return;
  Mm* mm = it->second.mm;
  k.tasks.erase(it);
  // exit_mm: the CPU running the task keeps its mm loaded, lazily, and then runs
  // nothing (the idle task) until the trace switches it to another.
  for (unsigned cpu = 0; cpu < k.current.size(); ++cpu) {
    if (k.current[cpu] != pid) continue;
    k.current[cpu] = 0;
    k.tlb.enter_lazy_tlb(cpu);
  }
  mmput(k, *mm, r);
}

u64 context_switch(KernelState& k, unsigned cpu, Pid next, bool scheduled) {
  Task& t = k.task(next, "switch");
  Recorder r(k.cost);
  if (scheduled) {
    r.charge(Step::context_switch);
    ++k.counters[next].context_switches;
  }
  k.current[cpu] = next;
  k.tlb.switch_mm(cpu, t.mm, r);  // nothing between threads of one mm
  return r.total();
}

u64 do_group_exit(KernelState& k, Pid pid) {
  auto it = k.tasks.find(pid);
  if (it == k.tasks.end()) return 0;
  const Mm* mm = it->second.mm;
  // Only threads share an mm here (no CLONE_VM without CLONE_THREAD), so the mm
  // names the thread group.
  std::vector<Pid> group;
  for (const auto& [p, t] : k.tasks)
    if (t.mm == mm) group.push_back(p);
  Recorder r(k.cost);
  for (Pid p : group) do_exit(k, p, r);
  return r.total();
}

u64 do_spawn(KernelState& k, Pid pid, const std::string& name, bool automap) {
  check_new_pid(k, pid, "spawn");
  Recorder r(k.cost);
  Mm* mm = mm_alloc(k, r);
  if (!mm) throw KernelError(fmt::format("spawn {}: out of memory for its page tables", pid));
  mm->automap = automap;
  new_task(k, pid, pid, mm, name);
  if (k.first_spawned == 0) k.first_spawned = pid;
  return r.total();
}

u64 do_fork(KernelState& k, Pid parent, Pid child) {
  Task& p = k.task(parent, "fork");
  check_new_pid(k, child, "fork");
  Recorder r(k.cost);
  Mm* mm = mm_alloc(k, r);
  if (!mm) throw KernelError(fmt::format("fork {} {}: out of memory (ENOMEM)", parent, child));
  mm->automap = p.mm->automap;
  if (!dup_mmap(k, *p.mm, *mm, r)) {
    // copy_process fails with -ENOMEM: the half-built child mm is torn down; the
    // parent keeps running with its PTEs write-protected, as in Linux.
    mmput(k, *mm, r);
    throw KernelError(fmt::format("fork {} {}: out of memory (ENOMEM)", parent, child));
  }
  new_task(k, child, child, mm, p.comm);
  return r.total();
}

u64 do_thread(KernelState& k, Pid pid, Pid tid) {
  Task& t = k.task(pid, "thread");
  check_new_pid(k, tid, "thread");
  ++t.mm->users;
  const Pid tgid = t.tgid;
  Mm* mm = t.mm;
  const std::string comm = t.comm;
  new_task(k, tid, tgid, mm, comm);
  return 0;
}

u64 do_exec(KernelState& k, Pid pid, const std::string& name) {
  Task& t = k.task(pid, "exec");
  Recorder r(k.cost);
  Mm* fresh = mm_alloc(k, r);
  if (!fresh) throw KernelError(fmt::format("exec {}: out of memory (ENOMEM)", pid));
  Mm* old = t.mm;
  fresh->automap = old->automap;
  // de_thread: the other threads of the process die first. (Linux also hands the
  // leader's PID to an exec'ing thread; here the exec'ing task keeps its own.)
  std::vector<Pid> others;
  for (const auto& [p, task] : k.tasks)
    if (task.mm == old && p != pid) others.push_back(p);
  for (Pid p : others) do_exit(k, p, r);
  Task& self = k.tasks.at(pid);
  self.mm = fresh;
  self.tgid = pid;
  if (!name.empty()) self.comm = name;
  // exec_mmap → activate_mm: the CPU running the task switches to the new tables
  // before the old mm goes.
  for (unsigned cpu = 0; cpu < k.current.size(); ++cpu)
    if (k.current[cpu] == pid) k.tlb.switch_mm(cpu, fresh, r);
  mmput(k, *old, r);
  return r.total();
}

u64 do_exit_event(KernelState& k, Pid pid) {
  k.task(pid, "exit");
  Recorder r(k.cost);
  do_exit(k, pid, r);
  return r.total();
}

}  // namespace mmusim::kernel
