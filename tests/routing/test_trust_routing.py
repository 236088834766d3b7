"""Results you can trust, in routing: a router's NaN scores are misses in the routing metrics and curves (from the
cross-cutting test_trust.py)."""

from __future__ import annotations

import numpy as np

from amips.evaluation.metrics import routing_metrics
from amips.routing.clusters import routing_curve


def test_router_metrics_count_nan_scores_as_misses():
    true_scores = np.array([[0.9, 0.1, 0.2], [0.1, 0.8, 0.0]])
    assert routing_metrics(true_scores, true_scores)["routing_accuracy"] == 1.0
    broken = np.array([[np.nan, np.nan, np.nan], [0.1, 0.8, 0.0]])
    assert routing_metrics(broken, true_scores)["routing_accuracy"] == 0.5
    rows = routing_curve(broken, true_scores, np.array([4, 4, 4]), dim=8, router_flops=0.0)
    assert [r["match_rate"] for r in rows] == [0.5, 0.5, 0.5]
