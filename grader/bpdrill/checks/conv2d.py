"""Hidden checks for conv2d: torch.nn.functional.conv2d (stride, zero padding); dx, dW, db."""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake, close, formula
from bpdrill.core.judge import Check, matches_reference
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t
from bpdrill.kinds import layer

SPEC = layer.Layer(
    "Conv2d", lambda torch, x, W, b, **conf: torch.nn.functional.conv2d(x, W, b, **conf),
    params=("W", "b"), options=("stride", "padding"), numgrad=("dx", "dW"), numgrad_points={"dx": 2},
    make=lambda module, s: module.Conv2d(s["W"].shape[1], s["W"].shape[0], s["W"].shape[2],
                                         stride=s.params["stride"], padding=s.params["padding"]))
GRADS = tuple(SPEC.grads)  # dx, dW, db


def _case(name, rng, n, c_in, c_out, h, w, k, stride, padding, calls=1) -> Scenario:
    """One layer's scenario: x, W, b, dout (and the later calls' inputs), stride and padding."""
    out = (n, c_out, (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1)
    a = {"x": rng.normal(size=(n, c_in, h, w)), "W": rng.normal(size=(c_out, c_in, k, k)),
         "b": rng.normal(size=c_out), "dout": rng.normal(size=out)}
    if calls > 1:
        a = layer.twice(a, {"dout": rng.normal(size=out)}, {"x": rng.normal(size=(n, c_in, h, w))},
                        {"dout": rng.normal(size=out)})
    return Scenario(name, "backward", a, {"stride": int(stride), "padding": int(padding)})


def scenarios(rng) -> list[Scenario]:
    # basic: stride 2, padding 1, a 3x3 kernel (larger than the stride: windows overlap), H != W,
    # and N, C_in, C_out all different; small enough to perturb x and W element by element (120 + 72).
    n, c_in, c_out = 3, 2, 4
    h, w = (int(v) for v in rng.permutation([4, 5]))
    basic = _case("basic", rng, n, c_in, c_out, h, w, 3, 2, 1)
    # plain: stride 1, padding 0 (p:-p would be empty), kernel 2 or 3 (> stride).
    pc_in, pc_out = (int(v) for v in rng.permutation(range(2, 5))[:2])
    ph, pw = (int(v) for v in rng.permutation(range(4, 8))[:2])
    plain = _case("plain", rng, 3, pc_in, pc_out, ph, pw, int(rng.integers(2, 4)), 1, 0)
    # single: a batch of one, kernel 4, stride 3, padding 1, H and W of 4 and 7: (H + 2 - 4) % 3 = 2,
    # so the last real row and column are in no window (their dx is 0).
    sc_in, sc_out = (int(v) for v in rng.permutation(range(2, 5))[:2])
    sh, sw = (int(v) for v in rng.permutation([4, 7]))
    single = _case("single", rng, 1, sc_in, sc_out, sh, sw, 4, 3, 1)
    twice = _case("twice", rng, 2, c_out, c_in, w, h, 3, 2, 1, calls=3)  # channels swapped
    return [basic, layer.perturb(basic, ("x", "W")), plain, single, twice]


CHECKS = layer.checks(SPEC, "basic", "{key} matches PyTorch (stride 2, padding 1, H != W)", single=None,
                      extra=(
    Check("edge.stride1", "edge", GRADS, 1, "plain", matches_reference(*GRADS),
          "stride 1, padding 0: dx, dW, db match PyTorch"),
    Check("edge.single", "edge", GRADS, 1, "single", matches_reference(*GRADS),
          "batch of one (kernel 4, stride 3, padding 1: the last row and column are in no window)")))


# ---- diagnosis: what this exercise's known mistakes would produce -----------------------

def _backward(x, W, dout, stride, padding, flip=False, step=None, assign=None):
    """dx, dW, db of the convolution, with one known mistake switched on. flip: dx from the kernel
    rotated by 180 degrees; step: the stride backward used (1 when it ignored forward's); assign:
    "offset" or "window", dx written with = instead of +=."""
    k, s, p = W.shape[2], stride, padding
    (H, Wd), (H_out, W_out) = x.shape[2:], dout.shape[2:]
    x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dx_pad, dW = np.zeros_like(x_pad), np.zeros_like(W)
    kernel = W[:, :, ::-1, ::-1] if flip else W
    q = s if step is None else step
    for di in range(k):
        for dj in range(k):
            rows, cols = slice(di, di + q * H_out, q), slice(dj, dj + q * W_out, q)
            dW[:, :, di, dj] = np.einsum("nohw,nchw->oc", dout, x_pad[:, :, rows, cols])
            term = np.einsum("nohw,oc->nchw", dout, kernel[:, :, di, dj])
            if assign == "offset":
                dx_pad[:, :, rows, cols] = term
            elif assign is None:
                dx_pad[:, :, rows, cols] += term
    if assign == "window":  # one output position at a time, each window assigned over the last
        for i in range(H_out):
            for j in range(W_out):
                window = np.tensordot(dout[:, :, i, j], W, axes=([1], [0]))
                dx_pad[:, :, i * s:i * s + k, j * s:j * s + k] = window
    return {"dx": dx_pad[:, :, p:p + H, p:p + Wd], "dW": dW, "db": dout.sum(axis=(0, 2, 3))}


def _variant(evidence: str, labels: tuple, **mistake):
    """A formula test: the checked gradient (one of labels) is what _backward gives with the mistake."""
    def candidate(p):
        if p.label not in labels:
            return None
        a = layer.call_arrays(SPEC, p)
        return _backward(a["x"], a["W"], a["dout"], a["stride"], a["padding"], **mistake)[p.label]
    return formula(evidence, candidate)


def _db_not_summed(p):
    g, e = p.got, p.expected
    if p.label != "db" or g is None or e is None or e.ndim != 1 or g.ndim < 2:
        return None
    for axis in (axis for axis in range(g.ndim) if g.shape[axis] == e.shape[0]):
        if close(g.sum(axis=tuple(i for i in range(g.ndim) if i != axis)), e):
            return {"evidence": t("db has shape {shape}, and summed over every axis but the "
                                  "channels it is right", shape=g.shape)}
    return None


def _not_cropped(p):
    g, e = p.got, p.expected
    pad = p.ev.params(p.scenario)["padding"]
    if p.label != "dx" or g is None or e is None or pad == 0 or g.ndim != 4 or e.ndim != 4:
        return None
    middle = g[:, :, pad:-pad, pad:-pad]  # pad > 0
    if middle.shape == e.shape and close(middle, e):
        return {"evidence": t("dx has shape {got}, the padded input's; its middle [p:p + H, p:p + W] "
                              "is right", got=g.shape)}
    return None


def _negative_crop(p):
    g, e = p.got, p.expected
    if p.label != "dx" or g is None or g.ndim != 4 or g.size != 0 or p.ev.params(p.scenario)["padding"] != 0 \
            or (e is not None and g.shape[:2] != e.shape[:2]):
        return None
    return {"evidence": t("dx has shape {got}: with padding 0 the slice p:-p is 0:0, which is empty",
                          got=g.shape)}


MISTAKES = [
    Mistake("db_not_summed_over_positions", "db was not summed over every position: {evidence}. "
            "b[o] is added at every (n, i, j), so db = dout.sum(axis=(0, 2, 3))", _db_not_summed),
    Mistake("dx_padding_not_cropped", "dx still has the padding on: {evidence}. Return "
            "dx_pad[:, :, p:p + H, p:p + W]", _not_cropped),
    Mistake("dx_cropped_with_negative_index", "the padding was cropped with p:-p: {evidence}. "
            "Use p:p + H and p:p + W, which also work for p = 0", _negative_crop),
    Mistake("stride_ignored_in_backward", "backward ignored the stride: {evidence}. Forward read "
            "x_pad at s*i + di; backward must read and write the same positions (slices with step s)",
            _variant("got equals the gradient of windows that start at every position (step 1), not at "
                     "every s-th", ("dx", "dW"), step=1)),
    # One output, two ways to write it: a loop that sends dout back through each offset with the
    # kernel flipped (no flip belongs there), or a full convolution of the padded dout with the
    # kernel not flipped (one belongs there). Both give the right dx of the rotated kernel.
    Mistake("dx_with_rotated_kernel", "dx was computed with the kernel rotated by 180 degrees: "
            "{evidence}. Sending dout back through each offset (di, dj) takes W[:, :, di, dj] as it is, "
            "with no flip; written as a full convolution of the padded dout, it is the kernel that "
            "needs the rotation, W[:, :, ::-1, ::-1]",
            _variant("got equals the right dx for the kernel W[:, :, ::-1, ::-1]", ("dx",), flip=True)),
    Mistake("dx_overwritten_not_added", "dx was assigned (=) where windows overlap: {evidence}. "
            "An input pixel under several windows gets the sum of their gradients: use +=",
            lambda p: _variant("got keeps only the last kernel offset's term at each input pixel", ("dx",),
                               assign="offset")(p)
            or _variant("got keeps only the last window's term at each input pixel", ("dx",),
                        assign="window")(p)),
]
