"""How many keys are ever the argmax: the hull vertices that MIPS can return.

For a key set K, the argmax of ⟨x, k⟩ over K is always an *exposed point* of conv(K); keys strictly inside the hull
(or on a face, not exposed) are never returned for any query. With unit-norm keys every key is exposed (it is its
own argmax), so MIPS is cosine search; with varying norms short keys are hidden. Two counts:

* ``hit_by_queries``: distinct exact top-1 keys of the labelled queries (train and test rows, noise copies
  included): the keys a model is ever trained or tested on;
* ``hit_by_directions``: distinct top-1 keys over the labelled queries, every key's own direction k/‖k‖, and
  ``num_directions`` random Gaussian directions: a lower bound on the number of exposed points of conv(K).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from amips.exact.labels import exact_topk


def argmax_hits(keys: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Sorted distinct exact top-1 key indices of ``directions`` [n, d] over ``keys`` [m, d]."""
    return np.unique(exact_topk(directions, keys, 1)[1][:, 0])


def key_coverage(keys: np.ndarray, targets: np.ndarray, num_directions: int = 20000, seed: int = 0) -> dict[str, Any]:
    """Counts of keys that are an argmax (module docstring).

    Args:
        keys: [m, d].
        targets: [N] exact top-1 key index of each labelled query.
        num_directions: random Gaussian directions added to the key directions.
    """
    m, d = keys.shape
    norms = np.linalg.norm(keys, axis=1)
    hit_q = np.unique(np.asarray(targets).ravel())
    rng = np.random.default_rng(seed)
    own = keys / np.maximum(norms, 1e-30)[:, None]
    directions = [own.astype(np.float32), rng.standard_normal((num_directions, d)).astype(np.float32)]
    hit_d = np.union1d(hit_q, np.concatenate([argmax_hits(keys, block) for block in directions]))
    return {
        "num_keys": int(m), "dim": int(d),
        "key_norm_min": float(norms.min()), "key_norm_median": float(np.median(norms)),
        "key_norm_max": float(norms.max()), "key_norm_log_std": float(np.std(np.log(np.maximum(norms, 1e-30)))),
        "hit_by_queries": int(hit_q.size), "hit_by_queries_fraction": float(hit_q.size / m),
        "hit_by_directions": int(hit_d.size), "hit_by_directions_fraction": float(hit_d.size / m),
        "num_directions": int(num_directions + m),
    }
