"""Hidden checks for gru: one GRU step as torch.nn.GRUCell (gates r, z, n; weight_ih = Wx.T,
weight_hh = Wh.T, bias_ih = bx, bias_hh = bh); dx, dh, dWx, dWh, dbx, dbh."""
from __future__ import annotations

from itertools import permutations

import numpy as np

from bpdrill.core.diagnose import Mistake, close, formula, variants
from bpdrill.kinds import layer

GRADS = ("dx", "dh", "dWx", "dWh", "dbx", "dbh")
GATES = "rzn"


def _torch(torch, x, h, Wx, Wh, bx, bh):
    return torch.gru_cell(x, h, Wx.T, Wh.T, bx, bh)  # nn.GRUCell's own kernel, on the leaves


def _make(module, s):
    return module.GRUCell(s["Wx"].shape[0], s["Wh"].shape[0])


SPEC = layer.Layer("GRUCell", _torch, inputs=("x", "h"), params=("Wx", "Wh", "bx", "bh"),
                   outputs=("h_next",), make=_make)


def _draw(rng, n, d, hidden):
    # two different biases, both far from zero: a missing bh_n or a bh treated as bx shows
    return {"x": rng.normal(size=(n, d)), "h": rng.uniform(-1, 1, size=(n, hidden)),
            "Wx": rng.normal(size=(d, 3 * hidden)) / np.sqrt(d),
            "Wh": rng.normal(size=(hidden, 3 * hidden)) / np.sqrt(hidden),
            "bx": 0.5 * rng.normal(size=3 * hidden), "bh": rng.choice([-1.0, 1.0], size=3 * hidden)
            * rng.uniform(0.3, 1.0, size=3 * hidden), "dh_next": rng.normal(size=(n, hidden))}


def scenarios(rng):
    n, d, hidden = (int(v) for v in rng.permutation(range(2, 6))[:3])  # N, D, H all different
    return layer.standard(SPEC, lambda r, k: _draw(r, k, d, hidden), rng, n)


CHECKS = layer.checks(SPEC, "basic", "{key} matches PyTorch (torch.nn.GRUCell)")


# ---- diagnosis: the six gradients with one known mistake, recomputed on the same inputs -------

def _sigmoid(a):
    return 0.5 * (1 + np.tanh(0.5 * a))


def _grads(x, h, Wx, Wh, bx, bh, dh_next, order=(0, 1, 2), convention_swapped=False, dz_sign=1.0,
           direct=True, bh_n_in_dr=True, r_on_hidden="all", n_derivative="tanh") -> dict:
    """The gradients with one mistake switched on. order: the gate blocks stacked, as indices
    into (r, z, n); r_on_hidden: where the hidden n block is scaled by r (all, none, weights)."""
    H = h.shape[1]
    gx, gh = x @ Wx + bx, h @ Wh + bh
    r, z = _sigmoid(gx[:, :H] + gh[:, :H]), _sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
    n = np.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
    if convention_swapped:  # h_next = z * n + (1 - z) * h
        dn, dz, dh = dh_next * z, dh_next * (n - h), dh_next * (1 - z)
    else:
        dn, dz, dh = dh_next * (1 - z), dz_sign * dh_next * (h - n), dh_next * z
    da_n = dn * ((1 - n ** 2) if n_derivative == "tanh" else n * (1 - n))
    da_r = da_n * (gh[:, 2 * H:] if bh_n_in_dr else gh[:, 2 * H:] - bh[2 * H:]) * r * (1 - r)
    da_z = dz * z * (1 - z)

    def stack(blocks):
        return np.concatenate([blocks[k] for k in order], axis=1)
    dgx, dgh, unscaled = stack([da_r, da_z, da_n]), stack([da_r, da_z, da_n * r]), stack([da_r, da_z, da_n])
    weights = unscaled if r_on_hidden == "none" else dgh
    return {"dx": dgx @ Wx.T, "dh": (dh if direct else 0.0) + weights @ Wh.T, "dWx": x.T @ dgx,
            "dWh": h.T @ weights, "dbx": dgx.sum(axis=0), "dbh": (dgh if r_on_hidden == "all" else unscaled).sum(axis=0)}


