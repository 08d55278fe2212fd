#!/usr/bin/env python3
# Renders docs/dashboard.png: the panels of charts/linkerd-rotator/files/dashboard.json, laid out as
# Grafana lays them out, drawn from real scrapes of the exporter during a local-cluster rotation
# (e2e/integration/exporter.spec.ts with EXPORTER_SAMPLES_OUT). Each panel evaluates its own PromQL
# the way Prometheus would over those samples: rates over a window, histogram_quantile, min/max/sum.
#
#   EXPORTER_MESH_NAMESPACES=3 EXPORTER_MESH_WORKLOADS=4 EXPORTER_SAMPLES_OUT=$PWD/tmp/samples.json \
#     NODE_OPTIONS=--experimental-vm-modules npx jest -c e2e/jest.integration.js e2e/integration/exporter.spec.ts
#   gzip -c tmp/samples.json > docs/dashboard/samples.json.gz
#   PYTHONPATH=<matplotlib> python3 docs/dashboard/render.py docs/dashboard/samples.json.gz docs/dashboard.png
#
# Needs matplotlib (pip install --target ~/.cache/linkerd-rotator/py-matplotlib matplotlib==3.10.*).
import gzip
import json
import sys
from datetime import datetime, timezone

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch, Rectangle  # noqa: E402

BG, PANEL, BORDER, TEXT, MUTED, GRID = "#111217", "#181b1f", "#2c3235", "#ccccdc", "#8e8e9e", "#2a2d33"
GREEN, ORANGE, RED, BLUE = "#73bf69", "#ff9830", "#f2495c", "#5794f2"
PHASE_COLORS = {"Idle": "#8e8e8e", "Prepare": "#8ab8ff", "TrustBoth": "#5794f2", "Promote": "#b877d9", "Retire": "#ff9830", "Done": "#73bf69", "Stopped": "#f2495c"}
PALETTE = ["#73bf69", "#fade2a", "#5794f2", "#ff9830", "#f2495c", "#b877d9", "#8ab8ff", "#ffb357"]
P = "linkerd_rotator_"


def load(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        data = json.load(f)
    return [(x["t"] / 1000.0, x["samples"]) for x in data["timeline"]]


def series(samples, name, **match):
    return [s for s in samples if s["name"] == P + name and all(s["labels"].get(k) == v for k, v in match.items())]


def fmt_seconds(v):
    """Grafana's `s` unit with one decimal."""
    for limit, div, unit in ((60, 1, "s"), (3600, 60, "min"), (86400, 3600, "hour"), (604800, 86400, "day"), (31536000, 604800, "week")):
        if abs(v) < limit:
            return f"{v / div:.1f} {unit}"
    return f"{v / 31536000:.1f} year"


class Dashboard:
    """A 24-column grid of Grafana units; y grows downwards."""

    def __init__(self, rows, unit_px=30, width_px=1600):
        self.unit = unit_px
        self.width = width_px
        self.height = (rows + 2) * unit_px + 20
        self.fig = plt.figure(figsize=(width_px / 100, self.height / 100), dpi=100, facecolor=BG)
        self.top = 2 * unit_px

    def _rect(self, x, y, w, h):
        gap = 4
        left = x / 24 * self.width + gap
        top = self.top + y * self.unit + gap
        return left, top, w / 24 * self.width - 2 * gap, h * self.unit - 2 * gap

    def panel(self, title, x, y, w, h, pad=(36, 14, 26, 10)):
        left, top, width, height = self._rect(x, y, w, h)
        frame = self.fig.add_axes([left / self.width, 1 - (top + height) / self.height, width / self.width, height / self.height])
        frame.set_axis_off()
        frame.add_patch(FancyBboxPatch((0, 0), 1, 1, boxstyle="round,pad=0,rounding_size=0.01", transform=frame.transAxes, facecolor=PANEL, edgecolor=BORDER, linewidth=1))
        # Grafana cuts a title that does not fit with an ellipsis (about 8 px per character here).
        fits = int((width - 20) / 8.0)
        shown = title if len(title) <= fits else title[: fits - 1].rstrip() + "…"
        frame.text(10 / width, 1 - 16 / height, shown, transform=frame.transAxes, color=TEXT, fontsize=10.5, fontweight="bold", va="center")
        pl, pr, pt, pb = pad
        ax = self.fig.add_axes([(left + pl) / self.width, 1 - (top + height - pb) / self.height, (width - pl - pr) / self.width, (height - pt - pb) / self.height])
        ax.set_facecolor(PANEL)
        for side in ax.spines.values():
            side.set_visible(False)
        ax.tick_params(colors=MUTED, labelsize=8, length=0)
        return ax

    def row(self, title, y):
        _, top, _, _ = self._rect(0, y, 24, 1)
        self.fig.text(12 / self.width, 1 - (top + 12) / self.height, "⌄  " + title, color=TEXT, fontsize=11.5, fontweight="bold", va="center")

    def header(self, title, subtitle):
        self.fig.text(14 / self.width, 1 - 22 / self.height, title, color=TEXT, fontsize=15, fontweight="bold", va="center")
        self.fig.text(14 / self.width, 1 - 44 / self.height, subtitle, color=MUTED, fontsize=9.5, va="center")


def time_axis(ax, t0, t1):
    ax.set_xlim(t0, t1)
    ticks = [t0 + i * (t1 - t0) / 6 for i in range(7)]
    ax.set_xticks(ticks)
    labels = ax.set_xticklabels([datetime.fromtimestamp(t, timezone.utc).strftime("%H:%M:%S") for t in ticks])
    labels[0].set_horizontalalignment("left")
    labels[-1].set_horizontalalignment("right")
    ax.grid(True, color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)


def legend(ax, handles):
    leg = ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=min(len(handles), 5), frameon=False, fontsize=8, labelcolor=TEXT, handlelength=1.2)
    return leg


