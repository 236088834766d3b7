"""Off-the-shelf faiss index families searched with the natural query x or with the predicted key ĝ(x) (issue 19).

The paper calls KeyNet "a drop-in replacement for the query, fed directly to off-the-shelf indexing pipelines". This
module puts that to the test on the indexes a user would pick, with every cost counted:

* ``hnsw_ip`` / ``hnsw_l2``: faiss ``IndexHNSWFlat`` (M links) over the keys, inner product or L2. Searched with x
  (baseline, IP), with ĝ under IP and with ĝ under L2 (ĝ lies near a key); the efSearch candidates found with ĝ are
  re-ranked with x.
* ``ivf_pq``: faiss ``IndexIVFPQ`` (IP, residual codes, ⌊√m⌋ lists, M code bytes of 8 bits): probed and scanned
  with x, with ĝ (``ĝ ip``), or probed with ĝ and scanned with x (``ĝ probe``); optionally the top R candidates
  re-ranked exactly with x.
* ``pq`` / ``sq8``: exhaustive ``IndexPQ`` / ``IndexScalarQuantizer`` (QT_8bit), IP; x vs ĝ, ± exact re-rank of R.
* ``hnsw_mips_l2`` / ``ivf_flat_mips_l2``: the MIPS-to-L2 reduction (:func:`amips.index.reduction.mips_to_l2`) in
  HNSW L2 and IVF-Flat L2 — the standard anchor on data whose norms vary.

**Search protocol** (:mod:`amips.index.base`). Every search is one batch of all queries, timed best of ``repeats``
(3) with faiss on 1 thread (:data:`amips.index.timing.TIMING`). Re-ranking gathers each query's candidate keys from
the float32 keys and takes their inner products with x: the *seconds* time that float32 gather-and-dot (what a
deployment runs), and the *indices* returned follow the exact order of :mod:`amips.exact.order` among the same
candidates (so ties resolve as in the labels). A compressed index scans once per operating point at depth max(k, R)
and re-ranks every R of the sweep from that scan (:class:`amips.index.pq.CompressedIndex`): a row's seconds are the
scan's plus its own re-rank's.

**Costs** (per query, counted by the index classes of :mod:`amips.index`; one multiply-add = 2 FLOPs; the network's
FLOPs are added by the caller):

=================== =========================================================================================
family              FLOPs
=================== =========================================================================================
hnsw_*              2·d'·(ndis + 1) (faiss ``hnsw_stats.ndis``, + the entry point's distance it leaves out;
                    d' = d, or d + 1 for the reduction) + 2·d·C (the C candidates re-ranked)
ivf_pq              2·d·nlist (coarse) [+ 2·d·nprobe: x's scores of ĝ's lists, ``ĝ probe``] + 2·256·d (the
                    ADC table: 256 centroids × d for the M sub-quantisers together) + M·(codes scanned) + 2·d·R
pq                  2·256·d + M·m + 2·d·R
sq8                 4·d·m (decode one multiply-add and product one multiply-add per coordinate) + 2·d·R
ivf_flat_mips_l2    2·d'·nlist + 2·d'·(keys scanned)
=================== =========================================================================================

``distances`` counts the full-precision d-dimensional products of a query (graph distances, coarse centroids, IVF-Flat
scans, re-ranks); ``codes`` the compressed codes scanned; ``hops`` the graph hops (``hnsw_stats.nhops``).

**Memory** (:meth:`amips.index.base.Index.bytes_per_key`, bytes per key, everything the index holds amortised over
the m keys; each formula is checked against ``faiss.serialize_index`` in the tests):

* HNSW: 4·d' (float keys) + 4·(2M + M/(M − 1)) (int32 links: 2M at level 0, M per upper level; a key has
  1/(M − 1) upper levels on average under faiss' level draw with mL = 1/ln M) + 4 (its level) + 8 (its offset).
* IVF-PQ: M (code) + 8 (int64 id) + 4·d·(nlist + 256)/m (coarse centroids and the PQ codebooks).
* PQ: M + 4·256·d/m (codebooks; an exhaustive IndexPQ stores no ids: a key's position is its id).
* SQ8: d + 8·d/m (per-coordinate min and range, float32).
* IVF-Flat (reduction): 4·d' + 8 + 4·d'·nlist/m.

A row that re-ranks a *compressed* index's candidates from the float keys also holds those keys: the row's
``memory_bytes`` adds 4·d (:func:`row_memory`); HNSW and IVF-Flat hold them already. A learned row adds the network's
parameters × 4 bytes / m (the paper's "compress databases" use: the network is part of the memory).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from amips.core.schema import section
from amips.data.io import InputError
from amips.index.base import EVERY, FLOAT_BYTES, Found, Index
from amips.index.hnsw import HNSW_EF_CONSTRUCTION, HNSW_M, HnswIndex
from amips.index.ivf import IvfFlatIndex
from amips.index.pq import IvfPqIndex, PqIndex, Sq8Index
from amips.index.reduction import MipsToL2
from amips.index.timing import TIMING

log = logging.getLogger("amips.experiments.index_families")


# name → (constructor from the experiment's settings, the methods it runs: baseline and learned)
FAMILY_NAMES = ("hnsw_ip", "hnsw_l2", "ivf_pq", "pq", "sq8", "hnsw_mips_l2", "ivf_flat_mips_l2")
BASELINE_METHODS = {"hnsw_ip": ("x",), "hnsw_l2": (), "ivf_pq": ("x",), "pq": ("x",), "sq8": ("x",),
                    "hnsw_mips_l2": ("x l2-reduction",), "ivf_flat_mips_l2": ("x l2-reduction",)}
LEARNED_METHODS = {"hnsw_ip": ("ĝ ip",), "hnsw_l2": ("ĝ l2",), "ivf_pq": ("ĝ ip", "ĝ probe"), "pq": ("ĝ ip",),
                   "sq8": ("ĝ ip",), "hnsw_mips_l2": (), "ivf_flat_mips_l2": ()}
def settings(cfg: dict[str, Any] | None) -> dict[str, Any]:
    """The experiment's settings (``experiments.index_families``): the schema's defaults for what ``cfg`` leaves out,
    every family unless ``families`` says, HNSW's M and efConstruction those of :mod:`amips.index.hnsw`; unknown
    families refused."""
    run_filters = ("enabled", "datasets", "models", "seeds", "parameters_fractions")  # the workflow's, not the sweep's
    given = {k: v for k, v in (cfg or {}).items() if k not in run_filters}
    filled = section("experiments.index_families", given, validate=False)
    out = {"families": list(FAMILY_NAMES), "hnsw_m": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION,
           **{k: v for k, v in filled.items() if k not in run_filters}}
    unknown = sorted(set(out["families"]) - set(FAMILY_NAMES))
    if unknown:
        raise InputError(f"experiments.index_families.families: unknown {unknown}; choose from {list(FAMILY_NAMES)}")
    return out


def make_families(cfg: dict[str, Any], dim: int | None = None, learned: bool = False) -> list[Index]:
    """The index instances of the configured families (one per code size for ``ivf_pq`` / ``pq``); with ``learned``
    only those the learned rows search. Code sizes that do not divide ``dim`` are left out with a warning. HNSW's
    level draw is faiss' own (``seed`` seeds the k-means of the others)."""
    cfg = settings(cfg)
    common = {"repeats": cfg["repeats"], "seed": cfg["seed"]}
    hnsw = {"m_links": cfg["hnsw_m"], "ef_construction": cfg["ef_construction"], "repeats": cfg["repeats"]}
    out: list[Index] = []
    for name in cfg["families"]:
        if learned and not LEARNED_METHODS[name]:
            continue
        if name in ("ivf_pq", "pq"):
            for code in cfg["pq_m"]:
                if dim is not None and dim % int(code):
                    log.warning("%s: %d code bytes do not divide d = %d: left out", name, code, dim)
                    continue
                out.append(IvfPqIndex(code, **common) if name == "ivf_pq" else PqIndex(code, **common))
        elif name in ("hnsw_ip", "hnsw_l2"):
            out.append(HnswIndex(name.split("_")[1], **hnsw))
        elif name == "sq8":
            out.append(Sq8Index(**common))
        elif name == "hnsw_mips_l2":
            out.append(MipsToL2(HnswIndex("l2", **hnsw)))
        else:
            out.append(MipsToL2(IvfFlatIndex(metric="l2", **common)))
    return out


