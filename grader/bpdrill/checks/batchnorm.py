"""Hidden checks for batchnorm: torch.nn.BatchNorm1d, training and eval mode; dx, dgamma, dbeta."""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake, close, formula
from bpdrill.core.driving import raised, snapshot
from bpdrill.core.judge import Check, Failed, matches_reference
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t
from bpdrill.kinds import layer

EPS, MOMENTUM = 1e-5, 0.1  # BatchNorm1d's defaults: the hidden layers are built with them
RUNNING = ("running_mean", "running_var")  # what a training-mode forward updates
SPEC = layer.Layer(
    "BatchNorm1d", lambda torch, x, gamma, beta: torch.nn.functional.batch_norm(
        x, None, None, gamma, beta, training=True, momentum=MOMENTUM, eps=EPS),
    params=("gamma", "beta"), make=lambda module, s: module.BatchNorm1d(s["gamma"].shape[0]),
    numgrad_points={"dx": 2}, state=RUNNING)
GRADS = tuple(SPEC.grads)  # dx, dgamma, dbeta


def _x(rng, n, d):
    """A batch whose features have their own means and spreads (the running stats then move)."""
    return rng.normal(size=d) + rng.uniform(0.5, 2.0, size=d) * rng.normal(size=(n, d))


def _inputs(rng, n, d):
    # gamma never all ones and never near zero: dx_hat = dout * gamma must show
    gamma = rng.uniform(0.5, 2.0, size=d) * rng.choice([-1.0, 1.0], size=d)
    return {"x": _x(rng, n, d), "gamma": gamma, "beta": rng.normal(size=d), "dout": rng.normal(size=(n, d))}


def scenarios(rng) -> list[Scenario]:
    n, d, m = (int(v) for v in rng.permutation(range(3, 8))[:3])  # N != D, nothing square
    basic = Scenario("basic", "backward", _inputs(rng, n, d))
    twice = layer.twice(_inputs(rng, n, d), {"dout": rng.normal(size=(n, d))}, {"x": _x(rng, n, d)},
                        {"dout": rng.normal(size=(n, d))})
    pair = _inputs(rng, 2, d)
    pair["x1"] = _x(rng, 1, d)  # a training-mode forward on a batch of one must raise
    # several training forwards of different batch sizes (one of them 2, where N / (N - 1) = 2),
    # a backward after the first, then eval mode on a fresh batch
    running = _inputs(rng, n, d)
    sizes = [n, 2, m] + [int(v) for v in rng.integers(2, 8, size=int(rng.integers(0, 3)))]
    running.update({f"x.{i}": _x(rng, size, d) for i, size in enumerate(sizes)})
    running["x_eval"] = _x(rng, m, d)
    del running["x"]  # the batches are x.0, x.1 ...; dout goes with x.0
    return [
        basic, layer.perturb(basic),
        Scenario("pair", "backward", pair),
        Scenario("twice", "backward", twice),
        Scenario("running", "running", running, {"forwards": len(sizes)}),
    ]


def raises_value_error(ev, check: Check) -> None:
    raised = ev.value(check.scenario, "single.raised").value
    if raised == "ValueError":
        return
    what = t("returned normally") if not raised else t("raised {type}", type=raised)
    raise Failed(t("a training-mode forward on a batch of one (N = 1) should raise ValueError, as "
                   "PyTorch does (the variance of one value is 0); it {what}", what=what), target="out")


RUNNING_CHECKS = (  # id, the keys compared (the learner's and the reference's), the names shown, title
    ("edge.running_one", tuple(f"{k}.1" for k in RUNNING), RUNNING,
     "running statistics after one forward (unbiased variance)"),
    ("edge.running_several", RUNNING, RUNNING,
     "running statistics after several forwards of different batch sizes"),
    ("edge.eval", ("out_eval",), ("out",), "eval mode normalises with the running statistics"))
