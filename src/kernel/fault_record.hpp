// What the kernel did for one page fault: how it was resolved, every named cost
// step (which add up to the total exactly) and the chain of kernel functions that
// handled it, innermost first, as a kernel stack trace shows it.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace mmusim::kernel {

using u64 = std::uint64_t;

enum class Resolution : unsigned char {
  AnonymousPage,  // do_anonymous_page, write fault: a new zeroed frame
  ZeroPage,       // do_anonymous_page, read fault: the shared zero page, read-only
  CowCopy,        // do_wp_page → wp_page_copy (also zero page → private page), or
                  // do_cow_fault: a private copy of a file page at its first touch
  CowReuse,       // do_wp_page → wp_page_reuse: the only user keeps its page; also
                  // wp_page_shared, the write-notify fault of a shared file page
  Spurious,       // the PTE already allowed the access (stale TLB): nothing to do
  Sigsegv,        // bad_area: no VMA (SEGV_MAPERR) or access_error (SEGV_ACCERR)
  Sigbus,
  Oom,            // no frame could be allocated: the task is killed
  PageCache,      // do_fault on a file or shmem mapping: the page-cache page mapped
                  // (a shmem hole allocated and zeroed first); read faults also map
                  // the cached pages around it (do_fault_around)
};
inline constexpr unsigned kResolutionCount = 9;
std::string_view to_string(Resolution r);

// si_code values of <asm-generic/siginfo.h>.
inline constexpr int SEGV_MAPERR = 1;
inline constexpr int SEGV_ACCERR = 2;
inline constexpr int BUS_ADRERR = 2;

struct CostStep {
  std::string_view name;   // a KernelCostConfig field name ("exception_entry", ...), or "zero" / "copy"
                           // (bytes over kernel.cost.zero_bandwidth / copy_bandwidth), "ipi_wait", "cr3_write",
                           // or "retry_walk": the restarted access's TLB lookups and walk (hw::Core)
  u64 cycles;
};

struct KernelFrame {
  std::string_view function;  // Linux function name: "wp_page_copy", "do_wp_page", ...
  u64 cycles;                 // inclusive: this function and everything it called
};

struct FaultRecord {
  u64 address = 0;            // CR2
  std::uint32_t error_code = 0;
  Resolution resolution = Resolution::Spurious;
  int si_code = 0;            // for Sigsegv / Sigbus
  bool huge = false;          // resolved at PMD level: a 2 MiB THP or the huge zero page
  u64 total_cycles = 0;       // == sum of steps[i].cycles
  std::vector<CostStep> steps;
  std::vector<KernelFrame> path;  // innermost first: wp_page_copy, do_wp_page, ..., exc_page_fault

  void clear() {
    address = 0; error_code = 0; resolution = Resolution::Spurious; si_code = 0; huge = false;
    total_cycles = 0; steps.clear(); path.clear();
  }
};

}  // namespace mmusim::kernel
