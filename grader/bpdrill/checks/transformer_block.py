"""Hidden checks for transformer_block: a pre-norm causal block whose sub-layers (given, with
their backward) the learner composes in TransformerBlock.backward. PyTorch float64 computes the
block; the mistakes are recognised by composing PyTorch's own vector-Jacobian products of the
sub-layers, at the forward's cached points, in each known wrong way."""
from __future__ import annotations

import math

import numpy as np

from bpdrill.core.diagnose import Mistake, close
from bpdrill.i18n import t
from bpdrill.kinds import layer

SUBLAYERS = {"ln1": ("gamma", "beta"), "attn": ("Wq", "Wk", "Wv", "Wo", "bq", "bv", "bo"),
             "ln2": ("gamma", "beta"), "fc1": ("W", "b"), "fc2": ("W", "b")}
# attn.bk is left out: it adds the same q . bk to every score of a row, which the softmax cancels,
# so its gradient is exactly 0 and what comes back is rounding noise (1e-16), nothing to judge.
PARAMS = tuple(f"{s}.{p}" for s, ps in SUBLAYERS.items() for p in ps)
HEAD_DIM = 4  # n_heads = D // 4: the scenario's D says how many heads


def _ln(torch, x, gamma, beta):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), gamma, beta, 1e-5)


def _attn(torch, x, Wq, Wk, Wv, Wo, bq, bv, bo):
    N, T, D = x.shape
    h = D // HEAD_DIM

    def split(a):
        return a.reshape(N, T, h, HEAD_DIM).transpose(1, 2)
    q, k, v = split(x @ Wq + bq), split(x @ Wk), split(x @ Wv + bv)
    scores = q @ k.transpose(-1, -2) / math.sqrt(HEAD_DIM)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    p = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return (p @ v).transpose(1, 2).reshape(N, T, D) @ Wo + bo


def _sub(torch, name, z, a):
    """Sub-layer `name` on input z, with its parameters from a (keys ln1_gamma, attn_Wq ...)."""
    ps = [a[f"{name}_{p}"] for p in SUBLAYERS.get(name, ())]
    if name in ("ln1", "ln2"):
        return _ln(torch, z, *ps)
    if name == "attn":
        return _attn(torch, z, *ps)
    if name == "act":
        return torch.nn.functional.gelu(z, approximate="tanh")
    return z @ ps[0] + ps[1]


def block(torch, x, **a):
    h = x + _sub(torch, "attn", _sub(torch, "ln1", x, a), a)
    return h + _sub(torch, "fc2", _sub(torch, "act", _sub(torch, "fc1", _sub(torch, "ln2", h, a), a), a), a)


SPEC = layer.Layer("TransformerBlock", block, params=PARAMS, batch="x",
                   make=lambda module, s: module.TransformerBlock(s["x"].shape[-1], s["x"].shape[-1] // HEAD_DIM,
                                                                  rng=np.random.default_rng(0)),
                   numgrad=("dx", "ln1_dgamma", "attn_dWq", "attn_dbv", "ln2_dbeta", "fc1_db", "fc2_db"))


def scenarios(rng) -> list:
    T, D = int(rng.integers(3, 6)), HEAD_DIM * int(rng.integers(2, 4))  # 2 or 3 heads, one size per run
    return layer.standard(SPEC, lambda rng, n: draw(rng, n, T, D), rng, n=int(rng.integers(2, 4)))


def draw(rng, n: int, T: int = 4, D: int = 8) -> dict:
    a = {"x": rng.normal(size=(n, T, D)), "dout": rng.normal(size=(n, T, D))}
    for s in ("ln1", "ln2"):  # gamma away from 1, beta away from 0: a dropped one shows
        a[f"{s}.gamma"] = rng.uniform(0.5, 1.5, size=D) * rng.choice([-1.0, 1.0], size=D)
        a[f"{s}.beta"] = 0.5 * rng.normal(size=D)
    for p in ("Wq", "Wk", "Wv", "Wo"):
        a[f"attn.{p}"] = rng.normal(size=(D, D)) / math.sqrt(D) * (2.0 if p in ("Wq", "Wk") else 1.0)
        if p != "Wk":
            a[f"attn.b{p[1]}"] = 0.3 * rng.normal(size=D)
    for s, (i, o) in (("fc1", (D, 4 * D)), ("fc2", (4 * D, D))):
        a[f"{s}.W"], a[f"{s}.b"] = rng.normal(size=(i, o)) / math.sqrt(i), 0.3 * rng.normal(size=o)
    return a