RUNNING_KEYS = {check_id: keys for check_id, keys, _, _ in RUNNING_CHECKS}
CHECKS = layer.checks(SPEC, "basic", "{key} matches torch.nn.BatchNorm1d (gamma not all ones)", single=None,
                      extra=(
    Check("torch.out", "torch", "out", 1, "basic", matches_reference("out"),
          "the training-mode forward matches torch.nn.BatchNorm1d"),
    Check("edge.batch_of_two", "edge", GRADS, 1, "pair", matches_reference(*GRADS), "a batch of two (N = 2)"),
    # the given forward makes this check, not the exercise: it says so, and carries no points
    Check("edge.single_raises", "edge", "out", 0, "pair", raises_value_error,
          "a training-mode forward with N = 1 raises ValueError (the given forward's check: no points)"),
    *(Check(check_id, "edge", names if len(names) > 1 else names[0], 1, "running",
            matches_reference(*zip(keys, keys, names)), title)
      for check_id, keys, names, title in RUNNING_CHECKS)))


# ---- the worker's side: drive the learner's BatchNorm1d ----------------------------------------

def drive(module, s: Scenario) -> dict:
    if s.mode != "running":
        out = layer.drive(SPEC, module, s)
        if "x1" in s:  # a training-mode forward on a batch of one
            error = raised(lambda: layer.build(SPEC, module, s).forward(s["x1"]))
            out["single.raised"] = "" if error == "no exception" else error
        return out
    bn, out = layer.build(SPEC, module, s), {}
    for i in range(s.params["forwards"]):
        bn.forward(s[f"x.{i}"])
        if i == 0:  # the running statistics after one forward; a backward must not move them
            out.update({f"{k}.1": snapshot(getattr(bn, k)) for k in RUNNING})
            bn.backward(s["dout"])
    out.update({k: snapshot(getattr(bn, k)) for k in RUNNING})
    bn.training = False
    out["out_eval"] = snapshot(bn.forward(s["x_eval"]))
    return out


# ---- the trusted side: torch.nn.BatchNorm1d in float64 ----------------------------------------

def reference(ref, s: Scenario) -> dict:
    a, torch, out = s.arrays, ref.torch, {}
    if s.mode != "running":
        return layer.reference(SPEC, ref, s)
    bn = torch.nn.BatchNorm1d(a["gamma"].shape[0], eps=EPS, momentum=MOMENTUM, dtype=torch.float64)
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(a["gamma"]))
        bn.bias.copy_(torch.from_numpy(a["beta"]))
        for i in range(s.params["forwards"]):
            bn(ref.leaf(a[f"x.{i}"], False))
            if i == 0:
                out.update({f"{k}.1": ref.numpy(getattr(bn, k)) for k in RUNNING})
        out.update({k: ref.numpy(getattr(bn, k)) for k in RUNNING})
        bn.eval()
        out["out_eval"] = ref.numpy(bn(ref.leaf(a["x_eval"], False)))
    return out


# ---- diagnosis: the known mistakes, recomputed in NumPy on the same inputs -------------------

def _normalised(x, ddof=0):
    """(x_hat, inv_std) of a training-mode forward; ddof=1 normalises with the unbiased variance."""
    inv_std = 1.0 / np.sqrt(x.var(axis=0, ddof=ddof) + EPS)
    return (x - x.mean(axis=0)) * inv_std, inv_std


def _dx(x, gamma, dout, mean_term=True, xhat_term=True):
    """dx of a training-mode forward, optionally without one of the two terms through mu and var."""
    x_hat, inv_std = _normalised(x)
    dx_hat = dout * gamma
    dx = dx_hat.copy()
    if mean_term:
        dx -= dx_hat.mean(axis=0)
    if xhat_term:
        dx -= x_hat * (dx_hat * x_hat).mean(axis=0)
    return inv_std * dx


def _dx_rule(evidence: str, gamma: bool = True, **terms):
    """A formula test for dx: the right formula without some terms (or without gamma)."""
    def wrong(x, g, dout):
        return _dx(x, g if gamma else np.ones_like(g), dout, **terms)
    return layer.rule(SPEC, "dx", evidence, wrong, args=("x", "gamma", "dout"))


