"""Hidden checks for skipgram: word2vec's negative-sampling loss -log sigmoid(U[o] . v_c) -
sum_k log sigmoid(-U[neg_k] . v_c); (dv_c, dU). Repeated negatives and a negative equal to o each
have a check of their own; o reaches the learner's forward as a Python int."""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake, formula
from bpdrill.core.protocol import Scenario
from bpdrill.kinds import loss


def _torch(torch, v_c, U, o, negatives):
    logsigmoid = torch.nn.functional.logsigmoid
    return -logsigmoid(U[o] @ v_c) - logsigmoid(-(U[negatives] @ v_c)).sum()


class _IntO:
    """The learner's object, handed o as a Python int (the scenario holds it as a 0-d array)."""

    def __init__(self, obj):
        self.obj = obj

    def forward(self, v_c, U, o, negatives):
        return self.obj.forward(v_c, U, int(o), negatives)

    def backward(self, *dout):
        return self.obj.backward(*dout)


SPEC = loss.Loss("SkipGramNegSampling", _torch, inputs=("v_c", "U"), fixed=("o", "negatives"),
                 returns=("dv_c", "dU"), make=lambda module, s: _IntO(module.SkipGramNegSampling()))


def _draw(rng, v, d, k, repeats=False, with_o=False):
    """v_c (D,), U (V, D), o and K negatives: distinct and other than o unless asked."""
    o = int(rng.integers(v))
    others = rng.permutation([w for w in range(v) if w != o])
    negatives = others[:k].copy()
    if repeats:  # one word drawn three times, another twice
        negatives[1:3], negatives[4:5] = negatives[0], negatives[3]
    if with_o:
        negatives[-1] = o
    return {"v_c": rng.normal(size=d), "U": rng.normal(size=(v, d)), "o": np.array(o, dtype=np.int64),
            "negatives": rng.permutation(negatives).astype(np.int64)}


def scenarios(rng) -> list[Scenario]:
    v, d, k = int(rng.integers(9, 13)), int(rng.integers(3, 6)), int(rng.integers(5, 8))
    douts = [float(rng.uniform(1.25, 2.5) * rng.choice([-1, 1])) for _ in range(7)]
    basic = Scenario("basic", "backward", _draw(rng, v, d, k, True, True), {"dout": douts[0]})
    first, later = _draw(rng, v, d, k), _draw(rng, v, d, k, True, True)
    new = {name: later[name] for name in ("v_c", "U", "o", "negatives")}
    return [basic, loss.perturb(basic),
            Scenario("distinct", "backward", _draw(rng, v, d, k), {"dout": douts[1]}),
            Scenario("repeated", "backward", _draw(rng, v, d, k, repeats=True), {"dout": douts[2]}),
            Scenario("negative_is_o", "backward", _draw(rng, v, d, k, with_o=True), {"dout": douts[3]}),
            Scenario("default", "backward", _draw(rng, v, d, k, True, True), {}),
            Scenario("twice", "backward", loss.twice(first, {}, new, {}),
                     {"dout": douts[4], "dout2": douts[5], "dout3": douts[6]})]


CHECKS = [
    *loss.checks(SPEC, "distinct", "{key} and the loss match PyTorch (K distinct negatives)", single=None),
    loss.edge_check(SPEC, "edge.repeated_negatives", "repeated", "a negative drawn several times: its rows of dU add up"),
    loss.edge_check(SPEC, "edge.negative_is_o", "negative_is_o", "a negative equal to o: both terms add to U[o]'s row"),
    loss.default_dout_check(SPEC),
]


# ---- diagnosis ----------------------------------------------------------------------------

def _sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -x))


