"""Hidden checks for embedding: out = W[idx] for an int array idx of any shape; dW."""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake, close, formula
from bpdrill.core.judge import Check, Failed, matches_reference
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t
from bpdrill.kinds import layer

# no batch mean anywhere: a constant factor is never a 1/N (batch=None); backward returns None
SPEC = layer.Layer("Embedding", lambda torch, idx, W: torch.nn.functional.embedding(idx, W),
                   inputs=(), fixed=("idx",), params=("W",), returns=(), numgrad_points=2, batch=None,
                   make=lambda module, s: module.Embedding(*s["W"].shape))


def _indices(rng, v, shape):
    """Indices in [0, V) of the given shape with at least one row looked up twice (then three
    times), in every seed: repeated indices are where dW[idx] += dout goes wrong."""
    idx = rng.integers(0, v, size=shape).reshape(-1)
    spots = rng.permutation(idx.size)
    if idx.size >= 2:
        idx[spots[1]] = idx[spots[0]]
    if idx.size >= 4:
        idx[spots[2]] = idx[spots[0]]
    return idx.reshape(shape).astype(np.int64)


def _inputs(rng, v, d, shape):
    return {"W": rng.normal(size=(v, d)), "idx": _indices(rng, v, shape),
            "dout": rng.normal(size=tuple(shape) + (d,))}


def scenarios(rng) -> list[Scenario]:
    v, d, n = (int(s) for s in rng.permutation(range(3, 9))[:3])  # V != D != N: dW.T and dout show
    b, t_ = (int(s) for s in rng.permutation(range(2, 6))[:2])
    basic = Scenario("basic", "backward", _inputs(rng, v, d, (n,)))
    twice = layer.twice(_inputs(rng, v, d, (n,)), {"dout": rng.normal(size=(n, d))},
                        {"idx": _indices(rng, v, (n,))}, {"dout": rng.normal(size=(n, d))})
    same = _inputs(rng, v, d, (n,))
    same["idx"] = np.full(n, rng.integers(0, v), dtype=np.int64)
    return [
        basic, layer.perturb(basic),
        Scenario("grid", "backward", _inputs(rng, v, d, (b, t_))),
        Scenario("same", "backward", same),
        Scenario("scalar", "backward", _inputs(rng, v, d, ())),
        Scenario("twice", "backward", twice),
    ]


def returns_none(ev, check: Check) -> None:
    v = ev.value(check.scenario, "returned")
    if v.kind != "none":
        raise Failed(t("backward returned {got}; it should return None (there is no gradient for "
                       "integer indices) and store the gradient in self.dW", got=v.describe()))


CHECKS = layer.checks(SPEC, "grid", "dW matches PyTorch for a 2-D index array (B, T)", single=None, extra=(
    Check("edge.repeated", "edge", "dW", 1, "same", matches_reference("dW"),
          "every position looks up the same row: its gradients add up"),
    Check("edge.scalar_index", "edge", "dW", 1, "scalar", matches_reference("dW"),
          "a single index (a 0-d array): out has shape (D,)"),
    Check("edge.returns_none", "edge", None, 1, "basic", returns_none,
          "backward returns None and sets self.dW")))


# ---- diagnosis: the known mistakes, recomputed in NumPy on the same inputs -------------------

def _scatter(v, idx, dout):
    """The right dW: dout's rows added into the rows idx of a (V, D) zero table."""
    dW = np.zeros((v, dout.shape[-1]))
    np.add.at(dW, idx.reshape(-1), dout.reshape(-1, dout.shape[-1]))
    return dW


def _call(p):
    """(V, idx, dout) of the call the check is about."""
    a = layer.call_arrays(SPEC, p)
    return a["W"].shape[0], a["idx"], a["dout"]


def _buffered(v, idx, dout):
    """dW[idx] += dout on a zero table: one write per repeated row, the last one."""
    dW = np.zeros((v, dout.shape[-1]))
    dW[idx.reshape(-1)] += dout.reshape(-1, dout.shape[-1])
    return dW


def _averaged(v, idx, dout):
    counts = np.bincount(idx.reshape(-1), minlength=v)
    return _scatter(v, idx, dout) / np.maximum(counts, 1)[:, None]


def _is_dout(p):
    """dW holds dout itself, shaped like the output (..., D), not like the table (V, D)."""
    dout = _call(p)[2]
    if p.got is None or p.got.shape != dout.shape:
        return None
    if close(p.got, dout):
        return {"evidence": t("dW has the shape of out, {shape}, and equals dout", shape=dout.shape)}
    return None


def _rule(evidence: str, rule):
    return formula(evidence, lambda p: rule(*_call(p)) if p.label == "dW" else None)


MISTAKES = [
    Mistake("fancy_index_add_loses_repeats", "dW[idx] += dout writes each repeated row once, so "
            "repeated indices do not add up: {evidence}. Use np.add.at(dW, idx, dout)",
            _rule("each row looked up several times holds one position's dout, not their sum", _buffered)),
    Mistake("repeats_averaged", "rows of repeated indices were averaged: {evidence}. Each lookup "
            "adds its own dout: sum them, do not divide by the count",
            _rule("each row equals the sum of its dout rows divided by how often it was looked up",
                  _averaged)),
    Mistake("grad_is_dout", "dW was set to dout itself: {evidence}. dW has the shape of W (V, D): "
            "start from zeros and add each row of dout into the row its index picked", _is_dout),
]
