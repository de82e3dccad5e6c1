"""Hidden checks for groupnorm: torch.nn.functional.group_norm of (N, C, H, W); dx, dgamma, dbeta,
with num_groups in between, 1 (layer norm over C, H, W) and C (instance norm), and a batch of one."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from bpdrill.core.diagnose import Mistake, close, formula, variants
from bpdrill.core.judge import Check, matches_reference
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t
from bpdrill.kinds import layer

EPS = 1e-5  # GroupNorm's default: the hidden layers are built with it
GRADS = ("dx", "dgamma", "dbeta")


def _torch(torch, x, gamma, beta, num_groups):
    return torch.nn.functional.group_norm(x, num_groups, gamma, beta, EPS)


def _make(module, s):
    return module.GroupNorm(s.params["num_groups"], s["gamma"].shape[0])


SPEC = layer.Layer("GroupNorm", _torch, params=("gamma", "beta"), options=("num_groups",), make=_make,
                   numgrad_points={"dx": 2})


def _draw(rng, n, c, h, w):
    """Each sample and channel with its own mean and spread: the group statistics matter.
    gamma never near zero or all ones, so dx_hat = dout * gamma shows."""
    scale = rng.uniform(0.5, 2.0, size=(n, c, 1, 1))
    return {"x": rng.normal(size=(n, c, 1, 1)) + scale * rng.normal(size=(n, c, h, w)),
            "gamma": rng.uniform(0.5, 2.0, size=c) * rng.choice([-1.0, 1.0], size=c),
            "beta": rng.normal(size=c), "dout": rng.normal(size=(n, c, h, w))}


def scenarios(rng) -> list[Scenario]:
    c, groups = [(4, 2), (6, 2), (6, 3)][int(rng.integers(3))]  # 1 < groups < C
    h, w = (int(v) for v in rng.permutation([2, 3, 4])[:2])  # H * W >= 6: no group of two numbers
    n = int(rng.integers(3, 6))
    found = [replace(s, params={**s.params, "num_groups": groups})
             for s in layer.standard(SPEC, lambda r, k: _draw(r, k, c, h, w), rng, n)]
    return found + [Scenario("one_group", "backward", _draw(rng, n, c, h, w), {"num_groups": 1}),
                    Scenario("per_channel", "backward", _draw(rng, n, c, h, w), {"num_groups": c})]


CHECKS = [
    *layer.checks(SPEC, "basic", "{key} matches PyTorch (1 < num_groups < C)"),
    Check("edge.one_group", "edge", GRADS, 1, "one_group", matches_reference(*GRADS),
          "num_groups = 1: every channel of a sample in one group"),
    Check("edge.per_channel", "edge", GRADS, 1, "per_channel", matches_reference(*GRADS),
          "num_groups = C: each channel its own group"),
]


# ---- diagnosis: the known mistakes, recomputed in NumPy on the same inputs ---------------------

def _call(p):
    """(x, gamma, dout, num_groups) of the call the check is about."""
    a = layer.call_arrays(SPEC, p)
    return a["x"], a["gamma"], a["dout"], p.ev.params(p.scenario)["num_groups"]


def _mean(a, over: str, groups: int):
    """The mean of a (N, C, H, W) over each group, channel or sample, broadcast back to a's shape."""
    if over == "channel":
        return np.broadcast_to(a.mean(axis=(2, 3), keepdims=True), a.shape)
    if over == "sample":
        return np.broadcast_to(a.mean(axis=(1, 2, 3), keepdims=True), a.shape)
    ag = a.reshape(a.shape[0], groups, -1)
    return np.broadcast_to(ag.mean(axis=-1, keepdims=True), ag.shape).reshape(a.shape)


def _dx(x, gamma, dout, groups, over="group", mean_term=True, xhat_term=True, with_gamma=True, ddof=0):
    n, c = x.shape[:2]
    xg = x.reshape(n, groups, -1)
    inv_std = 1.0 / np.sqrt(xg.var(axis=-1, keepdims=True) + EPS)
    x_hat = ((xg - xg.mean(axis=-1, keepdims=True)) * inv_std).reshape(x.shape)
    inv_std = np.broadcast_to(inv_std, xg.shape).reshape(x.shape)
    dx_hat = dout * gamma.reshape(1, c, 1, 1) if with_gamma else dout
    m = x[0].size // groups  # numbers per group
    dx = dx_hat - (_mean(dx_hat, over, groups) if mean_term else 0)
    if xhat_term:
        dx = dx - x_hat * _mean(dx_hat * x_hat, over, groups) * m / (m - ddof)
    return inv_std * dx


def _rule(evidence, **mistake):
    return formula(evidence, lambda p: _dx(*_call(p), **mistake) if p.label == "dx" else None)


def _part_summed(p):
    """dgamma or dbeta summed over some of the axes N, H, W but not all: (N, C), (C, H, W) ..."""
    if p.label not in ("dgamma", "dbeta") or p.got is None or p.expected is None or p.got.ndim < 2:
        return None
    sizes = dict(zip("NCHW", _call(p)[2].shape))
    for kept in ("NC", "CHW", "NCHW", "CH", "CW"):
        if p.got.shape == tuple(sizes[a] for a in kept) and close(
                p.got.sum(axis=tuple(i for i, a in enumerate(kept) if a != "C")), p.expected):
            return {"evidence": t("got has shape {got}, still one entry per {axes}; summed over those "
                                  "it is right", got=p.got.shape, axes=", ".join(a for a in kept if a != "C"))}
    return None


MISTAKES = [
    *variants(_rule, {
        "stats_per_channel_in_backward": ("dx's means run over each channel alone (instance norm): "
                                          "{evidence}. The statistics are per group of C // G channels: take "
                                          "the means over each group's M = (C // G) * H * W numbers",
                                          "dx uses means over (H, W)", {"over": "channel"}),
        "stats_per_sample_in_backward": ("dx's means run over the whole sample (layer norm over C, H, W): "
                                         "{evidence}. The statistics are per group: take the means over each "
                                         "group's M = (C // G) * H * W numbers",
                                         "dx uses means over (C, H, W)", {"over": "sample"}),
        "unbiased_variance": ("the variance's term divides by M - 1, as an unbiased variance would: "
                              "{evidence}. GroupNorm's variance is biased (it divides by M), so the term is "
                              "x_hat * mean(dx_hat * x_hat) over the group",
                              "dx uses sum(dx_hat * x_hat) / (M - 1)", {"ddof": 1}),
        "dx_missing_group_mean_term": ("dx lacks the term through the group mean: {evidence}. The mean "
                                       "depends on every number of the group: subtract the group mean of "
                                       "dx_hat", "dx = inv_std * (dx_hat - x_hat * mean(dx_hat * x_hat))",
                                       {"mean_term": False}),
        "dx_missing_group_var_term": ("dx lacks the term through the group variance: {evidence}. Subtract "
                                      "x_hat * the group mean of dx_hat * x_hat",
                                      "dx = inv_std * (dx_hat - mean(dx_hat))", {"xhat_term": False}),
        "dx_without_gamma": ("the factor gamma is missing from dx: {evidence}. out = gamma * x_hat + beta, "
                             "so dx_hat = dout * gamma (gamma per channel)",
                             "dx equals the right formula with dx_hat = dout", {"with_gamma": False}),
    }),
    Mistake("dgamma_not_summed_over_every_axis", "{label} was not summed over every axis but the "
            "channel: {evidence}. gamma and beta are per channel: sum over N, H and W, axis=(0, 2, 3)",
            _part_summed),
]
