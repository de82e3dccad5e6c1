"""Hidden checks for lstm: one LSTM step (as torch.nn.LSTMCell, gates i, f, g, o);
dx, dh, dc, dWx, dWh, db."""
from __future__ import annotations

from itertools import permutations

import numpy as np

from bpdrill.core.diagnose import Mistake, close, formula, variants
from bpdrill.core.judge import Check, matches_reference
from bpdrill.core.protocol import Scenario
from bpdrill.kinds import layer

GRADS = ("dx", "dh", "dc", "dWx", "dWh", "db")
GATES = "ifgo"


def _torch_cell(torch, x, h, c, Wx, Wh, b):
    """torch.nn.LSTMCell run with weight_ih = Wx^T, weight_hh = Wh^T, bias_ih = b and bias_hh = 0
    (PyTorch adds the two biases), so that the gradients reach Wx, Wh and b."""
    cell = torch.nn.LSTMCell(Wx.shape[0], Wh.shape[0])
    weights = {"weight_ih": Wx.T, "weight_hh": Wh.T, "bias_ih": b, "bias_hh": torch.zeros_like(b)}
    return torch.func.functional_call(cell, weights, (x, (h, c)))


SPEC = layer.Layer("LSTMCell", _torch_cell, inputs=("x", "h", "c"), params=("Wx", "Wh", "b"),
                   outputs=("h_next", "c_next"), numgrad=("dx", "dWh", "dc"),
                   make=lambda module, s: module.LSTMCell(s["Wx"].shape[0], s["Wh"].shape[0]))


def _case(rng, n, d, h, calls=1, h_only=False):
    a = {"x": rng.normal(size=(n, d)), "h": rng.uniform(-1, 1, size=(n, h)), "c": rng.normal(size=(n, h)),
         "Wx": rng.normal(size=(d, 4 * h)) / np.sqrt(d), "Wh": rng.normal(size=(h, 4 * h)) / np.sqrt(h),
         "b": 0.5 * rng.normal(size=4 * h), "dh_next": rng.normal(size=(n, h)), "dc_next": rng.normal(size=(n, h))}
    if h_only:  # the last step of a sequence: only h_next reaches the loss
        a["dc_next"] = np.zeros((n, h))
    if calls > 1:
        a = layer.twice(a, {"dh_next": rng.normal(size=(n, h)), "dc_next": rng.normal(size=(n, h))},
                        {"x": rng.normal(size=(n, d)), "h": rng.uniform(-1, 1, size=(n, h)), "c": rng.normal(size=(n, h))},
                        {"dh_next": rng.normal(size=(n, h)), "dc_next": rng.normal(size=(n, h))})
    return a


def scenarios(rng) -> list[Scenario]:
    n, d, h = (int(v) for v in rng.permutation(range(2, 6))[:3])  # N, D, H all different
    basic = _case(rng, n, d, h)  # x, Wh, c perturbed: at most 20 + 80 + 20 elements
    basic = Scenario("basic", "backward", basic)
    return [
        basic, layer.perturb(basic, ("x", "Wh", "c")),
        Scenario("h_only", "backward", _case(rng, n, d, h, h_only=True)),
        Scenario("single", "backward", _case(rng, 1, d, h)),
        Scenario("twice", "backward", _case(rng, n, d, h, calls=3)),
    ]


CHECKS = layer.checks(SPEC, "basic", "{key} matches PyTorch (nn.LSTMCell, dh_next and dc_next both non-zero)",
                      single=None, extra=(
    Check("edge.h_only", "edge", GRADS, 1, "h_only", matches_reference(*GRADS),
          "dc_next = 0 (the last step of a sequence): only h_next reaches the loss"),
    Check("edge.single", "edge", GRADS, 1, "single", matches_reference(*GRADS), "batch of one")))


# ---- diagnosis: what this exercise's known mistakes would produce -----------------------

def _sigmoid(z):
    return 0.5 * (1 + np.tanh(0.5 * z))


