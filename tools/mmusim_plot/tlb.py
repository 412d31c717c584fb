"""`mmusim-plot tlb`: TLB miss rate per level, per CPU or per run."""

import os

from .common import fail, save
from .inputs import read_stats, stem, tlb_levels, unique_names

TLB_LEVEL_HELP = {
    "l1d": "L1 data TLB (l1d)",
    "l1i": "L1 instruction TLB (l1i)",
    "l2": "L2 TLB, STLB (l2)",
    "l2i": "L2 instruction TLB (l2i)",
}


def cmd_tlb(args, plt):
    from matplotlib import ticker
    runs = [(p, read_stats(p)) for p in args.stats]
    names = [stem(n) for n in unique_names(args.stats)]
    several = len(runs) > 1

    # Groups of bars: (label, {level: (lookups, misses)}).
    groups = []
    for (path, stats), name in zip(runs, names):
        per_cpu = []
        if isinstance(stats.get("tlb"), dict):
            per_cpu.append((None, tlb_levels(stats["tlb"])))
        else:
            for cpu in stats.get("cpus", []):
                if isinstance(cpu, dict) and isinstance(cpu.get("tlb"), dict):
                    per_cpu.append((cpu.get("cpu", len(per_cpu)), tlb_levels(cpu["tlb"])))
        if not per_cpu or not any(levels for _, levels in per_cpu):
            fail(f"{path}: no TLB counters (neither \"tlb\" nor \"cpus[i].tlb\")")
        if len(per_cpu) == 1:
            groups.append((name if several else (name if per_cpu[0][0] is None else f"cpu {per_cpu[0][0]}"),
                           {l: (n, m) for l, n, m in per_cpu[0][1]}))
        elif several and not args.per_cpu:
            total = {}
            for _, levels in per_cpu:
                for l, n, m in levels:
                    a = total.get(l, (0, 0))
                    total[l] = (a[0] + n, a[1] + m)
            groups.append((f"{name}\n({len(per_cpu)} CPUs summed)", total))
        else:
            for cpu, levels in per_cpu:
                groups.append(((f"{name}\n" if several else "") + f"cpu {cpu}", {l: (n, m) for l, n, m in levels}))
    levels = []
    for _, g in groups:
        for l in g:
            if l not in levels:
                levels.append(l)
    if not any(n for _, g in groups for n, _ in g.values()):
        fail(f"{', '.join(args.stats)}: no TLB lookups at all (did the trace access memory?)")

    from matplotlib import colormaps
    palette = colormaps["tab10"].colors
    from matplotlib.patches import Patch
    handles = []  # made here: a level without lookups has no bar to take a legend entry from
    width = 0.8 / len(levels)
    fig, ax = plt.subplots(figsize=(max(6.5, 1.9 + len(groups) * (0.6 + 0.55 * len(levels))), 5.2))
    for li, level in enumerate(levels):
        xs, heights = [], []
        for gi, (_, g) in enumerate(groups):
            x = gi + (li - (len(levels) - 1) / 2) * width
            lookups, misses = g.get(level, (0, 0))
            if lookups:
                xs.append(x)
                heights.append(100.0 * misses / lookups)
                rate = "100" if misses == lookups else "0" if misses == 0 else f"{heights[-1]:.1f}"
                ax.text(x, heights[-1] + 1.2, f"{rate}%\n{misses:,}/{lookups:,}", ha="center",
                        va="bottom", fontsize=7, linespacing=1.1)
            else:
                ax.text(x, 1.0, "no\nlookups", ha="center", va="bottom", fontsize=6.5, color="0.4",
                        linespacing=1.0)
        ax.bar(xs, heights, width * 0.92, color=palette[li % len(palette)])
        handles.append(Patch(color=palette[li % len(palette)], label=TLB_LEVEL_HELP.get(level, level)))
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([g for g, _ in groups])
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_ylim(0, 122)
    ax.set_yticks(range(0, 101, 20))
    ax.yaxis.set_major_formatter(ticker.PercentFormatter())
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_ylabel("miss rate (misses / lookups at that level, %)")
    ax.set_xlabel("run" if several else ("CPU" if len(groups) > 1 else "run"))
    ax.set_title(args.title or ("TLB miss rate by level" + ("" if several else f": {os.path.basename(args.stats[0])}")))
    ax.legend(handles=handles, title="TLB level (bar labels: misses/lookups)", loc="upper left", bbox_to_anchor=(1.01, 1.0),
              fontsize=9, title_fontsize=9, frameon=False)
    fig.tight_layout()
    save(fig, args.output)
