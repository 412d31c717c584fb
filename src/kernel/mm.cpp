#include "kernel/mm.hpp"

#include <iterator>
#include <utility>

namespace mmusim::kernel {

const Vma* Mm::find_vma(u64 addr) const {
  // The VMA starting at or below addr may still end above it; if not, the next one.
  auto it = vmas_.upper_bound(addr);
  if (it != vmas_.begin()) {
    auto prev = std::prev(it);
    if (prev->second.vm_end > addr) return &prev->second;
  }
  return it == vmas_.end() ? nullptr : &it->second;
}

const Vma* Mm::vma_lookup(u64 addr) const {
  const Vma* v = find_vma(addr);
  return v && v->vm_start <= addr ? v : nullptr;
}

Vma* Mm::vma_lookup(u64 addr) { return const_cast<Vma*>(std::as_const(*this).vma_lookup(addr)); }

const Vma* Mm::find_vma_prev(u64 addr) const {
  auto it = vmas_.lower_bound(addr);
  if (it == vmas_.begin()) return nullptr;
  return &std::prev(it)->second;
}

bool Mm::intersects(u64 start, u64 end) const {
  const Vma* v = find_vma(start);
  return v && v->vm_start < end;
}

bool Mm::fully_mapped(u64 start, u64 end) const {
  u64 addr = start;
  while (addr < end) {
    const Vma* v = vma_lookup(addr);
    if (!v) return false;
    addr = v->vm_end;
  }
  return true;
}

void Mm::split_vma(u64 addr) {
  Vma* v = vma_lookup(addr);
  if (!v || v->vm_start == addr) return;
  Vma upper = *v;
  upper.vm_start = addr;
  upper.vm_pgoff = v->pgoff_of(addr);
  v->vm_end = addr;
  vmas_.emplace(addr, std::move(upper));
}

std::vector<Vma*> Mm::vmas_in(u64 start, u64 end) {
  split_vma(start);
  split_vma(end);
  std::vector<Vma*> out;
  for (auto it = vmas_.lower_bound(start); it != vmas_.end() && it->first < end; ++it)
    out.push_back(&it->second);
  return out;
}

std::vector<Vma> Mm::detach_range(u64 start, u64 end) {
  split_vma(start);
  split_vma(end);
  std::vector<Vma> out;
  auto it = vmas_.lower_bound(start);
  while (it != vmas_.end() && it->first < end) {
    out.push_back(std::move(it->second));
    it = vmas_.erase(it);
  }
  return out;
}

std::vector<Vma> Mm::take_all() {
  std::vector<Vma> out;
  for (auto& [start, v] : vmas_) out.push_back(std::move(v));
  vmas_.clear();
  return out;
}

void Mm::insert_vma(Vma vma) {
  const u64 start = vma.vm_start;
  vmas_.emplace(start, std::move(vma));
}

bool vmas_mergeable(const Vma& prev, const Vma& next) {
  if (prev.vm_end != next.vm_start) return false;
  if (prev.vm_flags != next.vm_flags) return false;
  // is_mergeable_vma: same file, and the file offsets continue (anonymous private
  // VMAs use vm_start >> PAGE_SHIFT, so adjacent ones always continue).
  if (prev.vm_file != next.vm_file) return false;
  if (next.vm_pgoff != prev.vm_pgoff + prev.pages()) return false;
  // is_mergeable_anon_vma: one without an anon_vma adopts the other's.
  if (prev.anon_vma && next.anon_vma && prev.anon_vma != next.anon_vma) return false;
  // Names label report lines (an anon_vma_name in Linux would also block merging);
  // automapped VMAs merge only among themselves.
  return prev.name == next.name && prev.automapped == next.automapped;
}

bool Mm::merge_at(u64 addr) {
  auto next = vmas_.find(addr);
  if (next == vmas_.end() || next == vmas_.begin()) return false;
  auto prev = std::prev(next);
  if (!vmas_mergeable(prev->second, next->second)) return false;
  prev->second.vm_end = next->second.vm_end;
  if (!prev->second.anon_vma) prev->second.anon_vma = std::move(next->second.anon_vma);
  vmas_.erase(next);
  return true;
}

}  // namespace mmusim::kernel
