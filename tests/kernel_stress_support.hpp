// Support for the kernel's randomized stress test (kernel_stress_test.cpp): a
// seeded random source, a shadow model of what every process may see (its
// mappings page by page and the data it wrote), and a log of the events as
// trace lines, so that a failing seed can be replayed with `mmusim run`.
// Builds on the software CPU of kernel_test_support.hpp; no SystemC.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "kernel_test_support.hpp"

namespace mmusim::kernel::test::stress {

// A deterministic random source: the same seed gives the same run everywhere
// (mt19937_64 is fully specified; no std::*_distribution, whose results differ
// between standard libraries).
class Rng {
 public:
  explicit Rng(u64 seed) : g_(seed) {}
  u64 next() { return g_(); }
  // Uniform in [0, n); n > 0. The modulo bias is irrelevant here.
  u64 below(u64 n) { return g_() % n; }
  u64 between(u64 lo, u64 hi) { return lo + below(hi - lo + 1); }  // [lo, hi]
  bool chance(unsigned percent) { return below(100) < percent; }
  // An index chosen with the given weights (at least one non-zero).
  std::size_t weighted(const std::vector<unsigned>& w) {
    u64 total = 0;
    for (unsigned x : w) total += x;
    u64 r = below(total);
    for (std::size_t i = 0; i < w.size(); ++i) {
      if (r < w[i]) return i;
      r -= w[i];
    }
    return w.size() - 1;
  }
  template <class C>
  auto& pick(C& c) {
    auto it = c.begin();
    std::advance(it, static_cast<long>(below(c.size())));
    return *it;
  }

 private:
  std::mt19937_64 g_;
};

// What an access may do on a page with protection `prot` ("rw-", "--x", ...),
// as x86 Linux decides it: write and execute imply read (no execute-only or
// write-only PTEs), a fetch needs VM_EXEC (XD otherwise, EFER.NXE=1).
inline bool prot_allows(const std::string& prot, AccessType type) {
  const bool r = prot[0] == 'r', w = prot[1] == 'w', x = prot[2] == 'x';
  switch (type) {
    case AccessType::Read: return r || w || x;
    case AccessType::Write: return w;
    case AccessType::Fetch: return x;
  }
  return false;
}

// One page of a process as the test believes it is mapped.
struct PageState {
  std::string prot;  // "rw-", "---", ...
  bool shared = false;
  u64 object = 0;    // shared: the test's id of the shmem object (one per shared mmap)
  u64 index = 0;     // shared: the page's offset in that object, in pages
};

// A process (thread group) of the model: its tasks, its pages, and the last value
// it wrote at each address of its private memory. Shared memory's data lives in
// the model's object store, seen by every process mapping the object.
struct Space {
  std::vector<Pid> tasks;
  std::map<u64, PageState> pages;  // page address → state
  std::map<u64, u64> data;         // address → last value written (private pages only)
};

class ShadowModel {
 public:
  using Gid = u64;

  Gid spawn(Pid pid) {
    const Gid g = next_gid_++;
    spaces_[g].tasks = {pid};
    group_[pid] = g;
    return g;
  }
  Gid fork(Gid parent, Pid child) {
    const Gid g = next_gid_++;
    Space s = spaces_.at(parent);
    s.tasks = {child};
    spaces_[g] = std::move(s);
    group_[child] = g;
    return g;
  }
  void thread(Pid pid, Pid tid) {
    const Gid g = group_.at(pid);
    spaces_.at(g).tasks.push_back(tid);
    group_[tid] = g;
  }
  // exec: the other threads die, the address space starts empty.
  void exec(Pid pid) {
    const Gid g = group_.at(pid);
    Space& s = spaces_.at(g);
    for (Pid t : s.tasks)
      if (t != pid) group_.erase(t);
    s = Space{};
    s.tasks = {pid};
  }
  // One task exits; the address space goes with its last task.
  void exit(Pid pid) {
    const Gid g = group_.at(pid);
    group_.erase(pid);
    Space& s = spaces_.at(g);
    std::erase(s.tasks, pid);
    if (s.tasks.empty()) spaces_.erase(g);
  }
  // A fatal signal: every task of the group dies.
  void kill(Gid g) {
    for (Pid t : spaces_.at(g).tasks) group_.erase(t);
    spaces_.erase(g);
  }