def _call(p):
    """The inputs of the call the check is about, as _grads takes them."""
    a = layer.call_arrays(SPEC, p)
    return a["x"], a["h"], a["Wx"], a["Wh"], a["bx"], a["bh"], a["dh_next"]


def _wrong(p, **mistake):
    """What the mistake gives for the checked gradient, or None where it changes nothing there."""
    if p.label not in GRADS:
        return None
    inputs = _call(p)
    wrong = _grads(*inputs, **mistake)[p.label]
    return None if close(wrong, _grads(*inputs)[p.label]) else wrong


def _variant(evidence, **mistake):
    return formula(evidence, lambda p: _wrong(p, **mistake))


def _bias_only(p):
    """dbh's n block without r while dWh has it: only the bias was treated as bx (else the
    whole hidden n block lacks r: hidden_n_missing_reset)."""
    suffix = {"first": "", "second": "2", "new_forward": "3"}[p.check.call]
    dWh, right = p.learner(p.scenario, f"dWh{suffix}"), p.reference().get(f"dWh{suffix}")
    if p.label != "dbh" or dWh is None or right is None or not close(dWh, right):
        return None
    return _wrong(p, r_on_hidden="weights")


def _gate_order(p):
    """The gate blocks stacked in another order than forward's r, z, n."""
    if p.got is None:
        return None
    for order in permutations(range(3)):
        wrong = _wrong(p, order=order) if order != (0, 1, 2) else None
        if wrong is not None and (p.expected is None or not close(p.expected, wrong)) and close(p.got, wrong):
            return {"order": ", ".join(GATES[k] for k in order)}
    return None


MISTAKES = [
    Mistake("gates_wrong_order", "the gate gradients were stacked in the order {order}, but forward "
            "split the pre-activations into r, z, n (PyTorch's order): stack them in that order", _gate_order),
    *variants(_variant, {
        "update_gate_convention_swapped": ("z and 1 - z were swapped: {evidence}. Here h_next = (1 - z) * n "
                                           "+ z * h (PyTorch's convention): dn = dh_next * (1 - z), the "
                                           "direct dh = dh_next * z, dz = dh_next * (h - n)",
                                           "got equals the gradients of h_next = z * n + (1 - z) * h",
                                           {"convention_swapped": True}),
        "dz_sign_flipped": ("dz has the wrong sign: {evidence}. d h_next / dz = h - n, not n - h",
                            "got equals the gradients with dz = dh_next * (n - h)", {"dz_sign": -1.0}),
        "dh_missing_direct_path": ("dh lacks the direct path: {evidence}. h reaches h_next through z * h as "
                                   "well as through the gates: dh = dh_next * z + dgh @ Wh.T",
                                   "got dh equals dgh @ Wh.T alone", {"direct": False}),
        "n_derivative_as_sigmoid": ("the candidate n is a tanh, but its derivative was taken as a sigmoid's, "
                                    "n * (1 - n): {evidence}. Use 1 - n**2",
                                    "got equals the gradients with n * (1 - n) in place of 1 - n**2",
                                    {"n_derivative": "sigmoid"}),
        "reset_gate_missing_bh_n": ("dr was taken from h @ Wh_n alone, without its bias: {evidence}. r "
                                    "scales h @ Wh_n + bh_n, so dr = da_n * (h @ Wh_n + bh_n)",
                                    "got equals the gradients with dr = da_n * (h @ Wh_n)",
                                    {"bh_n_in_dr": False}),
    }),
    Mistake("dbh_n_missing_reset", "dbh's n block was not multiplied by r: {evidence}. bh_n sits inside "
            "r * (h Wh_n + bh_n), unlike bx_n: dbh = dgh.sum(axis=0) with dgh's n block da_n * r",
            formula("got dbh equals dbx", _bias_only)),
    *variants(_variant, {
        "hidden_n_missing_reset": ("the hidden state's n block was not multiplied by r: {evidence}. n = "
                                   "tanh(x Wx_n + bx_n + r * (h Wh_n + bh_n)), so the gradient reaching h @ "
                                   "Wh_n + bh_n is da_n * r",
                                   "got equals the gradients with dgh's n block = da_n",
                                   {"r_on_hidden": "none"}),
    }),
]