def rate_points(timeline, window, step, value_of):
    """(t, rate) like rate(x[window]) evaluated every `step`: increase between the samples bounding the window."""
    out = []
    t = timeline[0][0] + window
    i = 0
    while t <= timeline[-1][0]:
        newest = max((k for k in range(len(timeline)) if timeline[k][0] <= t), default=None)
        oldest = min((k for k in range(len(timeline)) if timeline[k][0] >= t - window), default=None)
        if newest is not None and oldest is not None and newest > oldest:
            span = timeline[newest][0] - timeline[oldest][0]
            out.append((t, (value_of(timeline[newest][1]) - value_of(timeline[oldest][1])) / span))
        t += step
        i += 1
    return out


def histogram_quantile(q, buckets):
    """Prometheus' histogram_quantile over {le: rate}, with linear interpolation inside the bucket."""
    items = sorted(((float("inf") if le == "+Inf" else float(le)), v) for le, v in buckets.items())
    total = items[-1][1] if items else 0
    if total <= 0:
        return None
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le, count in items:
        if count >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * ((rank - prev_count) / (count - prev_count) if count > prev_count else 0)
        prev_le, prev_count = le, count
    return None


def main(src, out):
    timeline = load(src)
    t0, t1 = timeline[0][0], timeline[-1][0]
    final_t, final = timeline[-1]
    d = Dashboard(rows=39)
    start = datetime.fromtimestamp(t0, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    d.header("Linkerd trust anchor rotation", f"Data source: Prometheus   ·   {start} UTC + {t1 - t0:.0f} s: one rotation by the runner on the local cluster, scraped from the exporter every 100 ms")

    # --- Certificates ---------------------------------------------------------------------------
    d.row("Certificates", 0)
    ax = d.panel("Remaining life of every certificate (most urgent first)", 0, 1, 16, 12, pad=(10, 12, 30, 8))
    bars = []
    for s in series(final, "certificate_not_after_timestamp_seconds"):
        l = s["labels"]
        bars.append((s["value"] - final_t, f"{l['role']} {l['namespace']} {l['subject']} ({l['fingerprint']})", l["role"]))
    bars.sort(key=lambda b: b[0])  # sort(): most urgent first
    vmax = max(b[0] for b in bars)
    thresholds = {"identity-issuer": (21600, 86400), "webhook-serving": (86400, 2588400)}
    ax.set_xlim(0, 1)
    ax.set_ylim(len(bars), 0)
    ax.set_xticks([])
    ax.set_yticks([])
    for i, (value, label, role) in enumerate(bars):
        crit, warn = thresholds.get(role, (604800, 2592000))
        color = RED if value < crit else ORANGE if value < warn else GREEN
        ax.text(0.0, i + 0.5, label, color=TEXT, fontsize=8.2, va="center", ha="left")
        x0, width = 0.47, 0.43
        ax.add_patch(Rectangle((x0, i + 0.2), width, 0.6, facecolor="#22252b", edgecolor="none"))
        ax.add_patch(Rectangle((x0, i + 0.2), width * max(value, 0) / vmax, 0.6, facecolor=color, edgecolor="none", alpha=0.9))
        ax.text(0.995, i + 0.5, fmt_seconds(value), color=color, fontsize=9, fontweight="bold", va="center", ha="right")

    def stat(title, x, y, text, color, background=False):
        a = d.panel(title, x, y, 4, 4, pad=(8, 8, 28, 8))
        a.set_xticks([])
        a.set_yticks([])
        if background:
            a.set_facecolor(color)
        a.text(0.5, 0.45, text, color="white" if background else color, fontsize=20, fontweight="bold", ha="center", va="center", transform=a.transAxes)

    phase = next(s["labels"]["phase"] for s in series(final, "rotation_phase") if s["value"] == 1)
    stat("Rotation phase", 16, 1, phase, BLUE, background=True)
    last = series(final, "rotation_last_success_timestamp_seconds")
    stat("Last successful rotation", 20, 1, fmt_seconds(final_t - last[0]["value"]) if last else "-", GREEN)
    waiting = max((s["value"] for s in series(final, "prepared_anchor_waiting_seconds")), default=0)
    stat("Prepared anchor waiting", 16, 5, fmt_seconds(waiting), ORANGE if waiting >= 259200 else GREEN)
    missing = sum(1 for s in series(final, "trust_bundle_contains_active_anchor") if s["value"] == 0)
    stat("Bundles without the active anchor", 20, 5, str(missing), RED if missing else GREEN, background=True)
    meshed = sum(s["value"] for s in series(final, "meshed_pods"))
    stat("Meshed pods", 16, 9, f"{meshed:.0f}", TEXT)
    stale = sum(s["value"] for s in series(final, "stale_proxies"))
    stat("Stale proxies", 20, 9, f"{stale:.0f}", ORANGE if stale else GREEN)

    # --- Rotation -------------------------------------------------------------------------------
    d.row("Rotation", 13)
    ax = d.panel("Rotation phase timeline", 0, 14, 24, 8, pad=(80, 16, 30, 24))
    phases = ["Idle", "Prepare", "TrustBoth", "Promote", "Retire", "Done", "Stopped"]
    for row, name in enumerate(phases):
        ax.text(-0.01, row + 0.5, name, color=TEXT, fontsize=8.5, ha="right", va="center", transform=ax.get_yaxis_transform())
        spans, begin = [], None
        for k, (t, samples) in enumerate(timeline):
            on = any(s["value"] == 1 for s in series(samples, "rotation_phase", phase=name))
            if on and begin is None:
                begin = t
            if begin is not None and (not on or k == len(timeline) - 1):
                spans.append((begin, t))
                begin = None
        for a, b in spans:
            ax.add_patch(Rectangle((a, row + 0.1), b - a, 0.8, facecolor=PHASE_COLORS[name], edgecolor="none", alpha=0.9))
            if b - a > (t1 - t0) * 0.05:
                ax.text((a + b) / 2, row + 0.5, name, color="#111217", fontsize=8, ha="center", va="center", fontweight="bold")
    ax.set_ylim(len(phases), 0)
    ax.set_yticks([])
    time_axis(ax, t0, t1)
    ax.grid(False)

    namespaces = sorted({s["labels"]["namespace"] for _, samples in timeline for s in series(samples, "stale_proxies")})
    ax = d.panel("Stale proxies per namespace", 0, 22, 12, 8, pad=(36, 14, 30, 40))
    handles = []
    times = [t for t, _ in timeline]
    for i, ns in enumerate(namespaces):
        values = [max((s["value"] for s in series(samples, "stale_proxies", namespace=ns)), default=float("nan")) for _, samples in timeline]
        (h,) = ax.step(times, values, where="post", color=PALETTE[i % len(PALETTE)], linewidth=1.8, label=ns)
        ax.fill_between(times, values, step="post", color=PALETTE[i % len(PALETTE)], alpha=0.08)
        handles.append(h)
    meshed_line = [sum(s["value"] for s in series(samples, "meshed_pods")) for _, samples in timeline]
    (h,) = ax.step(times, meshed_line, where="post", color=TEXT, linewidth=1.2, linestyle=(0, (6, 4)), label="meshed pods (all namespaces)")
    handles.append(h)
    ax.set_ylim(0, max(meshed_line) * 1.1)
    time_axis(ax, t0, t1)
    legend(ax, handles)

    ax = d.panel("Trust bundle per namespace", 12, 22, 12, 8, pad=(36, 14, 30, 40))
    handles = []
    bundle_ns = sorted({s["labels"]["namespace"] for _, samples in timeline for s in series(samples, "trust_bundle_certificates")})
    for i, ns in enumerate(bundle_ns):
        for metric, scale, style, label in (("trust_bundle_certificates", 1.0, "-", "certificates"), ("trust_bundle_contains_active_anchor", 0.9, "--", "holds active anchor"), ("trust_bundle_contains_issuer_anchor", 0.8, ":", "verifies issuer")):
            values = [max((s["value"] for s in series(samples, metric, namespace=ns)), default=float("nan")) * scale for _, samples in timeline]
            (h,) = ax.step(times, values, where="post", color=PALETTE[(i * 3 + ["trust_bundle_certificates", "trust_bundle_contains_active_anchor", "trust_bundle_contains_issuer_anchor"].index(metric)) % len(PALETTE)], linewidth=1.8, linestyle=style, label=f"{ns} {label}")
            handles.append(h)
    ax.set_ylim(0, 2.4)
    time_axis(ax, t0, t1)
    legend(ax, handles)

    # --- Admission ------------------------------------------------------------------------------
    d.row("Admission", 30)
    window, step = 2.0, 0.5
    ax = d.panel("Admission verdicts", 0, 31, 12, 8, pad=(44, 14, 30, 40))
    verdicts = ["allowed", "denied", "error", "invalid"]
    colors = {"allowed": GREEN, "denied": ORANGE, "error": RED, "invalid": "#b877d9"}
    bottoms = None
    handles = []
    for v in verdicts:
        pts = rate_points(timeline, window, step, lambda samples, v=v: sum(s["value"] for s in series(samples, "admission_requests_total", verdict=v)))
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        if bottoms is None:
            bottoms = [0.0] * len(ys)
        h = ax.bar(xs, ys, width=step * 0.85, bottom=bottoms, color=colors[v], alpha=0.85, label=v, align="edge")
        bottoms = [b + y for b, y in zip(bottoms, ys)]
        handles.append(h)
    ax.set_ylabel("req/s", color=MUTED, fontsize=8)
    time_axis(ax, t0, t1)
    legend(ax, handles)

    ax = d.panel("Admission latency", 12, 31, 12, 8, pad=(52, 14, 30, 40))
    handles = []

    def bucket_rates(at_index_new, at_index_old):
        new, old = timeline[at_index_new][1], timeline[at_index_old][1]
        span = timeline[at_index_new][0] - timeline[at_index_old][0]
        out = {}
        for s in series(new, "admission_duration_seconds_bucket"):
            le = s["labels"]["le"]
            before = sum(o["value"] for o in series(old, "admission_duration_seconds_bucket", le=le, resource=s["labels"]["resource"], operation=s["labels"]["operation"]))
            out[le] = out.get(le, 0.0) + (s["value"] - before) / span
        return out

    points = {"p50": [], "p99": []}
    t = t0 + window
    while t <= t1:
        newest = max(k for k in range(len(timeline)) if timeline[k][0] <= t)
        oldest = min(k for k in range(len(timeline)) if timeline[k][0] >= t - window)
        if newest > oldest:
            rates = bucket_rates(newest, oldest)
            for name, q in (("p50", 0.5), ("p99", 0.99)):
                value = histogram_quantile(q, rates)
                if value is not None:
                    points[name].append((t, value * 1000))
        t += step
    for name, color in (("p50", GREEN), ("p99", ORANGE)):
        # No requests in a window means no value: Grafana leaves a gap there (connect nulls: never).
        xs, ys = [], []
        for k, (x, y) in enumerate(points[name]):
            if k and x - points[name][k - 1][0] > step * 1.5:
                xs.append(float("nan"))
                ys.append(float("nan"))
            xs.append(x)
            ys.append(y)
        (h,) = ax.plot(xs, ys, color=color, linewidth=1.8, marker="o", markersize=2.5, label=name)
        handles.append(h)
    resources = sorted({s["labels"]["resource"] for s in series(final, "admission_duration_seconds_count")})
    for i, resource in enumerate(resources):
        sums = rate_points(timeline, window, step, lambda samples, r=resource: sum(s["value"] for s in series(samples, "admission_duration_seconds_sum", resource=r)))
        counts = rate_points(timeline, window, step, lambda samples, r=resource: sum(s["value"] for s in series(samples, "admission_duration_seconds_count", resource=r)))
        xs, ys = [], []
        for (t, total_rate), (_, count_rate) in zip(sums, counts):
            xs.append(t)
            ys.append(total_rate / count_rate * 1000 if count_rate > 0 else float("nan"))
        (h,) = ax.plot(xs, ys, color=[BLUE, "#b877d9"][i % 2], linewidth=1.4, linestyle="--", marker="o", markersize=2, label=f"mean {resource}")
        handles.append(h)
    ax.set_ylabel("ms", color=MUTED, fontsize=8)
    ax.set_ylim(bottom=0)
    time_axis(ax, t0, t1)
    legend(ax, handles)

    d.fig.savefig(out, facecolor=BG)
    print(f"wrote {out}: {len(timeline)} scrapes over {t1 - t0:.1f} s, {len(bars)} certificates, {len(namespaces)} meshed namespaces")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