def simulate(s: Scenario, mistake: str | None = None) -> dict:
    """The running scenario's statistics and eval-mode output from a forward written with `mistake`."""
    a, out = s.arrays, {}
    mean, var = np.zeros(a["gamma"].shape), np.ones(a["gamma"].shape)
    swapped = mistake == "momentum_convention_swapped"
    old, new = (MOMENTUM, 1 - MOMENTUM) if swapped else (1 - MOMENTUM, MOMENTUM)
    for i in range(s.params["forwards"]):
        x = a[f"x.{i}"]
        n = x.shape[0]
        batch_var = {"running_var_biased": x.var(axis=0),
                     "unbiased_variance_normalises": x.var(axis=0, ddof=1) * n / (n - 1)}.get(
            mistake, x.var(axis=0, ddof=1))
        mean, var = old * mean + new * x.mean(axis=0), old * var + new * batch_var
        if i == 0:
            out["running_mean.1"], out["running_var.1"] = mean, var
    out["running_mean"], out["running_var"] = mean, var
    out["out_eval"] = a["gamma"] * (a["x_eval"] - mean) / np.sqrt(var + EPS) + a["beta"]
    return out


def _simulated(mistake: str, evidence: str):
    """A Mistake test: the running statistics (or eval output) of the check are what a forward
    with `mistake` gives, and the right ones are not."""
    def test(p):
        keys = RUNNING_KEYS.get(p.check.id)
        if not keys:
            return None
        wrong, right = simulate(p.ev.scenarios[p.scenario], mistake), p.reference()
        got = [p.learner(p.scenario, key) for key in keys]
        if all(g is not None and close(g, wrong[k]) for g, k in zip(got, keys)) \
                and not all(close(right[k], wrong[k]) for k in keys):
            return {"evidence": t(evidence)}
        return None
    return test


def _unbiased_out(p):
    a = p.inputs
    return a["gamma"] * _normalised(a["x"], ddof=1)[0] + a["beta"] if p.check.id == "torch.out" else None


MISTAKES = [
    Mistake("dx_missing_xhat_term", "dx lacks the term through the variance: {evidence}. The batch "
            "variance depends on every row too: subtract x_hat * mean(dx_hat * x_hat, axis=0)",
            _dx_rule("dx = inv_std * (dx_hat - mean(dx_hat, axis=0))", xhat_term=False)),
    Mistake("dx_missing_mean_term", "dx lacks the term through the mean: {evidence}. The batch mean "
            "depends on every row: subtract mean(dx_hat, axis=0)",
            _dx_rule("dx = inv_std * (dx_hat - x_hat * mean(dx_hat * x_hat, axis=0))", mean_term=False)),
    Mistake("dx_treats_stats_as_constants", "the batch mean and variance were treated as constants: "
            "{evidence}. In training mode they depend on x, which adds two terms to dx",
            _dx_rule("dx = dout * gamma * inv_std, the eval-mode gradient", mean_term=False,
                     xhat_term=False)),
    Mistake("dx_without_gamma", "the factor gamma is missing from dx: {evidence}. out = gamma * x_hat "
            "+ beta, so dx_hat = dout * gamma",
            _dx_rule("dx equals the right formula with dx_hat = dout", gamma=False)),
    Mistake("dgamma_without_xhat", "dgamma was summed from dout alone: {evidence}. out = gamma * "
            "x_hat + beta, so dgamma = sum(dout * x_hat, axis=0)",
            layer.rule(SPEC, "dgamma", "dgamma = dout.sum(axis=0), the same as dbeta",
                       lambda dout: dout.sum(axis=0), args=("dout",))),
    Mistake("unbiased_variance_normalises", "the batch was normalised with the unbiased variance: "
            "{evidence}. BatchNorm1d normalises with the biased variance (divide by N) and uses the "
            "unbiased one (N - 1) only for running_var",
            lambda p: formula("out uses x.var(axis=0, ddof=1)", _unbiased_out)(p) or _simulated(
                "unbiased_variance_normalises", "the running statistics match a forward whose batch "
                "variance is already unbiased")(p)),
    Mistake("running_var_biased", "running_var was updated with the biased batch variance: "
            "{evidence}. PyTorch updates it with the unbiased one: var * N / (N - 1)",
            _simulated("running_var_biased", "the running statistics match momentum * x.var(axis=0) "
                       "(divided by N)")),
    Mistake("momentum_convention_swapped", "momentum weighs the old running statistics instead of "
            "the new batch: {evidence}. In PyTorch running = (1 - momentum) * running + momentum * batch",
            _simulated("momentum_convention_swapped", "the running statistics match momentum * running "
                       "+ (1 - momentum) * batch")),
]

