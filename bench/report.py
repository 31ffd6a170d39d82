"""What the benchmark drivers print and draw alike: percentiles, table cells, ratios, and the
latency-beside-CPU figure of the dissemination benchmarks."""

import json

KIND_NAMES = {"fabgossip": "fabgossip", "fabric": "Fabric"}
COLORS = {"fabgossip": "tab:blue", "fabric": "tab:orange"}


def percentile(sorted_values, q):
    """Nearest-rank percentile of a sorted list."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(round(q / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def fmt(v, spec, unit=""):
    return "n/a" if v is None else format(v, spec) + unit


def ratio(fabric, fg):
    if fabric is None or fg is None or fg <= 0:
        return "n/a"
    return f"{fabric / fg:.1f}×"


# The rows both dissemination benchmarks print first: (name, getter, format).
LATENCY_ROWS = [
    ("latency p50 (ms)", lambda r: r["latency_ms"]["p50"], ".1f"),
    ("latency p99 (ms)", lambda r: r["latency_ms"]["p99"], ".1f"),
    ("latency max (ms)", lambda r: r["latency_ms"]["max"], ".1f"),
]


def print_comparison(results, rows):
    """A markdown table, fabgossip beside Fabric with the ratio, one line per (name, getter,
    format); counts (format "d") get no ratio."""
    by = {r["kind"]: r for r in results}
    fg, fa = by.get("fabgossip"), by.get("fabric")
    print("| metric | fabgossip | Fabric | Fabric / fabgossip |")
    print("|---|---|---|---|")
    for name, get, spec in rows:
        a = get(fg) if fg else None
        b = get(fa) if fa else None
        print(f"| {name} | {fmt(a, spec)} | {fmt(b, spec)} | {ratio(b, a) if spec != 'd' else ''} |")


def finish(results, out, plot_path, print_table, plot):
    """The end of a run: the table, then the JSON and the figure when asked for."""
    print()
    print_table(results)
    if out:
        with open(out, "w") as f:
            f.write(json.dumps(results, indent=1) + "\n")
        print(f"results written to {out}")
    if plot_path:
        plot(results, plot_path)


def pyplot():
    """matplotlib's pyplot on the file backend, or None (said once) when it is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is missing (pip install -r requirements-bench.txt): no plot")
        return None
    return plt


def plot_latency_and_cpu(results, path, title, cpu_label, target_ms=None):
    """Latency CDFs side by side on a log x axis, and bars for CPU per block per peer (total and
    net of idle). Each result needs kind, latencies_ms (sorted), missing, latency_ms.p99 and the
    two cpu_ms_per_block_per_peer figures."""
    plt = pyplot()
    if plt is None:
        return
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [2, 1]})
    for r in results:
        lat = [max(v, 1e-2) for v in r["latencies_ms"]]
        if lat:
            ys = [(i + 1) / (len(lat) + r["missing"]) for i in range(len(lat))]
            ax1.step(lat, ys, where="post", color=COLORS[r["kind"]],
                     label=f"{KIND_NAMES[r['kind']]} (p99 {r['latency_ms']['p99']:.1f} ms)")
    ax1.set_xscale("log")
    ax1.set_xlabel("delivery latency per (peer, block), ms (log)")
    ax1.set_ylabel("fraction of deliveries")
    ax1.grid(True, which="both", alpha=0.3)
    ax1.legend(loc="lower right")
    xs = range(len(results))
    colors = [COLORS[r["kind"]] for r in results]
    ax2.bar([x - 0.2 for x in xs], [r["cpu_ms_per_block_per_peer"] for r in results], width=0.4,
            color=colors, label="total")
    ax2.bar([x + 0.2 for x in xs], [r["cpu_ms_per_block_per_peer_net_of_idle"] for r in results],
            width=0.4, color=colors, alpha=0.5, hatch="//", label="net of idle")
    if target_ms is not None:
        ax2.axhline(target_ms, color="gray", ls="--", lw=1, label=f"target {target_ms:g} ms")
    ax2.set_xticks(list(xs), [KIND_NAMES[r["kind"]] for r in results])
    ax2.set_ylabel(cpu_label)
    ax2.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}")
