"""Hidden checks for maxpool2d: torch.nn.functional.max_pool2d, no padding; dx."""
from __future__ import annotations

import numpy as np

from bpdrill.core import compare
from bpdrill.core.diagnose import Mistake, in_backward
from bpdrill.core.judge import Check, ScenarioError, matches_reference
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t
from bpdrill.kinds import layer

# no batch mean anywhere: a constant factor is never a 1/N (batch=None)
SPEC = layer.Layer(
    "MaxPool2d", lambda torch, x, k, s: torch.nn.functional.max_pool2d(x, k, s),  # s None: the kernel size
    options=("k", "s"), numgrad_points=2, batch=None,
    make=lambda module, s: module.MaxPool2d(s.params["k"]) if s.params["s"] is None
    else module.MaxPool2d(s.params["k"], s.params["s"]))


def _distinct(rng, shape):
    """Values with no ties, at least 0.2 / size apart before scaling (numgrad moves them 1e-6)."""
    size = int(np.prod(shape))
    values = rng.permutation(size) + rng.uniform(0.1, 0.4, size=size)
    return ((values - values.mean()) / values.std()).reshape(shape)


def _out_size(n: int, k: int, s: int) -> int:
    return (n - k) // s + 1


def _shared_maxima(rng, x, k, s):
    """Make one element of every (n, c) plane the plane's maximum, on a row (even channels) or a
    column (odd channels) that two windows share: it is then the maximum of two windows or,
    where a shared row meets a shared column, of four. Needs s < k and two windows each way."""
    N, C, H, W = x.shape
    h_out, w_out = _out_size(H, k, s), _out_size(W, k, s)
    shared_rows = [r for r in range(H) if sum(s * i <= r < s * i + k for i in range(h_out)) >= 2]
    shared_cols = [c for c in range(W) if sum(s * j <= c < s * j + k for j in range(w_out)) >= 2]
    for n in range(N):
        for c in range(C):
            if c % 2 == 0:
                r, col = rng.choice(shared_rows), rng.integers(0, s * (w_out - 1) + k)
            else:
                r, col = rng.integers(0, s * (h_out - 1) + k), rng.choice(shared_cols)
            x[n, c, r, col] = x[n, c].max() + 1.0
    return x


def _inputs(rng, shape, k, s=None, shared=False):
    x = _distinct(rng, shape)
    if shared:
        x = _shared_maxima(rng, x, k, s)
    N, C, H, W = shape
    stride = k if s is None else s
    dout = rng.normal(size=(N, C, _out_size(H, k, stride), _out_size(W, k, stride)))
    return {"x": x, "dout": dout}


def _ties(rng, shape, k):
    """The output of a ReLU: about half the values exactly 0, so that many windows hold several
    equal maxima (every window of zeros does); one window in each plane holds a positive tie."""
    x = np.maximum(rng.normal(size=shape), 0.0)
    x[:, :, 0, 0] = x[:, :, 0, 1] = 1.0 + x.max()  # the first window: two equal maxima in its top row
    N, C, H, W = shape
    dout = rng.normal(size=(N, C, _out_size(H, k, k), _out_size(W, k, k)))
    return {"x": x, "dout": dout}


def scenarios(rng) -> list[Scenario]:
    h, w = (int(v) for v in rng.permutation(range(4, 8))[:2])  # H != W; not always a multiple of k
    ho, wo = (int(v) for v in rng.permutation(range(5, 8))[:2])  # 2 or 3 windows of 3 at stride 2
    hg, wg = (int(v) for v in rng.permutation(range(6, 10))[:2])
    first, later = _inputs(rng, (3, 3, h, w), 2), _inputs(rng, (3, 3, h, w), 2)
    twice = layer.twice(first, {"dout": rng.normal(size=first["dout"].shape)}, {"x": later["x"]},
                        {"dout": later["dout"]})
    overlap = Scenario("overlap", "backward", _inputs(rng, (2, 2, ho, wo), 3, 2, shared=True),
                       {"k": 3, "s": 2})
    return [
        Scenario("basic", "backward", _inputs(rng, (3, 3, h, w), 2), {"k": 2, "s": None}),
        Scenario("ties", "backward", _ties(rng, (4, 2, h, w), 2), {"k": 2, "s": None}),
        overlap, layer.perturb(overlap),
        Scenario("dense", "backward", _inputs(rng, (1, 2, w, h), 2, 1), {"k": 2, "s": 1}),
        Scenario("gap", "backward", _inputs(rng, (2, 2, hg, wg), 2, 3), {"k": 2, "s": 3}),
        Scenario("twice", "backward", twice, {"k": 2, "s": None}),
    ]


EDGES = (  # check id, scenario, title: dx matches PyTorch there
    ("edge.overlap", "overlap",
     "kernel 3, stride 2: the maximum of two overlapping windows gets both gradients"),
    ("edge.stride_one", "dense", "kernel 2, stride 1: every window overlaps its neighbours"),
    ("edge.ties", "ties", "tied maxima (the zeros after a ReLU): the gradient goes to the first, as PyTorch"),
    ("edge.stride_gap", "gap", "kernel 2, stride 3: gaps between windows get no gradient"))
CHECKS = layer.checks(SPEC, "basic", "dx matches PyTorch: kernel 2, default stride, H != W",
                      single=None, numgrad_scenario="overlap",
                      extra=tuple(Check(check_id, "edge", "dx", 1, scenario, matches_reference("dx"), title)
                                  for check_id, scenario, title in EDGES))


