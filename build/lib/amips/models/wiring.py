"""Where the input x is re-injected (``wx_inject``) into the z-path layers."""

from __future__ import annotations


def injection_mask(depth: int, wx_inject: bool | int | list[bool] | tuple[bool, ...]) -> list[bool]:
    """Mask over the ``depth`` z-path layers (layer ℓ = 1..depth, the last one produces the output).

    * ``True``/``False``: every layer / none;
    * int k ≥ 1: layer ℓ gets a skip iff ℓ mod k == 0 (depth 8, k 4 → the layer producing hidden 5, and the output);
    * a sequence of bools of length ``depth``: explicit.
    """
    if isinstance(wx_inject, bool):
        return [wx_inject] * depth
    if isinstance(wx_inject, int):
        if wx_inject < 1:
            raise ValueError(f"wx_inject must be a bool, an int >= 1 or a list of bools, got {wx_inject}")
        return [(layer % wx_inject) == 0 for layer in range(1, depth + 1)]
    mask = [bool(v) for v in wx_inject]
    if len(mask) != depth:
        raise ValueError(f"wx_inject mask has length {len(mask)}, expected depth={depth}")
    return mask