def _grads(p, o_sign=1.0, o_sign_dv=1.0, swap=(False, False), negatives="add", o_last=False, dv_negatives=True):
    """What (dv_c, dU) a variant of the rule gives on the call the check is about: o_sign on
    U[o]'s row (o_sign_dv on the true word's term of dv_c), sigmoid's argument negated in the (positive, negative) terms, the negatives'
    rows written by add.at ('add'), by dU[neg] += ('fancy_add') or dU[neg] = ('assign'),
    U[o]'s row assigned after them (o_last), dv_c without the negatives' terms."""
    (suffix, dout), a = loss.call(p), p.inputs
    v, U = a[f"v_c{suffix}"], a[f"U{suffix}"]
    o, neg = int(a[f"o{suffix}"]), a[f"negatives{suffix}"].astype(int)
    x_o, x_neg = U[o] @ v, U[neg] @ v
    g_o = _sigmoid(-x_o) - 1 if swap[0] else _sigmoid(x_o) - 1
    g_neg = _sigmoid(-x_neg) if swap[1] else _sigmoid(x_neg)
    dv = o_sign_dv * g_o * U[o] + (g_neg @ U[neg] if dv_negatives else 0.0)
    dU = np.zeros_like(U)
    if not o_last:
        dU[o] += o_sign * g_o * v
    if negatives == "add":
        np.add.at(dU, neg, g_neg[:, None] * v)
    elif negatives == "fancy_add":
        dU[neg] += g_neg[:, None] * v
    else:
        dU[neg] = g_neg[:, None] * v
    if o_last:
        dU[o] = o_sign * g_o * v
    return {"dv_c": dout * dv, "dU": dout * dU}.get(p.label)


def _rule(evidence, *variants, when=lambda negatives: True):
    """formula() for any of the variants (keyword dicts of _grads), on calls whose negatives
    pass when(negatives)."""
    tests = [formula(evidence, lambda p, kw=kw: _grads(p, **kw)) for kw in variants]
    return lambda p: when(_negatives(p)) and next((found for test in tests if (found := test(p))), None) or None


def _negatives(p) -> np.ndarray:
    return p.inputs["negatives3" if p.check.call == "new_forward" else "negatives"].astype(int)


def _repeats(negatives) -> bool:
    return len(set(negatives.tolist())) < len(negatives)


MISTAKES = [
    Mistake("o_row_sign", "the true word's term has the wrong sign: {evidence}. d(-log sigmoid(x))/dx = "
            "sigmoid(x) - 1, which is negative: dU[o] = (sigmoid(U[o] . v_c) - 1) v_c, and the same "
            "coefficient times U[o] in dv_c",
            _rule("its coefficient is 1 - sigmoid(U[o] . v_c)",
                  {"o_sign": -1.0}, {"o_sign": -1.0, "o_sign_dv": -1.0}),
            at_code=r"1(\.0)?\s*-\s*(self\.)?s_o|\[\s*(self\.)?o\s*\]\s*[+-]?="),
    Mistake("repeated_negatives_overwritten", "a negative drawn several times counted once: "
            "{evidence}. dU[negatives] += ... (or =) with fancy indexing keeps one write per row; "
            "use np.add.at(dU, negatives, ...)",
            _rule("dU[negatives] += ... (or =): one term per distinct word",
                  {"negatives": "fancy_add"}, {"negatives": "assign"}, {"negatives": "assign", "o_last": True},
                  when=_repeats),
            at_code=r"\[\s*(self\.)?negatives\s*\]\s*\+?="),
    Mistake("o_row_overwritten", "a negative equal to o lost one of its two terms in U[o]'s row: "
            "{evidence}. Both belong in that row: add (+=, np.add.at), do not assign",
            lambda p: _rule("dU[o] = ... after the negatives' rows", {"o_last": True})(p) or _rule(
                "dU[negatives] = ... after U[o]'s row",
                {"negatives": "assign"}, when=lambda negatives: not _repeats(negatives))(p),
            at_code=r"\[\s*(self\.)?o\s*\]\s*=|\[\s*(self\.)?negatives\s*\]\s*="),
    Mistake("dv_c_missing_negatives", "dv_c has only the true word's term: {evidence}. Every "
            "negative adds sigmoid(U[neg_k] . v_c) U[neg_k]",
            _rule("dv_c = (sigmoid(U[o] . v_c) - 1) U[o]", {"dv_negatives": False}),
            at_code=r"\bdv(_c)?\s*\+?="),
    Mistake("sigmoid_argument_swapped", "sigmoid(x) and sigmoid(-x) were swapped: {evidence}. "
            "d(-log sigmoid(x))/dx = sigmoid(x) - 1 and d(-log sigmoid(-x))/dx = sigmoid(x)",
            _rule("got uses sigmoid(-x) where sigmoid(x) belongs",
                  {"swap": (True, True)}, {"swap": (True, False)}, {"swap": (False, True)}),
            at_code=r"1(\.0)?\s*-\s*(self\.)?s_|sigmoid\(\s*-"),
]