def _core(family: Index) -> Index:
    """The index that does the searching (the inner index of a reduction)."""
    return family.inner if isinstance(family, MipsToL2) else family


def family_params(family: Index, cfg: dict[str, Any]) -> list[tuple[int, list[int]]]:
    """Operating points of a family: (param, the re-rank depths R searched at it). HNSW: each ef (a ĝ query
    re-ranks all its candidates); IVF-Flat: each nprobe and all lists; IVF-PQ: each nprobe × every R; exhaustive
    codes: one scan × every R (their swept parameter is R)."""
    cfg = settings(cfg)
    reranks = sorted({int(r) for r in cfg["rerank"]})
    core = _core(family)
    if isinstance(core, HnswIndex):
        return [(int(ef), [0]) for ef in cfg["ef"]]
    if isinstance(core, IvfFlatIndex):
        nlist = core.nlist
        return [(p, [0]) for p in sorted({min(int(p), nlist) for p in cfg["nprobes"]} | {nlist})]
    if isinstance(core, IvfPqIndex):
        return [(p, reranks) for p in sorted({min(int(p), core.nlist) for p in cfg["nprobes"]})]
    return [(0, reranks)]


def row_memory(family: Index, m: int, d: int, rerank: bool, network_parameters: int = 0) -> dict[str, float]:
    """Bytes per key of a row: the index, + 4·d float keys when a compressed index's candidates are re-ranked from
    them, + the network's parameters × 4 / m for a learned row (module docstring)."""
    index = family.bytes_per_key(m, d)
    keys = FLOAT_BYTES * d if rerank and not family.stores_float_keys else 0.0
    network = FLOAT_BYTES * network_parameters / m
    return {"memory_bytes": index + keys + network, "index_bytes": index, "rerank_key_bytes": keys,
            "network_bytes": network}


