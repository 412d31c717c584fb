"""`mmusim-plot breakdown`: mean cycles per kernel step, stacked, per fault kind."""

import os

from .common import fail, plain_number, save
from .inputs import HUGE_SUFFIX, frequency_ghz_of_log, kind_of, kind_sort_key, read_fault_log, require_faults

# Kernel cost steps in the order a fault usually takes them, each with a fixed
# colour so that plots of different runs can be compared at a glance.
STEP_ORDER = ["exception_entry", "vma_lookup", "pgtable_walk", "pgtable_alloc", "frame_alloc",
              "zero", "copy", "fork_per_pte", "rmap_update", "pte_update", "tlb_flush_local",
              "ipi_send", "ipi_delivery", "ipi_entry", "ipi_exit", "ipi_ack", "ipi_wait",
              "signal_delivery", "context_switch", "cr3_write", "exception_exit", "retry_walk"]
STEP_HELP = {
    "exception_entry": "exception_entry (trap into the kernel)",
    "vma_lookup": "vma_lookup (find the VMA)",
    "pgtable_walk": "pgtable_walk (kernel walks page tables)",
    "pgtable_alloc": "pgtable_alloc (new page-table page)",
    "frame_alloc": "frame_alloc (allocate a page frame)",
    "zero": "zero (clear the new page)",
    "copy": "copy (copy the old page)",
    "rmap_update": "rmap_update (reverse map)",
    "pte_update": "pte_update (write PTE/PMD)",
    "tlb_flush_local": "tlb_flush_local (this CPU's TLB)",
    "ipi_send": "ipi_send (send shootdown IPIs)",
    "ipi_wait": "ipi_wait (wait for other CPUs' acks)",
    "signal_delivery": "signal_delivery (SIGSEGV/SIGBUS)",
    "retry_walk": "retry_walk (the access, re-executed)",
    "exception_exit": "exception_exit (return to user)",
}

# Neighbours in STEP_ORDER (and so in a stacked bar) get contrasting colours.
STEP_COLOURS = {
    "exception_entry": "#1f77b4", "vma_lookup": "#ff7f0e", "pgtable_walk": "#2ca02c",
    "pgtable_alloc": "#d62728", "frame_alloc": "#9467bd", "zero": "#8c564b", "copy": "#e377c2",
    "fork_per_pte": "#bcbd22", "rmap_update": "#17becf", "pte_update": "#7f7f7f",
    "tlb_flush_local": "#ffbb78", "ipi_send": "#98df8a", "ipi_delivery": "#c5b0d5",
    "ipi_entry": "#c49c94", "ipi_exit": "#f7b6d2", "ipi_ack": "#dbdb8d", "ipi_wait": "#ff9896",
    "signal_delivery": "#aec7e8", "context_switch": "#9edae5", "cr3_write": "#c7c7c7",
    "retry_walk": "#393b79", "exception_exit": "#637939",
}


def step_colours(steps):
    from matplotlib import colormaps
    spare = list(colormaps["tab20b"].colors)
    unknown = sorted(s for s in steps if s not in STEP_COLOURS)
    return {s: STEP_COLOURS.get(s) or spare[unknown.index(s) * 3 % len(spare)] for s in steps}


