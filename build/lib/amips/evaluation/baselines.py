"""The baselines a trained model must beat on the same queries, printed beside its numbers by ``fit`` and ``evaluate``.

Two comparisons, each on the queries the model is scored on:

* **the query itself** (exact search): searching all m keys with x finds the exact top-1 (match rate 1 up to the
  tie convention) for 2·m·d FLOPs per query; the model searches all keys with ĝ(x) for its own FLOPs + 2·m·d. This row
  is measured through the same metric code as the model, not assumed.
* **IVF probing** (the model's real use): on a faiss IVF index over the keys, probe the ``nprobe`` lists that ĝ(x)
  ranks first and rank their keys with x. Its recall@1 is the routing coverage of ĝ (the exact top-1 lies in a probed
  list); the natural baseline probes with x. Cost per query: 2·d·(L + keys scanned), plus the network's FLOPs for ĝ.
  ``recall@1 ĝ`` (probe *and* rank with ĝ) is shown as well: what searching the index with ĝ alone returns.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from amips.evaluation.evaluate import predict
from amips.evaluation.metrics import evaluate_predictions
from amips.exact.flops import exact_search_flops, query_flops
from amips.index.ivf import IvfFlatIndex
from amips.index.sweeps import ivf_sweep
from amips.models.networks import AmipsModel

NPROBES = (1, 2, 4, 8, 16)


def query_itself(keys: np.ndarray, queries: np.ndarray, targets: np.ndarray, rank_ties: str = "index",
                 recall_at_1pct: str = "ceil") -> dict[str, float]:
    """Metrics of searching keys [m, d] with the queries [n, d] themselves against targets [n, 1] (the identity
    control), with the evaluation's conventions."""
    scores = np.einsum("nd,nd->n", queries, keys[targets[:, 0]])[:, None]
    metrics = evaluate_predictions(queries, keys, scores, queries[:, None, :], targets, rank_ties, recall_at_1pct)
    return {**metrics, "flops": float(exact_search_flops(*keys.shape))}


def ivf_comparison(ivf: IvfFlatIndex, queries: np.ndarray, pred_keys: np.ndarray, true_top1: np.ndarray,
                   model_flops: float, nprobes: Sequence[int] = NPROBES) -> list[dict[str, float]]:
    """One row per nprobe (capped at the index's lists) comparing probing with x and with ĝ(x) [n, d].

    Row fields: nprobe; recall@1 of the query (probe and rank with x), of ĝ probing with x ranking (= ĝ's routing
    coverage) and of ĝ alone; keys scanned per query by each probe; FLOPs per query of each (ĝ's include
    ``model_flops``)."""
    chosen = sorted({min(p, ivf.nlist) for p in nprobes})
    natural = ivf_sweep(ivf, queries, true_top1, chosen, [1], log_points=False)
    learned = ivf_sweep(ivf, pred_keys, true_top1, chosen, [1], extra_flops=model_flops, log_points=False)
    return [{"nprobe": x["nprobe"], "recall@1 query": x["recall@1"], "recall@1 probe ĝ, rank x": g["routing_coverage"],
             "recall@1 ĝ": g["recall@1"], "scanned query": x["scanned_keys"], "scanned ĝ": g["scanned_keys"],
             "flops query": x["flops"], "flops ĝ": g["flops"]} for x, g in zip(natural, learned)]


