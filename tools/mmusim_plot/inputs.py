"""Reading and checking mmusim's outputs (fault logs and stats files), and the
values the plots take from them."""

import json
import os

from .common import fail

# What each fault kind (the fault log's "resolution") means, for legends and docs.
KIND_HELP = {
    "anonymous_page": "new zeroed page (write to untouched anonymous memory)",
    "zero_page": "shared zero page mapped (read of untouched anonymous memory)",
    "cow_copy": "copy-on-write: private copy made",
    "cow_reuse": "copy-on-write: sole user keeps the page",
    "page_cache": "file/shmem page mapped from the page cache",
    "spurious": "stale TLB entry, nothing to do",
    "sigsegv": "bad access: SIGSEGV delivered",
    "sigbus": "SIGBUS delivered",
    "oom": "out of memory: task killed",
}
KIND_ORDER = ["anonymous_page", "zero_page", "cow_copy", "cow_reuse", "page_cache",
              "spurious", "sigsegv", "sigbus", "oom"]
HUGE_SUFFIX = " (2M)"  # a fault resolved at PMD level: a 2 MiB THP or the huge zero page


def read_text(path):
    try:
        with open(path, "r", encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        fail(f"{path}: no such file")
    except IsADirectoryError:
        fail(f"{path}: is a directory, not a file")
    except UnicodeDecodeError:
        fail(f"{path}: not text (expected mmusim's JSON output)")
    except OSError as e:
        fail(f"{path}: cannot read: {e.strerror}")


def read_fault_log(path):
    """The faults of a `--fault-log` file: a list of dicts, in file order."""
    faults = []
    text = read_text(path)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            if looks_like_stats(text):
                fail(f"{path}: a stats file (--stats), not a fault log (--fault-log)")
            fail(f"{path}:{number}: bad JSON: {e.msg} (column {e.colno})")
        if not isinstance(obj, dict):
            fail(f"{path}:{number}: expected a JSON object (one fault per line), got {type(obj).__name__}")
        for key, kind in (("resolution", str), ("cycles", (int, float)), ("steps", list)):
            if not isinstance(obj.get(key), kind):
                fail(f"{path}:{number}: not a fault-log record: no \"{key}\" "
                     f"(is this `mmusim run --fault-log` output?)")
        obj["_line"] = number
        faults.append(obj)
    return faults


def looks_like_stats(text):
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return False
    return isinstance(obj, dict) and "faults" in obj and "cycles" in obj


def require_faults(path, faults):
    if not faults:
        fail(f"{path}: no page faults in this fault log (the run took none), nothing to plot")


def read_stats(path):
    text = read_text(path)
    try:
        stats = json.loads(text)
    except json.JSONDecodeError as e:
        first = text.lstrip().split("\n", 1)[0]
        if e.msg == "Extra data" and '"resolution"' in first:
            fail(f"{path}: a fault log (--fault-log), not a stats file (--stats)")
        fail(f"{path}:{e.lineno}: bad JSON: {e.msg} (column {e.colno})")
    if not isinstance(stats, dict) or "cycles" not in stats or "faults" not in stats:
        fail(f"{path}: not an mmusim stats file (no \"cycles\" or \"faults\"; "
             f"is this `mmusim run --stats` output?)")
    return stats


def kind_of(fault):
    """A fault's kind: its resolution, with huge (PMD-level) faults apart."""
    return fault["resolution"] + (HUGE_SUFFIX if fault.get("huge") else "")


def kind_sort_key(kind):
    base = kind[:-len(HUGE_SUFFIX)] if kind.endswith(HUGE_SUFFIX) else kind
    rank = KIND_ORDER.index(base) if base in KIND_ORDER else len(KIND_ORDER)
    return (rank, base, kind.endswith(HUGE_SUFFIX))


def fault_us(fault, path):
    if isinstance(fault.get("ns"), (int, float)):
        return fault["ns"] / 1000.0
    fail(f"{path}:{fault['_line']}: fault has no \"ns\" field")


def frequency_ghz_of_log(faults):
    """Core clock of a fault log, from its faults' cycles and ns."""
    for f in faults:
        ns = f.get("ns")
        if isinstance(ns, (int, float)) and ns > 0 and f["cycles"] > 0:
            return f["cycles"] / ns
    return None


def frequency_ghz_of_stats(stats, path):
    freq = stats.get("config", {}).get("core.frequency_ghz")
    if isinstance(freq, (int, float)) and freq > 0:
        return float(freq)
    cycles, ns = stats.get("elapsed_cycles"), stats.get("simulated_ns")
    if isinstance(cycles, (int, float)) and isinstance(ns, (int, float)) and ns > 0 and cycles > 0:
        return cycles / ns
    fail(f"{path}: no config[\"core.frequency_ghz\"]: cannot convert cycles to time")


def fault_kinds_of_stats(stats):
    """{kind: {"count", "cycles", ...}} of a stats file, kinds that are objects only."""
    return {k: v for k, v in stats["faults"].items()
            if isinstance(v, dict) and isinstance(v.get("count"), (int, float))}


def mean_fault_us(kind_stats, freq_ghz):
    """Mean latency in µs of one `faults.<kind>` entry: cycles / count, or failing
    that the mean of its `latency` (cycles) or `latency_ns` distribution."""
    n = kind_stats.get("count", 0)
    if isinstance(kind_stats.get("cycles"), (int, float)):
        return kind_stats["cycles"] / n / freq_ghz / 1000.0
    for key, scale in (("latency", 1.0 / freq_ghz / 1000.0), ("latency_ns", 1.0 / 1000.0)):
        dist = kind_stats.get(key)
        if isinstance(dist, dict) and isinstance(dist.get("mean"), (int, float)):
            return dist["mean"] * scale
    return 0.0


def tlb_levels(tlb):
    """[(level, lookups, misses)] of one `tlb` object, in file order."""
    return [(name, v["lookups"], v["misses"]) for name, v in tlb.items()
            if isinstance(v, dict) and isinstance(v.get("lookups"), (int, float))
            and isinstance(v.get("misses"), (int, float))]


def stem(path):
    base = os.path.basename(path)
    for ext in (".jsonl", ".json"):
        if base.endswith(ext) and len(base) > len(ext):
            return base[:-len(ext)]
    return base


def unique_names(paths):
    """Short names of files for legends: the base name, or more of the path when two clash."""
    names = [os.path.basename(p) for p in paths]
    if len(set(names)) == len(names):
        return names
    return [os.path.normpath(p) for p in paths]
