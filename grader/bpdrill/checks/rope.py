"""Hidden checks for rope: each pair (x[..., 2i], x[..., 2i + 1]) rotated by pos * base**(-2i/d); dx.

Positions are hidden inputs that do not start at 0 and are not consecutive (a new forward
brings new ones); one scenario has positions 0 .. T - 1, where a backward that assumed them
is right, and one an offset run of consecutive positions, as a cache of earlier tokens gives.
The reference is PyTorch's complex multiplication x * exp(i angle), independent of the pairs'
real arithmetic."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from bpdrill.core.diagnose import formula, variants
from bpdrill.core.judge import Check, matches_reference
from bpdrill.core.protocol import Scenario
from bpdrill.kinds import layer


def _torch(torch, x, positions, base):
    d = x.shape[-1]
    theta = base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    angle = positions.to(torch.float64)[:, None] * theta  # (T, d/2)
    pairs = torch.view_as_complex(x.reshape(*x.shape[:-1], d // 2, 2))  # (N, T, h, d/2)
    rotated = pairs * torch.polar(torch.ones_like(angle), angle)[:, None, :]
    return torch.view_as_real(rotated).reshape(x.shape)


SPEC = layer.Layer("RoPE", _torch, fixed=("positions",), options=("base",),
                   make=lambda module, s: module.RoPE(s["x"].shape[-1], base=s.params["base"]))


def _positions(rng, t):
    """T distinct positions in increasing order, none of them 0, with gaps."""
    return np.sort(rng.choice(np.arange(1, 3000), size=t, replace=False)).astype(np.int64)


def _draw(rng, n, t, h, d, positions=None):
    return {"x": rng.normal(size=(n, t, h, d)), "dout": rng.normal(size=(n, t, h, d)),
            "positions": _positions(rng, t) if positions is None else positions}


def scenarios(rng) -> list[Scenario]:
    t, h, d = int(rng.integers(3, 6)), int(rng.integers(1, 3)), int(rng.choice([4, 6, 8]))
    found = layer.standard(SPEC, lambda rng, n: _draw(rng, n, t, h, d), rng, int(rng.integers(2, 4)))
    start, default = int(rng.integers(100, 2000)), {"base": 10000.0}
    return [*(replace(s, params={**s.params, **default}) for s in found),
            Scenario("from_zero", "backward", _draw(rng, 2, t, h, d, np.arange(t)), default),
            Scenario("offset", "backward", _draw(rng, 2, t, h, d, np.arange(start, start + t)), default),
            Scenario("base", "backward", _draw(rng, 2, t + 1, 2, d + 2), {"base": 100.0})]


CHECKS = layer.checks(SPEC, "basic", "dx matches PyTorch (positions with gaps, not from 0)", extra=(
    Check("edge.from_zero", "edge", "dx", 1, "from_zero", matches_reference("dx"), "positions 0 .. T - 1"),
    Check("edge.offset", "edge", "dx", 1, "offset", matches_reference("dx"),
          "consecutive positions after a cache of earlier tokens"),
    Check("edge.base", "edge", "dx", 1, "base", matches_reference("dx"), "another base (100) and head size")))


# ---- diagnosis: what this exercise's known mistakes would produce -----------------------

def _dx(a, base, sign=-1, halves=False, arange=False, exponent=2, cross=True):
    """dx with one known mistake switched on: sign +1 rotates forward again; halves pairs i
    with i + d/2; arange takes positions 0 .. T - 1; exponent 1: base ** (-i / d)."""
    dout = a["dout"]
    d, t = dout.shape[-1], dout.shape[1]
    pos = np.arange(t) if arange else np.asarray(a["positions"])
    angle = pos.astype(np.float64)[:, None] * base ** (-exponent * np.arange(d // 2) / d)
    cos, sin = np.cos(angle)[:, None, :], -sign * np.sin(angle)[:, None, :]  # sin of the backward angle
    first, second = (slice(0, d // 2), slice(d // 2, d)) if halves else (slice(0, d, 2), slice(1, d, 2))
    dx = np.empty_like(dout)
    dx[..., first] = dout[..., first] * cos + (dout[..., second] * sin if cross else 0)
    dx[..., second] = dout[..., second] * cos - (dout[..., first] * sin if cross else 0)
    return dx


def _variant(evidence, **mistake):
    def candidate(p):
        if p.label != "dx":
            return None
        return _dx(layer.call_arrays(SPEC, p), p.ev.params(p.scenario)["base"], **mistake)
    return formula(evidence, candidate)


MISTAKES = variants(_variant, {
    "rotation_not_inverted": ("backward rotated dout by +angle, as forward does: {evidence}. A rotation's "
                              "Jacobian transposed is the rotation by -angle: dx_even = de cos + do sin, "
                              "dx_odd = -de sin + do cos", "got equals dout rotated by the forward's angle",
                              {"sign": 1}),
    "rotate_half_convention": ("the pairs were taken as halves (i, i + d/2), the rotate-half convention: "
                               "{evidence}. Here the pairs are interleaved: (2i, 2i + 1), x[..., 0::2] and "
                               "x[..., 1::2]", "got equals the rotate-half backward", {"halves": True}),
    "positions_assumed_arange": ("backward took the positions as 0 .. T - 1: {evidence}. Use the positions "
                                 "forward was given (cached): they need not start at 0 nor be consecutive",
                                 "got equals the gradient for positions 0 .. T - 1", {"arange": True}),
    "frequency_exponent_wrong": ("the frequencies were base ** (-i / d) with i the pair's index: {evidence}. "
                                 "Pair i turns at base ** (-2i / d): np.arange(0, d, 2) / d",
                                 "got equals the gradient with base ** (-i / d)", {"exponent": 1}),
    "rotation_cross_term_missing": ("dx multiplies dout by cos alone: {evidence}. Each input of a pair "
                                    "reaches both outputs of the pair, so the sin terms of the other output "
                                    "come back too", "got equals dout * cos", {"cross": False}),
})