def _grads(x, h, c, Wx, Wh, b, dh_next, dc_next, order=(0, 1, 2, 3), tanh_of="c_next", dc_through_f=True,
           h_path="right", use_dc_next=True, g_derivative="tanh") -> dict:
    """The six gradients with one known mistake switched on. order: the gate blocks stacked into
    da, as indices into (i, f, g, o)."""
    H = h.shape[1]
    a = x @ Wx + h @ Wh + b
    i, f, g, o = _sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), _sigmoid(a[:, 3 * H:])
    c_next = f * c + i * g
    tc = np.tanh(c_next if tanh_of == "c_next" else c)
    path = {"right": dh_next * o * (1 - tc ** 2), "none": 0.0, "no_tanh_derivative": dh_next * o}[h_path]
    dct = (dc_next if use_dc_next else 0.0) + path
    blocks = [dct * g * i * (1 - i), dct * c * f * (1 - f),
              dct * i * ((1 - g ** 2) if g_derivative == "tanh" else g * (1 - g)), dh_next * tc * o * (1 - o)]
    da = np.concatenate([blocks[k] for k in order], axis=1)
    return {"dx": da @ Wx.T, "dh": da @ Wh.T, "dc": dct * f if dc_through_f else dct,
            "dWx": x.T @ da, "dWh": h.T @ da, "db": da.sum(axis=0)}


def _call(p):
    """The inputs of the call the check is about, as _grads takes them."""
    a = layer.call_arrays(SPEC, p)
    return a["x"], a["h"], a["c"], a["Wx"], a["Wh"], a["b"], a["dh_next"], a["dc_next"]


def _variant(evidence, **mistake):
    return formula(evidence, lambda p: _grads(*_call(p), **mistake)[p.label] if p.label in GRADS else None)


def _gate_order(p):
    """The gate blocks of da stacked in another order than forward's i, f, g, o."""
    if p.got is None or p.label not in GRADS:
        return None
    inputs = _call(p)
    for order in permutations(range(4)):
        if order == (0, 1, 2, 3):
            continue
        wrong = _grads(*inputs, order=order)[p.label]
        if (p.expected is None or not close(p.expected, wrong)) and close(p.got, wrong):
            return {"order": ", ".join(GATES[k] for k in order)}
    return None


MISTAKES = [
    Mistake("gates_wrong_order", "the gate gradients were stacked in the order {order}, but forward "
            "split a into i, f, g, o (PyTorch's order): stack da in that order", _gate_order,
            at_code=r"concatenate|hstack|stack\("),
    *variants(_variant, {
        "tanh_of_old_cell": ("tanh was taken of the old cell c instead of the new one: {evidence}. h_next = "
                             "o * tanh(c_next): recompute tanh(c_next) from the new cell",
                             "got equals the gradients with tanh(c) in place of tanh(c_next)",
                             {"tanh_of": "c"}, r"tanh\("),
        "dc_missing_forget_gate": ("dc is missing the forget gate: {evidence}. c_next = f * c + i * g, so dc "
                                   "= dc_total * f",
                                   "got dc equals the gradient at c_next, not multiplied by f",
                                   {"dc_through_f": False}),
        "dc_missing_h_path": ("the gradient reaching c_next through h_next was forgotten: {evidence}. c_next "
                              "feeds the loss directly and through h_next = o * tanh(c_next): dc_total = "
                              "dc_next + dh_next * o * (1 - tanh(c_next)**2)",
                              "got equals the gradients with dc_total = dc_next", {"h_path": "none"}),
        "dc_missing_tanh_derivative": ("the path from h_next to c_next lacks the derivative of tanh: "
                                       "{evidence}. dc_total = dc_next + dh_next * o * (1 - tanh(c_next)**2)",
                                       "got equals the gradients with dc_total = dc_next + dh_next * o",
                                       {"h_path": "no_tanh_derivative"}),
        "dc_next_dropped": ("the incoming dc_next was ignored: {evidence}. c_next also feeds the next step "
                            "directly: dc_total = dc_next + dh_next * o * (1 - tanh(c_next)**2)",
                            "got equals the gradients for dc_next = 0", {"use_dc_next": False}),
        "g_derivative_as_sigmoid": ("the candidate g is a tanh, but its derivative was taken as a sigmoid's, "
                                    "g * (1 - g): {evidence}. Use 1 - g**2",
                                    "got equals the gradients with g * (1 - g) in place of 1 - g**2",
                                    {"g_derivative": "sigmoid"}),
    }),
]
