"""Hidden checks for lora: out = x @ W + b + (alpha / rank) * (x @ A) @ B with W, b frozen;
dx, dA, dB, and no gradient for W or b."""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake, close, formula, variants
from bpdrill.kinds import layer

ALPHA = 5.0  # the hidden layers' alpha: with rank 2, 3 or 4, alpha / rank is never 1


def _torch(torch, x, A, B, W, b):
    return x @ W + b + (ALPHA / A.shape[1]) * (x @ A) @ B


def _make(module, s):
    (d_in, d_out), rank = s["W"].shape, s["A"].shape[1]
    return module.LoRALinear(d_in, d_out, rank, ALPHA)


SPEC = layer.Layer("LoRALinear", _torch, params=("A", "B"), frozen=("W", "b"), make=_make)


def _draw(rng, n, d_in, d_out, rank):
    # B is not zero (a freshly initialised B is, and would hide any mistake in dA)
    return {"x": rng.normal(size=(n, d_in)), "A": rng.normal(size=(d_in, rank)) / np.sqrt(d_in),
            "B": rng.normal(size=(rank, d_out)), "W": rng.normal(size=(d_in, d_out)) / np.sqrt(d_in),
            "b": rng.normal(size=d_out), "dout": rng.normal(size=(n, d_out))}


def scenarios(rng):
    rank = int(rng.integers(2, 5))
    d_in, d_out = (int(v) for v in rng.permutation(range(rank + 1, 9))[:2])  # rank < in != out
    return layer.standard(SPEC, lambda r, n: _draw(r, n, d_in, d_out, rank), rng)


CHECKS = layer.checks(SPEC, "basic")


# ---- diagnosis: the gradients with one known mistake, recomputed on the same inputs ----------

def _grads(x, W, A, B, dout, scale_dA=1, scale_dB=1, scale_path=1, frozen_path=True, low_rank_path=True):
    """dx, dA, dB with alpha / rank raised to the given powers where it belongs (1: right)."""
    s = ALPHA / A.shape[1]
    dxA = dout @ B.T  # (N, rank), before the scaling
    dx = (dout @ W.T if frozen_path else 0.0) + (s ** scale_path * dxA @ A.T if low_rank_path else 0.0)
    return {"dx": dx, "dA": s ** scale_dA * x.T @ dxA, "dB": s ** scale_dB * (x @ A).T @ dout}


def _call(p):
    """(x, W, A, B, dout) of the call the check is about."""
    a = layer.call_arrays(SPEC, p)
    return a["x"], a["W"], a["A"], a["B"], a["dout"]


def _variant(evidence, **mistake):
    """A formula test for the gradients this mistake changes (the others it leaves right)."""
    def candidate(p):
        if p.label not in ("dx", "dA", "dB"):
            return None
        wrong = _grads(*_call(p), **mistake)[p.label]
        return None if close(wrong, _grads(*_call(p))[p.label]) else wrong
    return formula(evidence, candidate)


def _unscaled_everywhere(p):
    """dA, dB and dx all without alpha / rank; for dx only when this call's dA is wrong too
    (else dx alone lacks it: low_rank_path_unscaled_in_dx)."""
    if p.label == "dx":
        suffix = {"first": "", "second": "2", "new_forward": "3"}[p.check.call]
        dA, right = p.learner(p.scenario, f"dA{suffix}"), p.reference().get(f"dA{suffix}")
        if dA is None or right is None or close(dA, right):
            return None
    return _grads(*_call(p), scale_dA=0, scale_dB=0, scale_path=0).get(p.label)


MISTAKES = [
    Mistake("scaling_missing_in_backward", "alpha / rank is missing from the backward: {evidence}. "
            "forward multiplies the low-rank path by scaling = alpha / rank, so dA, dB and that path's "
            "share of dx carry it too",
            formula("got equals the gradient without the factor alpha / rank", _unscaled_everywhere)),
    *variants(_variant, {
        "scaling_applied_twice": ("alpha / rank was applied twice: {evidence}. Scale dout @ B.T once; dA = "
                                  "x.T @ that already carries the factor",
                                  "got equals the gradient with (alpha / rank)**2", {"scale_dA": 2}),
        "low_rank_path_unscaled_in_dx": ("dx's low-rank path lacks alpha / rank: {evidence}. dx = dout @ W.T "
                                         "+ scaling * (dout @ B.T) @ A.T",
                                         "got equals dout @ W.T + (dout @ B.T) @ A.T", {"scale_path": 0}),
        "dx_missing_low_rank_path": ("dx has only the frozen path: {evidence}. x also reaches the output "
                                     "through A and B: add scaling * (dout @ B.T) @ A.T",
                                     "got equals dout @ W.T", {"low_rank_path": False}),
        "dx_missing_frozen_path": ("dx has only the low-rank path: {evidence}. W is frozen, but the gradient "
                                   "still flows through it to x: add dout @ W.T",
                                   "got equals scaling * (dout @ B.T) @ A.T",
                                   {"frozen_path": False}),
    }),
]
