"""`mmusim-plot cdf`: page-fault latency CDF per fault kind."""

import math

from .common import fail, plain_number, save
from .inputs import HUGE_SUFFIX, fault_us, kind_of, kind_sort_key, read_fault_log, require_faults, unique_names


def kind_colours(kinds):
    """A colour per kind, huge variants apart: tab10, then tab20's lighter shades."""
    from matplotlib import colormaps
    palette = list(colormaps["tab10"].colors) + list(colormaps["tab20"].colors)[1::2]
    return {k: palette[i % len(palette)] for i, k in enumerate(kinds)}


def cmd_cdf(args, plt):
    from matplotlib import ticker
    logs = []
    for path in args.faultlogs:
        logs.append((path, read_fault_log(path)))
    if all(not faults for _, faults in logs):
        if len(logs) == 1:
            require_faults(*logs[0])
        fail(f"{', '.join(p for p, _ in logs)}: no page faults in any of these fault logs, nothing to plot")
    names = unique_names([p for p, _ in logs])
    several = len(logs) > 1

    kinds = sorted({kind_of(f) for _, faults in logs for f in faults}, key=kind_sort_key)
    colours = kind_colours(kinds)
    styles = ["-", "--", ":", "-."]
    all_us = [fault_us(f, p) for p, faults in logs for f in faults]
    positive = [u for u in all_us if u > 0]
    if not positive:
        fail(f"{', '.join(p for p, _ in logs)}: every fault took 0 ns, nothing to plot on a log scale")
    lo, hi = min(positive) / 1.6, max(positive) * 1.6

    from matplotlib.lines import Line2D
    markers = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "*"]
    handles, texts = [], []
    fig, ax = plt.subplots(figsize=(10, 5.5))
    for index, ((path, faults), name) in enumerate(zip(logs, names)):
        style = styles[index % len(styles)]
        if not faults:
            handles.append(Line2D([], [], linestyle="none"))
            texts.append(f"{name}: no faults")
            continue
        for kind in kinds:
            values = sorted(max(fault_us(f, path), lo) for f in faults if kind_of(f) == kind)
            if not values:
                continue
            n = len(values)
            # From 0 at the fastest fault to 100% at the slowest: no lines along the
            # top and bottom edges hiding each other.
            xs = [values[0]] + values
            ys = [0.0] + [(i + 1) / n for i in range(n)]
            label = f"{kind} (n={n})"
            if several:
                label = f"{name}: {label}"
            marker = markers[kinds.index(kind) % len(markers)]
            ax.step(xs, ys, where="post", color=colours[kind], linestyle=style, linewidth=1.8, alpha=0.9)
            # The model's costs are deterministic, so a CDF is a few vertical jumps and
            # kinds of equal cost jump at the same place: a marker of its own per kind
            # at the top of each jump tells them apart.
            distinct = sorted(set(values))
            if len(distinct) <= 12:
                ax.plot(distinct, [sum(v <= u for v in values) / n for u in distinct], marker,
                        color=colours[kind], markersize=7, markerfacecolor="none", markeredgewidth=1.6)
                handles.append(Line2D([], [], color=colours[kind], linestyle=style, linewidth=1.8, marker=marker,
                                      markersize=7, markerfacecolor="none", markeredgewidth=1.6))
            else:
                handles.append(Line2D([], [], color=colours[kind], linestyle=style, linewidth=1.8))
            texts.append(label)
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(-0.02, 1.02)
    decades = math.log10(hi / lo)
    subs = (1.0, 2.0, 5.0) if decades > 1.6 else (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0) if decades < 1.0 \
        else (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
    ax.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=subs))
    ax.xaxis.set_minor_locator(ticker.LogLocator(base=10, subs=tuple(range(1, 10))))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(plain_number))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.yaxis.set_major_formatter(ticker.PercentFormatter(xmax=1.0))
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", axis="x", alpha=0.12)
    ax.set_xlabel("fault latency (µs, log scale): exception entry to return to user")
    ax.set_ylabel("faults of this kind with at most this latency")
    title = args.title or ("Page-fault latency CDF by kind" +
                           (f": {names[0]}" if not several else f" ({len(logs)} runs)"))
    ax.set_title(title)
    legend_title = "kind (n = faults)"
    if any(k.endswith(HUGE_SUFFIX) for k in kinds):
        legend_title += f"\n{HUGE_SUFFIX.strip()} = resolved at PMD level (2 MiB page)"
    if several:
        legend_title += "\nline style = file"
    ax.legend(handles, texts, title=legend_title, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9,
              title_fontsize=9, frameon=False)
    fig.tight_layout()
    save(fig, args.output)
