"""Outputs: benchmarks.csv, benchmarks.png (ratios vs targets), machine.json, and the table in RESULTS.md."""

from __future__ import annotations

import csv
import io
import math
import subprocess
from pathlib import Path

from amips.data.io import atomic_path, atomic_write_json, atomic_write_text
from benchmarks.common import COLUMNS, Row, fmt

BEGIN, END = "<!-- BEGIN GENERATED TABLE -->", "<!-- END GENERATED TABLE -->"


def write_csv(rows: list[Row], path: Path) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) and not math.isnan(v) else
                             ("" if isinstance(v, float) else v)) for k, v in row.as_dict().items()})
    atomic_write_text(path, buf.getvalue())


def read_csv(path: Path) -> list[dict[str, str]]:
    with Path(path).open() as fh:
        return list(csv.DictReader(fh))


def write_plot(rows: list[Row], path: Path, title: str) -> None:
    """Horizontal bars: every row with a ratio (log scale); targets as black ticks; green met, red not."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    shown = [r for r in rows if r.benchmark != "machine" and not math.isnan(r.ratio) and r.ratio > 0
             and (not math.isnan(r.target) or r.metric in ("gflops", "steps_per_s"))]
    fig, ax = plt.subplots(figsize=(11, 0.38 * len(shown) + 1.8))
    labels = [f"{r.benchmark}: {r.case}  [{r.metric}]" for r in shown]
    colors = ["tab:green" if r.met == "yes" else "tab:red" if r.met == "no" else "tab:gray" for r in shown]
    y = list(range(len(shown)))
    ax.barh(y, [r.ratio for r in shown], color=colors, alpha=0.8)
    for i, r in enumerate(shown):
        if not math.isnan(r.target):
            ax.plot([r.target, r.target], [i - 0.42, i + 0.42], color="black", lw=2.5)
        ax.text(r.ratio, i, f" {r.ratio:.2f}", va="center", fontsize=8)
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ticks = [t for t in (0.1, 0.25, 0.5, 1, 2, 4, 8, 16) if t <= 2 * max(r.ratio for r in shown)] if shown else [1]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.axvline(1.0, color="0.5", lw=0.8, ls=":")
    ax.set_xlabel("ratio vs baseline, higher is better (black tick: target; gray: no target — "
                  "GFLOP/s as fraction of fp32 peak, training vs pre-fix loop)", fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png", bbox_inches="tight")
    plt.close(fig)


def git_commit(repo: Path) -> str:
    """Short HEAD hash (+ '-dirty' when the tree has changes); read-only git calls."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def markdown_table(rows: list[Row]) -> str:
    lines = ["| benchmark | case | metric | value | baseline | ratio | target | met | load1 | baseline is | notes |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.metric.startswith(("phase_share_", "profile_share_")):
            continue  # in the "where the time goes" table instead
        unit = f" {r.unit}" if r.unit and not math.isnan(r.value) else ""
        lines.append(f"| {r.benchmark} | {r.case} | {r.metric} | {fmt(r.value)}{unit} | {fmt(r.baseline)} | "
                     f"{fmt(r.ratio)} | {'≥ ' + fmt(r.target) if not math.isnan(r.target) else ''} | {r.met} | "
                     f"{fmt(r.load1)} | {r.baseline_name} | {r.notes.replace('|', '/')} |")
    cases: dict[str, dict[str, Row]] = {}
    for r in rows:
        if r.metric.startswith(("phase_share_", "profile_share_")):
            cases.setdefault(r.case, {})[r.metric] = r
    if cases:
        phases = ["data", "forward", "loss", "backward", "guard_clip", "adam", "ema"]
        prof = ["matmul", "elementwise_other", "optimizer_ema"]
        lines += ["", "Where a training step's time goes: wall-time shares of one timed step by phase (forward = "
                  "`model.predict`, incl. SupportNet's first ∇; backward = `loss.backward`, SupportNet's double "
                  "backward), and torch.profiler self-CPU shares of one `train_model` step:", "",
                  "| case | step s | " + " | ".join(phases) + " | profiler: " + " | ".join(prof) + " |",
                  "|---|---|" + "---|" * (len(phases) + len(prof))]
        for case, got in cases.items():
            step = got.get("phase_share_data")
            step_s = step.notes.split(" of ")[1].split(" s")[0] if step is not None and " of " in step.notes else ""
            cells = [f"{got[f'phase_share_{p}'].value:.0%}" if f"phase_share_{p}" in got else "" for p in phases]
            cells += [f"{got[f'profile_share_{p}'].value:.0%}" if f"profile_share_{p}" in got else "" for p in prof]
            lines.append(f"| {case} | {step_s} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def update_results_md(path: Path, rows: list[Row], header: str) -> None:
    """Replace the generated block of RESULTS.md (or create the file with just that block)."""
    block = f"{BEGIN}\n{header}\n\n{markdown_table(rows)}\n{END}"
    text = path.read_text() if path.exists() else f"# Benchmark results\n\n{BEGIN}\n{END}\n"
    if BEGIN in text and END in text:
        pre, rest = text.split(BEGIN, 1)
        post = rest.split(END, 1)[1]
        text = pre + block + post
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    atomic_write_text(path, text)


def write_machine(info: dict, path: Path) -> None:
    atomic_write_json(path, info)
