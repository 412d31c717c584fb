// `mmusim explain TRACE --line N`: one memory access of a trace, step by step, for
// teaching. The trace runs on the ordinary machine up to (not including) line N; the
// access then meets exactly the state it would meet in `mmusim run`, and is shown as
// the hardware sees it: the registers that matter, the address split, the TLB levels
// and paging-structure caches it may start from, every entry of the walk with its
// bits and the rights combined so far, and the outcome; in OS mode a #PF goes on into
// the kernel's fault path and the retried translation (docs/explain.md).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace mmusim::cli {

// `mmusim explain TRACE --line N [--config FILE] [--set KEY=VALUE]... [--format F]
// [--json]`: `args` are the words after "explain". Writes the explanation to `out`
// and errors to `err`; returns the exit status (0, or 2 for bad input: a line that
// is not an access or is never reached, a bad configuration, a run that failed
// before the line).
int explain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace mmusim::cli
