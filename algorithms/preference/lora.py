"""LoRA (low-rank adapters) as a pure transform on `causal_lm` parameters.

    adapters = init_adapters(key, params, rank=8)                 # q and v of every layer
    loss = lambda a: sft_loss(merge(params, a, alpha=16.0))      # gradients w.r.t. the adapters only
    merged = merge(params, adapters, alpha=16.0)                  # plain params: save, sample, serve

Each adapted kernel W float32[in, out] becomes W + (alpha / rank) · A @ B with A float32[in, r],
B float32[r, out]. B starts at zero, so a fresh adapter leaves the model exactly as it was; A is
N(0, 1/in) (Kaiming scale), so x @ A has unit-scale entries whatever the width and the first steps
move B at a rate independent of it.

Targets name the projections of either family: "q", "k", "v", "o" (attention) and "gate", "up",
"down" (MLP). GPT-2's fused c_attn kernel float32[D, 3, D] gets one adapter per targeted slice
(q = [:, 0], k = [:, 1], v = [:, 2]); its mlp c_fc is "up" and mlp c_proj "down". Or pass a predicate
on the parameter path, e.g. `lambda path: path[-2] in ("q_proj", "o_proj")`, applied to 2-D kernels.

Adapters are a flat dict {"layers_0/self_attn/q_proj/kernel": {"a": ..., "b": ...}, ...}; GPT-2's
slices carry the slice in the key ("h_0/attn/c_attn/kernel[0]"). Plain strings and arrays: the dict
saves with orbax or safetensors as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from algorithms import validate

TARGETS = ("q", "k", "v", "o", "gate", "up", "down")
# parameter path tail (module names above "kernel") -> target name; None slice: the whole kernel
_LLAMA = {("self_attn", "q_proj"): "q", ("self_attn", "k_proj"): "k", ("self_attn", "v_proj"): "v",
          ("self_attn", "o_proj"): "o", ("mlp", "gate_proj"): "gate", ("mlp", "up_proj"): "up",
          ("mlp", "down_proj"): "down"}
_GPT2 = {("attn", "c_proj"): "o", ("mlp", "c_fc"): "up", ("mlp", "c_proj"): "down"}
_GPT2_QKV = ("q", "k", "v")  # c_attn's axis-1 slices


def _kernels(params) -> dict[str, np.ndarray | jax.Array]:
    """{"a/b/kernel": kernel} of every kernel in params."""
    out = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        keys = tuple(str(getattr(p, "key", p)) for p in path)
        if keys[-1] == "kernel":
            out["/".join(keys)] = leaf
    return out


def _sites(params, targets) -> list[tuple[str, str, int | None]]:
    """(adapter key, kernel path, slice index or None) of every adapted kernel, in a fixed order."""
    sites = []
    predicate = targets if callable(targets) else None
    if predicate is None:
        if isinstance(targets, str):
            targets = (targets,)
        targets = tuple(targets)
        if not targets:
            raise ValueError(f"init_adapters targets must name at least one of {', '.join(TARGETS)}")
        for t in targets:
            validate.choice("LoRA target", t, TARGETS)
    for path, kernel in _kernels(params).items():
        keys = tuple(path.split("/"))
        if predicate is not None:
            if np.ndim(kernel) == 2 and predicate(keys):
                sites.append((path, path, None))
            continue
        tail = keys[-3:-1]
        if tail == ("attn", "c_attn") and np.ndim(kernel) == 3:
            sites += [(f"{path}[{i}]", path, i) for i, t in enumerate(_GPT2_QKV) if t in targets]
        elif (_LLAMA.get(tail) or _GPT2.get(tail)) in targets:
            sites.append((path, path, None))
    if not sites:
        raise ValueError(f"init_adapters: no kernel in params matches targets {targets!r} (names: "
                         f"{', '.join(TARGETS)}, or a predicate on the parameter path)")
    return sites


def init_adapters(key: jax.Array, params, rank: int, targets: Sequence[str] | Callable = ("q", "v")) -> dict:
    """Fresh adapters {key: {"a": float32[in, r], "b": float32[r, out] = 0}} for the targeted kernels
    of `params` (a `causal_lm` params pytree)."""
    rank = validate.integer("LoRA rank", rank, 1)
    sites = _sites(params, targets)
    kernels = _kernels(params)
    sides = []
    for name, path, index in sites:
        shape = np.shape(kernels[path])
        if rank > min(shape[0], shape[-1]):
            raise ValueError(f"LoRA rank {rank} exceeds the smaller side of {path} {shape}: the update would "
                             "not be low-rank")
        sides.append((shape[0], shape[-1]))
    keys = jax.random.split(key, len(sites))
    # per adapter, eagerly: one compiled random op per distinct kernel shape (few in a transformer)
    return {name: {"a": jax.random.normal(k, (n_in, rank), jnp.float32) / np.sqrt(n_in),
                   "b": jnp.zeros((rank, n_out), jnp.float32)} for k, (name, _, _), (n_in, n_out) in
            zip(keys, sites, sides)}


def _parse(name: str) -> tuple[tuple[str, ...], int | None]:
    path, index = name, None
    if name.endswith("]"):
        path, _, index = name[:-1].rpartition("[")
        index = int(index)
    return tuple(path.split("/")), index


def _copy(tree):
    if isinstance(tree, Mapping):
        return {k: _copy(v) for k, v in tree.items()}
    return tree


def merge(params, adapters: dict, alpha: float) -> dict:
    """params with every adapted kernel W replaced by W + (alpha / rank) · A @ B (a new pytree; params
    unchanged). Differentiable in both; jit-friendly."""
    alpha = validate.number("LoRA alpha", alpha)
    params = _copy(params)  # fresh dicts to edit in place; the arrays are shared, not copied

    def node(path):
        tree = params
        for key in path[:-1]:
            if not isinstance(tree, dict) or key not in tree:
                raise ValueError(f"LoRA adapter {'/'.join(path)} has no kernel in params")
            tree = tree[key]
        if path[-1] not in tree:
            raise ValueError(f"LoRA adapter {'/'.join(path)} has no kernel in params")
        return tree

    for name, ab in adapters.items():
        path, index = _parse(name)
        a, b = ab["a"], ab["b"]
        parent = node(path)
        w = parent[path[-1]]
        delta = (alpha / a.shape[-1]) * (a @ b)
        expected = w.shape if index is None else (w.shape[0], w.shape[-1])
        if delta.shape != expected:
            raise ValueError(f"LoRA adapter {name} gives an update of shape {delta.shape}, the kernel slice is "
                             f"{expected}")
        delta = delta.astype(w.dtype)
        parent[path[-1]] = w + delta if index is None else w.at[:, index].add(delta)
    return params


def trainable_count(adapters: dict) -> int:
    """The number of adapter parameters."""
    return int(sum(np.prod(np.shape(x)) for x in jax.tree_util.tree_leaves(adapters)))