def recall_columns(indices: np.ndarray, targets: np.ndarray, k_values: list[int],
                   valid: np.ndarray | None = None) -> dict[str, float]:
    """recall@k: the label's exact top-1 key among the first k returned (a non-finite query is a miss)."""
    hit_ok = np.ones(len(targets), bool) if valid is None else valid
    return {f"recall@{k}": float(np.mean((indices[:, :k] == targets[:, None]).any(axis=1) & hit_ok))
            for k in k_values}


def sweep(family: Index, method: str, queries: np.ndarray, targets: np.ndarray, cfg: dict[str, Any],
          predicted: np.ndarray | None = None, network: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Rows of one family × method over its operating points.

    Args:
        method: ``x`` / ``x l2-reduction`` (natural query), ``ĝ ip`` / ``ĝ l2`` (search with ĝ, re-rank with x),
            ``ĝ probe`` (IVF: probe with ĝ, scan and re-rank with x).
        queries: x [n, d]; predicted: ĝ(x) [n, d] (learned methods); targets: the labels' exact top-1 [n].
        network: ``flops``, ``seconds`` (per query) and ``parameters`` of the network (learned methods).
    """
    cfg = settings(cfg)
    network = {"flops": 0.0, "seconds": 0.0, "parameters": 0, **(network or {})}
    k_values = [int(k) for k in cfg["k_values"]]
    kmax = max(k_values)
    valid = np.isfinite(predicted).all(axis=1) if predicted is not None else np.ones(len(queries), bool)
    g = None if predicted is None else np.where(valid[:, None], predicted, 0.0).astype(np.float32)
    rows = []
    for param, reranks in family_params(family, cfg):
        vectors, route = (g, None) if method in ("ĝ ip", "ĝ l2") else (queries, g if method == "ĝ probe" else None)
        if isinstance(_core(family), HnswIndex):
            depth = max(param, kmax) if method.startswith("ĝ") else 0
            points = [(depth, family.search(vectors, kmax, param, EVERY if depth else 0, queries))]
        else:
            points = list(zip(reranks, family.search_reranks(vectors, kmax, param, reranks, queries, route)))
        for depth, res in points:
            rows.append(_row(family, method, param, depth, res, targets, k_values, valid, network, len(queries)))
    return rows


def _row(family: Index, method: str, param: int, depth: int, res: Found, targets: np.ndarray,
         k_values: list[int], valid: np.ndarray, network: dict[str, float], num_queries: int) -> dict[str, Any]:
    """One CSV row: the operating point, recall, every cost (index + network) and the memory per key."""
    m, d = family.keys.shape
    param = depth if family.param_name == "rerank" else param
    row = {"family": family.name, "index": family.label, "method": method, "code_bytes": family.code_bytes,
           "param_name": family.param_name, "param": param, "rerank": depth,
           **recall_columns(res.indices, targets, k_values, valid),
           "flops": res.cost.flops + network["flops"], "index_flops": res.cost.flops,
           "network_flops": network["flops"], "distances": res.cost.distances, "codes_scanned": res.cost.codes,
           "hops": res.cost.hops,
           "seconds": res.seconds + network["seconds"], "index_seconds": res.seconds,
           "network_seconds": network["seconds"],
           **row_memory(family, m, d, res.cost.reranked > 0, int(network["parameters"])),
           "build_seconds": family.build_seconds, "num_keys": m, "dim": d, "num_queries": num_queries,
           "non_finite_queries": int((~valid).sum()), "timing": TIMING.format(repeats=family.repeats)}
    log.info("%s %s %s %d (R %d): recall@1 %.4f, %.3g FLOPs, %.3g ms per query", family.label, method,
             family.param_name, param, depth, row.get("recall@1", float("nan")), row["flops"], 1e3 * row["seconds"])
    return row