# ---- diagnosis: max-pool backward re-run in NumPy with one known mistake switched on -----------

def simulate(x, dout, k, s, mistake: str | None = None) -> np.ndarray:
    """dx of max pooling written with `mistake` (None: the right dx)."""
    N, C, h_out, w_out = dout.shape
    dx = np.zeros(x.shape)
    n, c = np.arange(N)[:, None], np.arange(C)[None, :]
    share = {"gradient_to_whole_window": 1.0, "gradient_averaged_over_window": 1.0 / (k * k)}.get(mistake)
    for i in range(h_out):
        for j in range(w_out):
            r, col, g = s * i, s * j, dout[:, :, i, j]  # where forward's window is, and its gradient
            if share is not None:  # every element of the window gets a share
                dx[:, :, r:r + k, col:col + k] += share * g[:, :, None, None]
                continue
            if mistake == "stride_ignored_in_backward":
                r, col = k * i, k * j
            window = x[:, :, r:r + k, col:col + k].reshape(N, C, k * k)
            if mistake == "gradient_to_every_tied_maximum":  # a mask window == window.max()
                mask = window == window.max(axis=2, keepdims=True)
                dx[:, :, r:r + k, col:col + k] += (mask * g[:, :, None]).reshape(N, C, k, k)
                continue
            di, dj = np.divmod(window.argmax(axis=2), k)
            if mistake == "max_position_transposed":
                di, dj = dj, di
            if mistake == "overlap_overwritten":
                dx[n, c, r + di, col + dj] = g
            else:
                dx[n, c, r + di, col + dj] += g
    return dx


def _simulated(mistake: str, evidence: str):
    def wrong(x, dout, k, s):
        if mistake == "stride_ignored_in_backward" and (k * dout.shape[2] > x.shape[2] or
                                                        k * dout.shape[3] > x.shape[3]):
            return None  # the learner's code would have run past the input: see _stride_crash
        return simulate(x, dout, k, k if s is None else s, mistake)
    return layer.rule(SPEC, "dx", evidence, wrong, args=("x", "dout", "k", "s"))


def _stride_crash(p):
    """With stride < kernel, windows placed at k * i run past the input and backward crashes,
    while with stride > kernel the same code's dx is exactly the stride-ignored one."""
    if not isinstance(p.failure, ScenarioError) or not in_backward(p.failure.error):
        return None
    params = p.ev.params(p.scenario)
    if params["s"] is None or params["s"] >= params["k"] or "gap" not in p.ev.scenarios:
        return None
    got, gap = p.learner("gap", "dx"), p.ev.scenarios["gap"]
    k, s = gap.params["k"], gap.params["s"]
    wrong, right = (simulate(gap.arrays["x"], gap.arrays["dout"], k, s, mistake)
                    for mistake in ("stride_ignored_in_backward", None))
    if got is None or got.shape != wrong.shape or np.allclose(wrong, right) \
            or not np.allclose(got, wrong, rtol=compare.RTOL, atol=compare.ATOL * np.abs(wrong).max()):
        return None
    return {"evidence": t("with stride {s} < kernel {k} backward crashed, and with stride {gap_s} > "
                          "kernel {gap_k} the gradients went to windows at k * i", s=params["s"],
                          k=params["k"], gap_s=s, gap_k=k)}


MISTAKES = [
    Mistake("gradient_to_every_tied_maximum", "where a window holds several equal maxima, each of "
            "them got the window's gradient: {evidence}. PyTorch sends it to one, the first in "
            "row-major order (argmax), and ties are common: the zeros after a ReLU",
            _simulated("gradient_to_every_tied_maximum", "dx equals a mask window == max(window) times dout"),
            at_code=r"argmax|==|mask|max\("),
    Mistake("gradient_to_whole_window", "every element of a window got the window's gradient: "
            "{evidence}. Only the maximum moved the output: send dout to the argmax alone",
            _simulated("gradient_to_whole_window", "dx equals dout spread over each whole window "
                       "(sum pooling)"),
            at_code=r"\+="),
    Mistake("gradient_averaged_over_window", "that is average pooling's backward: {evidence}. Max "
            "pooling sends each window's dout to its maximum alone",
            _simulated("gradient_averaged_over_window", "dx equals dout / (k * k) spread over each window"),
            at_code=r"\+="),
    Mistake("overlap_overwritten", "where windows overlap, an element that is the maximum of several "
            "windows kept only the last one's gradient: {evidence}. Add with +=, do not assign",
            _simulated("overlap_overwritten", "at a maximum shared by two windows, dx holds one "
                       "window's dout instead of the sum")),
    Mistake("max_position_transposed", "the gradient went to the mirror of the maximum across the "
            "window's diagonal: {evidence}. np.divmod(argmax, k) gives (row, column) in that order",
            _simulated("max_position_transposed", "dx matches the argmax unravelled as (column, row)"),
            at_code=r"divmod|//|%"),
    Mistake("stride_ignored_in_backward", "backward places window (i, j) at (k * i, k * j), as if the "
            "stride were the kernel size: {evidence}. Use the window forward used: (s * i, s * j)",
            lambda p: _simulated("stride_ignored_in_backward", "dx matches windows placed at k * i "
                                 "instead of stride * i")(p)
            or _stride_crash(p), at_code=r"[ij]\s*\*\s*\w+|\w+\s*\*\s*[ij]\b"),
]
