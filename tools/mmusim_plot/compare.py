"""`mmusim-plot compare`: several runs side by side."""

from .common import fail, plain_number, save
from .inputs import (HUGE_SUFFIX, fault_kinds_of_stats, frequency_ghz_of_stats, kind_sort_key, mean_fault_us,
                     read_stats, stem, unique_names)

# The stats' cycle kinds (src/stats/run_stats.hpp) and what they are.
CYCLE_KINDS = ["tlb", "walk", "data", "kernel", "os_events", "context_switch", "ipi"]
CYCLE_HELP = {
    "tlb": "tlb: TLB lookups",
    "walk": "walk: hardware page walks",
    "data": "data: memory accesses",
    "kernel": "kernel: page faults",
    "os_events": "os_events: fork, mmap, ...",
    "context_switch": "context_switch",
    "ipi": "ipi: shootdown interrupts",
}


def cmd_compare(args, plt):
    from matplotlib import ticker, colormaps
    runs = [(p, read_stats(p)) for p in args.stats]
    if args.labels is not None:
        labels = [l.strip() for l in args.labels.split(",")]
        if len(labels) != len(runs):
            fail(f"--labels gives {len(labels)} label(s) for {len(runs)} stats files")
        if any(not l for l in labels):
            fail("--labels: empty label")
    else:
        labels = [stem(n) for n in unique_names(args.stats)]

    n_kinds = max(1, len({k for _, s in runs for k, v in fault_kinds_of_stats(s).items() if v["count"]}))
    w_cyc = 3.4 + 0.9 * len(runs)
    w_fault = max(3.2, 1.0 + n_kinds * (0.5 + 0.3 * len(runs)))
    side_by_side = max(w_cyc, 5.5) + 2 * w_fault + 1.2 <= 17
    if side_by_side:
        fig, (ax_cyc, ax_cnt, ax_lat) = plt.subplots(
            1, 3, figsize=(max(w_cyc, 5.5) + 2 * w_fault + 1.2, 5.6), constrained_layout=True,
            gridspec_kw={"width_ratios": [max(w_cyc, 5.5) - 2.0, w_fault, w_fault]})
    else:
        # Many runs or kinds: cycles on top, the two fault panels below it.
        fig = plt.figure(figsize=(min(max(w_cyc + 2, w_fault + 2.5), 20), 14), constrained_layout=True)
        grid = fig.add_gridspec(3, 1, height_ratios=[1.1, 1, 1])
        ax_cyc, ax_cnt, ax_lat = (fig.add_subplot(grid[i]) for i in range(3))

    # Panel 1: cycles by kind, stacked.
    kinds = [k for k in CYCLE_KINDS if any(isinstance(s["cycles"].get(k), (int, float)) for _, s in runs)]
    for _, s in runs:
        for k, v in s["cycles"].items():
            if k != "total" and isinstance(v, (int, float)) and k not in kinds:
                kinds.append(k)
    palette = colormaps["Set2"].colors + colormaps["Dark2"].colors
    xs = list(range(len(runs)))
    bottoms = [0.0] * len(runs)
    for i, k in enumerate(kinds):
        heights = [float(s["cycles"].get(k, 0) or 0) for _, s in runs]
        if not any(heights):
            continue
        ax_cyc.bar(xs, heights, 0.6, bottom=bottoms, color=palette[i % len(palette)],
                   label=CYCLE_HELP.get(k, k), edgecolor="white", linewidth=0.5)
        bottoms = [b + h for b, h in zip(bottoms, heights)]
    top = max(bottoms) or 1
    for x, b in zip(xs, bottoms):
        ax_cyc.text(x, b + top * 0.01, ticker.EngFormatter(places=2)(b), ha="center", va="bottom", fontsize=8.5)
    ax_cyc.set_ylim(0, top * 1.1)
    ax_cyc.set_xticks(xs)
    ax_cyc.set_xticklabels(labels, rotation=20 if len(runs) > 3 else 0, ha="right" if len(runs) > 3 else "center")
    ax_cyc.set_xlim(-0.6, len(runs) - 0.4)
    ax_cyc.yaxis.set_major_formatter(ticker.EngFormatter())
    ax_cyc.set_ylabel("cycles (summed over CPUs; k = 10³, M = 10⁶)")
    ax_cyc.set_xlabel("run")
    ax_cyc.set_title("Cycles by kind")
    ax_cyc.grid(True, axis="y", alpha=0.3)
    ax_cyc.set_axisbelow(True)
    handles, texts = ax_cyc.get_legend_handles_labels()
    ax_cyc.legend(handles[::-1], texts[::-1], fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                  frameon=False, title="cycle kind (top to bottom)", title_fontsize=8.5)

    # Panels 2 and 3: faults by kind, one bar per run.
    fault_kinds = {}
    freqs = []
    for path, s in runs:
        fk = fault_kinds_of_stats(s)
        fault_kinds[path] = fk
        freqs.append(frequency_ghz_of_stats(s, path))
    kinds_seen = sorted({k for fk in fault_kinds.values() for k, v in fk.items() if v["count"]},
                        key=kind_sort_key)
    run_palette = colormaps["tab10"].colors
    width = 0.8 / len(runs)
    for ax in (ax_cnt, ax_lat):
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        ax.set_xlabel("fault kind (resolution)")
    ax_cnt.set_title("Page faults by kind")
    ax_cnt.set_ylabel("faults (count)")
    ax_lat.set_title("Mean page-fault latency by kind")
    ax_lat.set_ylabel("mean latency (µs)")
    if not kinds_seen:
        for ax in (ax_cnt, ax_lat):
            ax.text(0.5, 0.5, "no page faults in any run", ha="center", va="center", transform=ax.transAxes,
                    fontsize=11, color="0.35")
            ax.set_xticks([])
            ax.set_yticks([])
    else:
        count_top = max(fault_kinds[p].get(k, {}).get("count", 0) for p, _ in runs for k in kinds_seen)
        lat_values = {}
        for ri, ((path, s), label, freq) in enumerate(zip(runs, labels, freqs)):
            fk = fault_kinds[path]
            for ki, k in enumerate(kinds_seen):
                v = fk.get(k, {})
                n = v.get("count", 0)
                if n:
                    lat_values[(ri, ki)] = mean_fault_us(v, freq)
        lat_top = max(lat_values.values()) if lat_values else 1
        for ri, label in enumerate(labels):
            path = runs[ri][0]
            fk = fault_kinds[path]
            offs = [ki + (ri - (len(runs) - 1) / 2) * width for ki in range(len(kinds_seen))]
            counts = [fk.get(k, {}).get("count", 0) for k in kinds_seen]
            colour = run_palette[ri % len(run_palette)]
            ax_cnt.bar(offs, counts, width * 0.92, color=colour, label=label)
            lat_x = [offs[ki] for ki in range(len(kinds_seen)) if (ri, ki) in lat_values]
            lat_y = [lat_values[(ri, ki)] for ki in range(len(kinds_seen)) if (ri, ki) in lat_values]
            ax_lat.bar(lat_x, lat_y, width * 0.92, color=colour, label=label)
            small = 7 if len(runs) * len(kinds_seen) <= 12 else 6
            for x, c in zip(offs, counts):
                ax_cnt.text(x, c + count_top * 0.01, f"{c:,}", ha="center", va="bottom", fontsize=small,
                            rotation=90 if len(runs) > 2 else 0)
            for ki, x in enumerate(offs):
                if (ri, ki) in lat_values:
                    y = lat_values[(ri, ki)]
                    ax_lat.text(x, y + lat_top * 0.01, f"{y:.3g}", ha="center", va="bottom", fontsize=small,
                                rotation=90 if len(runs) > 2 else 0)
                else:
                    ax_lat.text(x, lat_top * 0.01, "no faults", ha="center", va="bottom", fontsize=small - 0.5,
                                color="0.45", rotation=90)
        ax_cnt.set_ylim(0, count_top * 1.15 if count_top else 1)
        ax_lat.set_ylim(0, lat_top * 1.15)
        for ax in (ax_cnt, ax_lat):
            ax.set_xticks(range(len(kinds_seen)))
            ax.set_xticklabels([k.replace(HUGE_SUFFIX, "") for k in kinds_seen], rotation=25 if side_by_side and n_kinds > 2 else 0,
                               ha="right" if side_by_side and n_kinds > 2 else "center")
            ax.set_xlim(-0.6, len(kinds_seen) - 0.4)
        ax_cnt.yaxis.set_major_formatter(ticker.FuncFormatter(plain_number))
        ax_lat.yaxis.set_major_formatter(ticker.FuncFormatter(plain_number))
        note = ""
        if len(set(freqs)) > 1:
            note = " (each run at its own core.frequency_ghz)"
        ax_lat.set_ylabel(f"mean latency (µs){note}")
        handles, texts = ax_cnt.get_legend_handles_labels()
        (ax_lat if side_by_side else ax_cnt).legend(handles, texts, title="run", fontsize=9, title_fontsize=9, loc="upper left",
                      bbox_to_anchor=(1.02, 1.0), frameon=False)
    fig.suptitle(args.title or f"Comparison of {len(runs)} runs: " + " vs ".join(labels))
    save(fig, args.output)