CHECKS = layer.checks(SPEC, "basic", "{key} matches PyTorch (a pre-norm causal block)")


# ---- diagnosis: the sub-layers' VJPs composed in each known wrong way ----------------------

ORDER = ("ln1", "attn", "ln2", "fc1", "act", "fc2")


def _compose(vjp, dout, mistake):
    """dx and every parameter's gradient of TransformerBlock.backward written with `mistake`."""
    grads = {}

    def back(name, d):
        din, pg = vjp(name, d)
        grads.update(pg)
        return din

    def mlp(d):
        d = back("fc2", d)
        d = d if mistake == "missing_activation_derivative" else back("act", d)
        return back("ln2", back("fc1", d))

    def attention(d):
        return back("ln1", back("attn", d))
    if mistake == "wrong_order":  # attention first, as if it came after the MLP
        dh = dout + attention(dout)
        return {"dx": dh + mlp(dh), **grads}
    branch = mlp(dout)
    dh = branch if mistake == "mlp_residual_dropped" else dout + branch
    branch = attention(dout if mistake == "attention_fed_dout" else dh)
    return {"dx": branch if mistake == "attention_residual_dropped" else dh + branch, **grads}


VARIANTS = ("mlp_residual_dropped", "attention_residual_dropped", "attention_fed_dout", "wrong_order",
            "missing_activation_derivative")


def reference(ref, s) -> dict:
    out = layer.reference(SPEC, ref, s)
    torch, a = ref.torch, s.arrays
    params = {p.replace(".", "_"): ref.leaf(a[p]) for p in PARAMS}
    points, z = {}, ref.leaf(a["x"])  # each sub-layer's input in the forward, as its own leaf
    for name in ORDER:
        if name == "ln2":
            z = ref.leaf(ref.numpy(points["ln1"][0]) + ref.numpy(points["attn"][1]))  # h
        z_in = ref.leaf(ref.numpy(z))
        points[name] = (z_in, _sub(torch, name, z_in, params))
        z = points[name][1]

    def vjp(name, d):
        z_in, y = points[name]
        ps = [params[f"{name}_{p}"] for p in SUBLAYERS.get(name, ())]
        got = torch.autograd.grad(y, [z_in, *ps], torch.as_tensor(d), retain_graph=True)
        return ref.numpy(got[0]), {f"{name}_d{p}": ref.numpy(g) for p, g in zip(SUBLAYERS.get(name, ()), got[1:])}
    for mistake in VARIANTS:
        out.update({f"{mistake}.{k}": v for k, v in _compose(vjp, a["dout"], mistake).items()})
    return out


def _composed(mistake: str, evidence: str):
    def test(p):
        if p.check.call != "first" or p.got is None:
            return None
        wrong = p.reference().get(f"{mistake}.{p.label}")
        if wrong is None or close(wrong, p.reference()[p.label]) or not close(p.got, wrong):
            return None
        return {"evidence": t(evidence, label=p.label)}
    return test


# the statement of TransformerBlock.backward that holds each mistake (the line to edit)
AT_CODE = {"mlp_residual_dropped": r"ln2\.backward", "attention_residual_dropped": r"ln1\.backward",
           "attention_fed_dout": r"attn\.backward", "wrong_order": r"attn\.backward",
           "missing_activation_derivative": r"fc1\.backward"}

MISTAKES = [Mistake(name, says, _composed(name, evidence), at_code=AT_CODE[name])
            for name, says, evidence in [
    ("mlp_residual_dropped", "the second residual's gradient is missing: {evidence}. h feeds both the MLP "
     "branch and out = h + ..., so dh = dout + ln2.backward(...)",
     "{label} matches dh = ln2.backward(...) without dout"),
    ("attention_residual_dropped", "the first residual's gradient is missing: {evidence}. x feeds both the "
     "attention branch and h = x + ..., so dx = dh + ln1.backward(...)",
     "{label} matches dx = ln1.backward(attn.backward(dh)) without dh"),
    ("attention_fed_dout", "the attention branch got dout instead of dh: {evidence}. h's gradient is dout "
     "plus what came back through ln2; attn.backward needs that sum",
     "{label} matches attn.backward(dout), with the MLP branch's gradient added to dx directly"),
    ("wrong_order", "the sub-layers were walked back in the wrong order: {evidence}. The MLP branch "
     "comes last in forward, so its backward comes first",
     "{label} matches the attention branch first, then the MLP branch"),
    ("missing_activation_derivative", "fc2's gradient skipped the GELU: {evidence}. Pass it through "
     "act.backward before fc1.backward", "{label} matches fc1.backward(fc2.backward(dout))"),
]]
