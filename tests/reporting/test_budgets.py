"""Budgets (amips.reporting.budgets): every budget column of every table holds exactly the configured values.

The regression: with budgets computed as ``f · exact / exact``, a dataset whose exact search took 0.0123 s had the
budget 0.010000000000000002 and the pivot of ivf.md found no row (an IndexError in two aggregate rules).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amips.experiments.scaling import point_record
from amips.pipeline.stages.ivf_experiments import aggregate_experiment
from amips.experiments.what_wins import load_curves, what_wins
from amips.pipeline.sections import BudgetSettings
from amips.reporting.budgets import Budgets, admits, best_within_budget
from amips.reporting.tables import aggregate_ivf
from amips.data.io import InputError

SEEDS = (0, 1)


def curve_files(tmp_path, exact_seconds: dict[str, float], exact_flops: dict[str, float]) -> list:
    """One curve CSV per dataset and seed: plain IVF and a learned probe at nprobe 1, 2, 4, plus exact search."""
    paths = []
    for dataset, seconds in exact_seconds.items():
        flops = exact_flops[dataset]
        for seed in SEEDS:
            rows = [{"dataset": dataset, "method": method, "nprobe": p, "recall@1": min(1.0, 0.3 * p + 0.01 * seed),
                     "flops": flops * 0.03 * p * scale, "seconds": seconds * 0.03 * p * scale,
                     "routing_coverage": min(1.0, 0.3 * p)}
                    for method, scale in (("ivf natural", 1.0), ("hybrid keynet (none)", 1.3)) for p in (1, 2, 4)]
            rows.append({"dataset": dataset, "method": "exact", "recall@1": 1.0, "flops": flops, "seconds": seconds})
            paths.append(tmp_path / f"{dataset}-{seed}.csv")
            pd.DataFrame(rows).to_csv(paths[-1], index=False)
    return paths


def test_the_crash_of_a_two_dataset_run_is_gone(tmp_path):
    budgets = BudgetSettings.default().fractions
    assert 0.1 * 0.0123 / 0.0123 != 0.1  # the round trip that broke the pivot
    files = curve_files(tmp_path, {"lognormal": 0.0123, "unit": 0.02}, {"lognormal": 2.56e6, "unit": 2.56e6})
    aggregate_experiment(files, tmp_path / "ivf.csv", tmp_path / "ivf.md", "t", budgets)
    text = (tmp_path / "ivf.md").read_text()
    for dataset in ("lognormal", "unit"):
        assert sum(line.startswith(f"| {dataset} |") for line in text.splitlines()) >= 2 * 2 + len(budgets.values)


@settings(max_examples=8, deadline=None)
@given(seconds=st.lists(st.floats(1e-6, 1e3, allow_nan=False), min_size=1, max_size=3),
       flops=st.lists(st.floats(1.0, 1e12, allow_nan=False), min_size=3, max_size=3),
       fractions=st.lists(st.floats(1e-4, 1.0, allow_nan=False), min_size=1, max_size=6, unique=True))
def test_every_budget_column_holds_exactly_the_configured_fractions(tmp_path_factory, seconds, flops, fractions):
    tmp_path = tmp_path_factory.mktemp("budgets")
    budgets = Budgets.fractions(fractions)
    names = [f"d{i}" for i in range(len(seconds))]
    files = curve_files(tmp_path, dict(zip(names, seconds)), dict(zip(names, flops)))
    aggregate_experiment(files, tmp_path / "ivf.csv", tmp_path / "ivf.md", "t", budgets)
    sections = (tmp_path / "ivf.md").read_text().split("\n## ")
    pivots = [s for s in sections if s.startswith("At equal")]
    assert len(pivots) == 2
    for section in pivots:  # every method's row has a cell per budget
        rows = [line for line in section.splitlines() if line.startswith("| d") and not line.startswith("| dataset")]
        assert len(rows) == 2 * len(seconds) and all(r.count("|") == len(budgets.values) + 3 for r in rows)
    versus = next(s for s in sections if s.startswith("Best method vs plain IVF"))
    assert sum(line.startswith("| d") and not line.startswith("| dataset") for line in versus.splitlines()) == len(budgets.values) * len(seconds)
    curves = pd.read_csv(tmp_path / "ivf.csv")
    for cost in ("flops", "seconds"):
        for dataset, frame in curves.groupby("dataset"):
            reference = float(frame.loc[frame["method"] == "exact", f"{cost}_mean"].iloc[0])
            table = best_within_budget(frame[frame["method"] != "exact"], cost, "recall@1", budgets, reference)
            assert set(table[f"{cost}_budget"]) == set(budgets.values)
    table = what_wins(load_curves([tmp_path / "ivf.csv"]), budgets)
    assert set(table["budget"]) == set(budgets.values)
    record = point_record({}, {}, [{"nprobe": 1, "routing_coverage": 0.5, "flops": 1.0}], 2.0, budgets)
    assert [k for k in record if k.startswith("recall@1_at_")] == [f"recall@1_at_{b:g}" for b in budgets.values]


def test_a_point_at_the_budget_fits_within_rounding():
    budgets = Budgets.fractions([0.01])
    limit = budgets.limit(0.01, 0.0123)
    assert admits(0.01 * 0.0123, limit) and admits(limit * (1 + 1e-12), limit) and not admits(limit * 1.001, limit)


@pytest.mark.parametrize("values, relative, why", [([0.0], True, "> 0"), ([1.5], True, "≤ 1"),
                                                    ([float("nan")], False, "finite"), ([2.0, 1.0], False, "increasing")])
def test_bad_budgets_are_refused(values, relative, why):
    with pytest.raises(ValueError, match=why):
        Budgets(tuple(values), relative=relative)


def test_the_config_section_takes_the_schema_defaults_and_refuses_bad_values():
    default = BudgetSettings.default()
    assert default.fractions.relative and not default.bytes_per_key.relative
    assert default.fractions.values and default.bytes_per_key.values == ()
    mine = BudgetSettings.from_config({"budgets": {"fractions": [0.2, 0.05], "bytes_per_key": [64]}})
    assert mine.fractions.values == (0.05, 0.2) and mine.bytes_per_key.values == (64.0,)
    with pytest.raises(InputError, match=r"budgets\.fractions"):
        BudgetSettings.from_config({"budgets": {"fractions": [2.0]}})
    with pytest.raises(InputError, match="budgets"):
        BudgetSettings.from_config({"budgets": {"flops": [0.1]}})
    assert np.isfinite(default.fractions.limit(default.fractions.values[0], 3.0))