def cmd_breakdown(args, plt):
    from matplotlib import ticker
    path = args.faultlog
    faults = read_fault_log(path)
    require_faults(path, faults)
    freq = frequency_ghz_of_log(faults)

    by_kind = {}
    position = {}  # step -> [sum of relative positions, occurrences]
    for f in faults:
        entry = by_kind.setdefault(kind_of(f), {"n": 0, "cycles": 0, "steps": {}})
        entry["n"] += 1
        entry["cycles"] += f["cycles"]
        steps = f["steps"]
        for i, s in enumerate(steps):
            if not isinstance(s, dict) or "step" not in s or "cycles" not in s:
                fail(f"{path}:{f['_line']}: a step without \"step\" and \"cycles\"")
            entry["steps"][s["step"]] = entry["steps"].get(s["step"], 0) + s["cycles"]
            p = position.setdefault(s["step"], [0.0, 0])
            p[0] += i / max(len(steps) - 1, 1)
            p[1] += 1
    # Steps bottom to top in the order faults take them.
    steps = sorted(position, key=lambda s: (STEP_ORDER.index(s) if s in STEP_ORDER
                                            else len(STEP_ORDER), position[s][0] / position[s][1], s))
    colours = step_colours(steps)
    kinds = sorted(by_kind, key=kind_sort_key)

    # A fault that zeroes or copies a 2 MiB page costs ~100x a 4 KiB one: on one
    # axis the cheap bars would vanish, so the expensive kinds (split at the widest
    # gap between means, when it is a factor of 5 or more) get a panel of their own.
    mean = {k: by_kind[k]["cycles"] / by_kind[k]["n"] for k in kinds}
    by_mean = sorted(kinds, key=lambda k: mean[k])
    gaps = [(max(mean[b], 1) / max(mean[a], 1), i) for i, (a, b) in enumerate(zip(by_mean, by_mean[1:]))]
    small, huge = kinds, []
    if gaps and max(gaps)[0] >= 5:
        cut = max(gaps)[1] + 1
        expensive = set(by_mean[cut:])
        small = [k for k in kinds if k not in expensive]
        huge = [k for k in kinds if k in expensive]
    groups = [g for g in (small, huge) if g]
    fig, axes = plt.subplots(1, len(groups), figsize=(3.2 + 1.3 * len(kinds) + 2.5 * (len(groups) - 1), 6),
                             squeeze=False, gridspec_kw={"width_ratios": [len(g) + 0.6 for g in groups]})
    axes = axes[0]
    for ax, group in zip(axes, groups):
        xs = list(range(len(group)))
        bottoms = [0.0] * len(group)
        for step in steps:
            heights = [by_kind[k]["steps"].get(step, 0) / by_kind[k]["n"] for k in group]
            if not any(heights):
                continue
            ax.bar(xs, heights, 0.62, bottom=bottoms, color=colours[step], edgecolor="white",
                   linewidth=0.5, label=step)
            bottoms = [b + h for b, h in zip(bottoms, heights)]
        top = max(bottoms)
        for x, k, b in zip(xs, group, bottoms):
            text = f"n={by_kind[k]['n']:,}\n{b:,.0f} cycles"
            if freq:
                text += f"\n{b / freq / 1000:.3g} µs"
            ax.text(x, b + top * 0.015, text, ha="center", va="bottom", fontsize=8.5)
        ax.set_ylim(0, top * 1.22)
        ax.set_xticks(xs)
        ax.set_xticklabels([k.replace(HUGE_SUFFIX, "\n(2 MiB, PMD level)") for k in group],
                           rotation=20 if len(group) > 6 else 0, ha="right" if len(group) > 6 else "center")
        ax.set_xlim(-0.6, len(group) - 0.4)
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(plain_number))
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        ax.set_xlabel("fault kind (resolution)")
        if group is huge:
            ax.set_title("expensive kinds (own y scale)", fontsize=9.5)
        elif huge:
            ax.set_title("cheaper kinds", fontsize=9.5)
        if freq:
            f = freq
            sec = ax.secondary_yaxis("right", functions=(lambda c, f=f: c / f / 1000.0,
                                                         lambda u, f=f: u * f * 1000.0))
            sec.set_ylabel(f"µs at {freq:g} GHz")
            sec.yaxis.set_major_formatter(ticker.FuncFormatter(plain_number))
    axes[0].set_ylabel("mean cycles per fault, by kernel step")
    # One legend for all panels, top step first as in the bars.
    handles = {}
    for ax in axes:
        for h, l in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(l, h)
    order = [s for s in reversed(steps) if s in handles]
    fig.legend([handles[s] for s in order], [STEP_HELP.get(s, s) for s in order],
               title="kernel step (top to bottom)", loc="upper left", bbox_to_anchor=(1.0, 0.92),
               fontsize=8.5, title_fontsize=9, frameon=False)
    fig.suptitle(args.title or f"Mean page-fault cost by kernel step: {os.path.basename(path)} "
                 f"({len(faults):,} faults)")
    fig.tight_layout()
    save(fig, args.output)