  void mmap(Gid g, u64 start, u64 len, const std::string& prot, bool shared) {
    Space& s = spaces_.at(g);
    const u64 object = shared ? next_object_++ : 0;
    drop_private_data(s, start, len);  // MAP_FIXED: what was there is gone
    for (u64 a = start; a < start + len; a += kPage)
      s.pages[a] = PageState{prot, shared, object, shared ? (a - start) / kPage : 0};
  }
  void munmap(Gid g, u64 start, u64 len) {
    Space& s = spaces_.at(g);
    drop_private_data(s, start, len);
    for (u64 a = start; a < start + len; a += kPage) s.pages.erase(a);
  }
  bool fully_mapped(Gid g, u64 start, u64 len) const {
    const Space& s = spaces_.at(g);
    for (u64 a = start; a < start + len; a += kPage)
      if (!s.pages.count(a)) return false;
    return true;
  }
  bool any_mapped(Gid g, u64 start, u64 len) const {
    const Space& s = spaces_.at(g);
    auto it = s.pages.lower_bound(start);
    return it != s.pages.end() && it->first < start + len;
  }
  void mprotect(Gid g, u64 start, u64 len, const std::string& prot) {
    for (u64 a = start; a < start + len; a += kPage) spaces_.at(g).pages.at(a).prot = prot;
  }
  // MADV_DONTNEED: private pages read as zero again; shared ones keep their data
  // (it is in the shmem object, refaulted on the next touch).
  void dontneed(Gid g, u64 start, u64 len) {
    Space& s = spaces_.at(g);
    for (auto it = s.data.lower_bound(start); it != s.data.end() && it->first < start + len;)
      it = s.pages.at(it->first & ~(kPage - 1)).shared ? std::next(it) : s.data.erase(it);
  }

  const PageState* page(Gid g, u64 addr) const {
    const Space& s = spaces_.at(g);
    auto it = s.pages.find(addr & ~(kPage - 1));
    return it == s.pages.end() ? nullptr : &it->second;
  }
  // The value process g must read at addr (a mapped page): what it, or for shared
  // memory anyone sharing the object, last wrote there; zero if nothing was.
  u64 expected(Gid g, u64 addr) const {
    const PageState& p = *page(g, addr);
    if (p.shared) {
      auto it = shared_data_.find({p.object, p.index * kPage + (addr & (kPage - 1))});
      return it == shared_data_.end() ? 0 : it->second;
    }
    const Space& s = spaces_.at(g);
    auto it = s.data.find(addr);
    return it == s.data.end() ? 0 : it->second;
  }
  void wrote(Gid g, u64 addr, u64 value) {
    const PageState& p = *page(g, addr);
    if (p.shared) shared_data_[{p.object, p.index * kPage + (addr & (kPage - 1))}] = value;
    else spaces_.at(g).data[addr] = value;
  }

  bool alive(Pid pid) const { return group_.count(pid) != 0; }
  Gid group(Pid pid) const { return group_.at(pid); }
  const std::map<Gid, Space>& spaces() const { return spaces_; }
  const Space& space(Gid g) const { return spaces_.at(g); }
  std::vector<Pid> tasks() const {
    std::vector<Pid> out;
    for (const auto& [pid, g] : group_) out.push_back(pid);
    return out;
  }
  std::size_t task_count() const { return group_.size(); }

 private:
  static constexpr u64 kPage = 4096;

  static void drop_private_data(Space& s, u64 start, u64 len) {
    for (auto it = s.data.lower_bound(start); it != s.data.end() && it->first < start + len;)
      it = s.data.erase(it);
  }

  std::map<Gid, Space> spaces_;
  std::map<Pid, Gid> group_;  // live tasks
  std::map<std::pair<u64, u64>, u64> shared_data_;  // (object, byte offset) → value
  Gid next_gid_ = 1;
  u64 next_object_ = 1;
};

// The run as a trace (docs/trace-format.md), written out when a seed fails so
// that it can be replayed and bisected with `mmusim run --check`. Accesses run on
// the task of the last `switch`, so one is inserted whenever the task changes.
class TraceLog {
 public:
  void header(u64 seed, u64 mem_bytes) {
    lines_.push_back("mmutrace 1");
    lines_.push_back(fmt::format("# kernel_stress_test seed {}: mmusim run --check --set mem.size={} FILE", seed,
                                 mem_bytes));
  }
  // Logged before the kernel sees the event, so that the trace of a run that
  // failed inside the kernel ends with the culprit.
  void event(std::string line) { lines_.push_back(std::move(line)); }
  // The last event was refused (out of memory): it stays as a comment, since a
  // replay would stop at a refused event.
  void refused(const std::string& why) { lines_.back() = "# refused (" + why + "): " + lines_.back(); }
  void comment(const std::string& text) { lines_.push_back("# " + text); }
  void access(Pid pid, const std::string& line) {
    if (pid != current_) lines_.push_back(fmt::format("switch {}", pid));
    current_ = pid;
    lines_.push_back(line);
  }
  // The CPU runs nothing once its task is gone.
  void gone(Pid pid) {
    if (pid == current_) current_ = 0;
  }
  std::string write(const std::string& path) const {
    std::ofstream f(path);
    for (const std::string& l : lines_) f << l << '\n';
    return f ? path : std::string("(could not write ") + path + ")";
  }
  std::size_t size() const { return lines_.size(); }

 private:
  std::vector<std::string> lines_;
  Pid current_ = 0;
};

}  // namespace mmusim::kernel::test::stress
