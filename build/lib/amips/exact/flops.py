"""Floating-point operation counts per query (one multiply-add = 2 FLOPs), for compute-matched comparisons."""

from __future__ import annotations

from amips.models.networks import AmipsModel


def dense_flops(model: AmipsModel) -> int:
    """FLOPs of one forward pass of the network's dense layers: 2 × (number of weight entries used in matmuls).

    Biases and activations are O(width) and ignored (as is customary); the z-path weights count once, and so do
    the homogenization wrapper's own matrices (the ``gauge`` norm's U, V: 2·d·r entries).
    """
    net = model.net
    weights = net.first.weight.numel() + sum(w.numel() for w in net.z_weights)
    weights += sum(skip.weight.numel() for skip in net.skips.values())
    weights += sum(p.numel() for p in model.homogenizer.parameters())
    return 2 * weights


def query_flops(model: AmipsModel, with_key: bool = True) -> int:
    """FLOPs to turn one query into a predicted key (``with_key``) or only scores.

    KeyNet: one forward (the key is the output; the score adds 2d).
    SupportNet: a forward for the scores; the key ∇f needs one backward pass per output w.r.t. the input,
    which costs about one more forward's matmuls each (no weight gradients are formed).
    """
    forward = dense_flops(model)
    if model.spec.kind == "keynet":
        return forward + 2 * model.dim * model.num_outputs
    return forward * (1 + model.num_outputs) if with_key else forward


def exact_search_flops(num_keys: int, dim: int) -> int:
    """Brute-force MIPS: m inner products of length d."""
    return 2 * num_keys * dim


def training_flops(forward_flops: float, steps: int, batch_size: int) -> float:
    """Estimated training FLOPs: steps × batch × 3 × (per-sample forward FLOPs).

    The factor 3 is the usual rule for one forward plus one backward pass (the backward costs about two forwards);
    it is an estimate, reported next to the measured training seconds."""
    return 3.0 * forward_flops * steps * batch_size