def model_baselines(model: AmipsModel, keys: np.ndarray, queries: np.ndarray, targets: np.ndarray,
                    ivf: IvfFlatIndex | None,
                    index_source: str, split: str, rank_ties: str = "index", recall_at_1pct: str = "ceil",
                    nprobes: Sequence[int] = NPROBES, batch_size: int = 1024, device: str = "cpu",
                    predictions: tuple[np.ndarray, np.ndarray] | None = None,
                    model_metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """Both comparisons for a MIPS ``model`` on queries [n, d] with exact top-1 targets [n, 1] over keys [m, d].

    ``split`` names the queries (e.g. ``the validation split``), ``index_source`` where the IVF index came from;
    without ``ivf`` only the exact-search comparison is made. ``predictions`` (scores [n, 1], keys [n, 1, d]) and
    ``model_metrics`` (of :func:`amips.evaluation.metrics.evaluate_predictions` with the same conventions) are used
    instead of computing them again when the caller has them. Returns a JSON-ready record: the model's own metrics on
    these queries (``model``), ``query_itself``, ``model_flops`` and ``ivf`` (see :func:`format_baselines`)."""
    if model.num_outputs != 1 or targets.shape[1] != 1:
        raise ValueError("baselines compare a MIPS model (one output) against its exact top-1 targets")
    pred_scores, pred_keys = predictions if predictions is not None else predict(model, queries, batch_size, device)
    model_flops = float(query_flops(model))
    if model_metrics is None:
        model_metrics = evaluate_predictions(queries, keys, pred_scores, pred_keys, targets, rank_ties, recall_at_1pct)
    record: dict[str, Any] = {
        "split": split, "num_queries": int(queries.shape[0]), "model": model_metrics,
        "query_itself": query_itself(keys, queries, targets, rank_ties, recall_at_1pct), "model_flops": model_flops}
    pred_keys = pred_keys[:, 0]
    if ivf is not None:
        record["ivf"] = {"nlist": ivf.nlist, "index": index_source,
                         "rows": ivf_comparison(ivf, queries, pred_keys, targets[:, 0], model_flops, nprobes)}
    return record


def format_baselines(record: dict[str, Any]) -> str:
    """The record of :func:`model_baselines` as the lines ``fit`` and ``evaluate`` print, with a one-line verdict."""
    model_match_rate = record["model"]["match_rate"]
    itself = record["query_itself"]
    exact = itself["flops"]
    lines = [f"baselines on the same {record['num_queries']} queries ({record['split']}):",
             f"  {'search all keys with':<26}{'match rate':>11}{'FLOPs/query':>14}",
             f"  {'ĝ(x), the model':<26}{model_match_rate:>11.4f}{record['model_flops'] + exact:>14,.0f}",
             f"  {'x, the query itself':<26}{itself['match_rate']:>11.4f}{exact:>14,.0f}"]
    ivf = record.get("ivf")
    if ivf is not None:
        lines += [f"IVF, {ivf['nlist']} lists ({ivf['index']}): probe the lists ĝ(x) ranks first, rank their keys with x",
                  f"  {'nprobe':>6}{'recall@1 x':>12}{'probe ĝ,rank x':>16}{'ĝ alone':>9}"
                  f"{'FLOPs x':>12}{'FLOPs ĝ':>12}"]
        lines += [f"  {r['nprobe']:>6}{r['recall@1 query']:>12.4f}{r['recall@1 probe ĝ, rank x']:>16.4f}"
                  f"{r['recall@1 ĝ']:>9.4f}{r['flops query']:>12,.0f}{r['flops ĝ']:>12,.0f}" for r in ivf["rows"]]
    lines.append(verdict(record, model_match_rate))
    return "\n".join(lines)


def verdict(record: dict[str, Any], model_match_rate: float) -> str:
    """One line: where the model wins or loses against the baselines of ``record`` — at the same nprobe, and at
    equal FLOPs (each ĝ row against the best recall@1 of x within the same FLOPs among the rows measured)."""
    gap = model_match_rate - record["query_itself"]["match_rate"]
    parts = [f"exhaustive search with ĝ {gap:+.4f} match rate vs the query itself (which is exact)"]
    ivf = record.get("ivf")
    if ivf is not None:
        rows = ivf["rows"]
        gains = [(r["nprobe"], r["recall@1 probe ĝ, rank x"] - r["recall@1 query"]) for r in rows]
        better = [p for p, g in gains if g > 0]
        parts.append(f"IVF probing with ĝ {gains[0][1]:+.4f} recall@1 at nprobe {gains[0][0]}"
                     + (f", ahead at the same nprobe {', '.join(map(str, better))}" if better
                        else ", behind at every nprobe"))
        equal = []
        for r in rows:
            affordable = [x["recall@1 query"] for x in rows if x["flops query"] <= r["flops ĝ"]]
            equal.append((r["nprobe"], r["recall@1 probe ĝ, rank x"] - max(affordable, default=0.0)))
        ahead = [p for p, g in equal if g > 0]
        parts.append("at equal FLOPs (x's best within ĝ's FLOPs, network included) "
                     + (f"ahead at nprobe {', '.join(map(str, ahead))} ({equal[0][1]:+.4f} at nprobe {equal[0][0]})"
                        if ahead else f"behind or level everywhere ({equal[0][1]:+.4f} at nprobe {equal[0][0]})"))
    return "verdict: " + "; ".join(parts)
