"""Hidden checks for sgd: torch.optim.SGD's arithmetic (momentum, dampening, Nesterov, weight
decay), in place, over several steps.

An optimiser has no backward of its own, so there is no numerical-gradient check: every step
is compared with torch.optim.SGD (foreach=False) in float64, and each known mistake is
recognised by re-running SGD in NumPy with that one mistake switched on (as checks/adam.py does).
"""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake, close
from bpdrill.core.driving import raised
from bpdrill.core.judge import Check, Failed
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t
from bpdrill.kinds import optimizer
from bpdrill.kinds.optimizer import moves_check, moves_like_reference

SPEC = optimizer.Optimizer("SGD", "SGD")

# adam's judges compare the caller's arrays with ev.reference(scenario) (whatever optimiser
# computed it), check they moved in place, and that the gradients were left alone: the same
# three questions for every optimiser over a dict of arrays.

SHAPES = [(3, 4), (5,), (2, 3, 2), ()]  # () : a 0-d parameter, updated in place too


def _scenario(rng, name, n_params, steps, hyper, **params):
    arrays = {}
    for i in range(n_params):
        arrays[f"param.p{i}"] = rng.normal(size=SHAPES[i])
        for step in range(steps):
            arrays[f"grad.{step}.p{i}"] = rng.normal(size=SHAPES[i])
    return Scenario(name, "steps", arrays, {"steps": steps, "hyper": hyper, **params})


def scenarios(rng) -> list[Scenario]:
    def lr():
        return float(rng.uniform(0.05, 0.2))

    def momentum():
        return float(rng.uniform(0.6, 0.95))

    def dampening():  # never 0 (hides a zero-started buffer) nor 0.5 (hides d vs 1 - d)
        return float(rng.uniform(0.1, 0.4))
    return [
        _scenario(rng, "plain", 2, 3, {"lr": lr()}),
        _scenario(rng, "first_step", 2, 1, {"lr": lr(), "momentum": momentum(), "dampening": dampening()}),
        _scenario(rng, "momentum", 4, 6, {"lr": lr(), "momentum": momentum()}),
        _scenario(rng, "dampening", 2, 5, {"lr": lr(), "momentum": momentum(), "dampening": dampening()}),
        _scenario(rng, "nesterov", 2, 5, {"lr": lr(), "momentum": momentum(), "nesterov": True}, invalid=True),
        _scenario(rng, "weight_decay", 2, 4, {"lr": lr(), "momentum": momentum(),
                                              "weight_decay": float(rng.uniform(0.05, 0.3))}),
        _scenario(rng, "nesterov_weight_decay", 3, 4, {"lr": lr(), "momentum": momentum(), "nesterov": True,
                                                       "weight_decay": float(rng.uniform(0.05, 0.3))}),
        # weight decay without momentum: a path of its own in torch's step
        _scenario(rng, "weight_decay_plain", 2, 3, {"lr": lr(), "weight_decay": float(rng.uniform(0.05, 0.3))}),
        # the caller writes every step's gradients into the arrays it passed the first time: a
        # momentum buffer that is that array (buf = g) changes under the optimiser's feet
        _scenario(rng, "reused_grads", 2, 4, {"lr": lr(), "momentum": momentum()}, reuse_grads=True),
    ]


def nesterov_invalid(ev, check: Check) -> None:
    """SGD(nesterov=True) without momentum, or with dampening, raises ValueError, as torch does."""
    for key, shown in (("raised.no_momentum", "SGD(params, lr, momentum=0, nesterov=True)"),
                       ("raised.dampening", "SGD(params, lr, momentum=0.9, dampening=0.1, nesterov=True)")):
        v = ev.value(check.scenario, key)
        if v.value != "ValueError":
            raise Failed(t("{call} gave {got}; expected ValueError (Nesterov needs momentum > 0 and "
                           "dampening 0)", call=shown, got=v.value), target="params")


CHECKS = [
    Check("torch.plain", "torch", "params", 1, "plain", moves_like_reference,
          "3 steps without momentum match torch.optim.SGD"),
    Check("edge.first_step", "edge", "params", 1, "first_step", moves_like_reference,
          "the first step with momentum uses the gradient itself (the buffer starts as g, not zeros)"),
    Check("torch.momentum", "torch", "params", 2, "momentum", moves_like_reference,
          "6 steps with momentum, 4 parameters (one 0-d) match torch.optim.SGD"),
    Check("torch.dampening", "torch", "params", 1, "dampening", moves_like_reference,
          "momentum with dampening matches torch.optim.SGD"),
    Check("torch.nesterov", "torch", "params", 1, "nesterov", moves_like_reference,
          "Nesterov momentum matches torch.optim.SGD"),
    Check("edge.weight_decay", "edge", "params", 1, "weight_decay", moves_like_reference,
          "weight_decay (L2 added to the gradient) with momentum"),
    Check("torch.nesterov_weight_decay", "torch", "params", 1, "nesterov_weight_decay", moves_like_reference,
          "Nesterov with weight_decay matches torch.optim.SGD"),
    # the given constructor makes this check, not the exercise: it says so, and carries no points
    Check("edge.nesterov_invalid", "edge", "params", 0, "nesterov", nesterov_invalid,
          "nesterov=True without momentum or with dampening raises ValueError (the given constructor's "
          "check: no points)"),
    moves_check("edge.weight_decay_plain", "weight_decay_plain", "weight_decay without momentum"),
    moves_check("edge.reused_grads", "reused_grads", "the caller reuses one gradient array for every step "
                "(the momentum buffer must be a copy)"),
    optimizer.in_place_check("momentum"),
    optimizer.grads_check("weight_decay"),
    Check("purity.grads_momentum", "purity", "params", 1, "momentum", optimizer.grads_untouched,
          "with momentum and no weight decay, step leaves the gradients unchanged"),
]


# ---- the worker's side ----------------------------------------------------------------------

def drive(module, s: Scenario) -> dict:
    out = {}
    if s.params.get("invalid"):
        out["raised.no_momentum"] = raised(lambda: module.SGD({"w": np.zeros(3)}, lr=0.1, momentum=0.0,
                                                              nesterov=True))
        out["raised.dampening"] = raised(lambda: module.SGD({"w": np.zeros(3)}, lr=0.1, momentum=0.9,
                                                            dampening=0.1, nesterov=True))
    out.update(optimizer.drive(SPEC, module, s))
    return out


# ---- diagnosis: SGD re-run in NumPy with one known mistake switched on --------------------

def simulate(scenario, mistake: str | None = None) -> dict:
    """The parameters after the scenario's steps of SGD written with `mistake`."""
    a, steps = scenario.arrays, scenario.params["steps"]
    hyper = {"momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False, **scenario.params["hyper"]}
    lr, mu, damp, wd, nesterov = (hyper[k] for k in ("lr", "momentum", "dampening", "weight_decay", "nesterov"))
    names = sorted(k[len("param."):] for k in a if k.startswith("param."))
    p = {n: np.array(a[f"param.{n}"], dtype=np.float64) for n in names}
    buf: dict = {}
    with np.errstate(all="ignore"):
        for step in range(steps):
            for n in names:
                g = a[f"grad.{step}.{n}"]
                if wd and mistake not in ("weight_decay_ignored", "decoupled_weight_decay"):
                    g = g + wd * p[n]
                if mu:
                    if n not in buf:
                        buf[n] = (1 - damp) * g if mistake == "buffer_starts_at_zeros" else np.array(g)
                    else:
                        keep = damp if mistake == "dampening_not_complemented" else 1 - damp
                        buf[n] = mu * buf[n] + keep * g
                    if nesterov and mistake == "nesterov_momentum_on_gradient":
                        g = buf[n] + mu * g
                    elif nesterov and mistake != "nesterov_ignored":
                        g = g + mu * buf[n]
                    else:
                        g = buf[n]
                if mistake == "decoupled_weight_decay" and wd:
                    p[n] = p[n] - lr * wd * p[n]
                p[n] = p[n] - lr * g
    return p


def _simulated(mistake: str, evidence: str):
    """A Mistake test: the caller's parameters equal SGD written with `mistake` (and the right
    answer does not)."""
    def test(p):
        if p.check.judge is not moves_like_reference:
            return None
        wrong = simulate(p.ev.scenarios[p.scenario], mistake)
        got = {n: p.learner(p.scenario, f"param.{n}") for n in wrong}
        if any(g is None for g in got.values()):
            return None
        right = p.reference()
        if all(close(got[n], wrong[n]) for n in wrong) and not all(close(right[n], wrong[n]) for n in wrong):
            return {"evidence": t(evidence)}
        return None
    return test


# Which of step's statements holds each mistake's computation (the line to edit)
AT_CODE = {
    "buffer_starts_at_zeros": r"zeros|buf\w*\s*(\[[^]]*\])?\s*=(?!=)", "dampening_not_complemented": r"dampening",
    "nesterov_ignored": r"nesterov", "nesterov_momentum_on_gradient": r"nesterov|momentum\s*\*", "weight_decay_ignored":
    r'(weight_decay|\bwd\b)\s*\*|\*\s*(self\.)?(weight_decay|wd)\b', "decoupled_weight_decay": r'(weight_decay|\bwd\b)\s*\*|\*\s*(self\.)?(weight_decay|wd)\b', }

MISTAKES = [
    *[Mistake(name, says, _simulated(name, evidence), at_code=AT_CODE.get(name, ""))
      for name, says, evidence in [
        ("buffer_starts_at_zeros", "the first step's buffer is (1 - dampening) * g: {evidence}. "
         "torch starts the buffer as the first gradient itself (a copy, no dampening), and applies "
         "buf = momentum * buf + (1 - dampening) * g only from the second step",
         "the update matches a buffer started at zeros (or dampening applied on the first step)"),
        ("dampening_not_complemented", "the new gradient is scaled by dampening instead of "
         "1 - dampening: {evidence}", "the update matches buf = momentum * buf + dampening * g"),
        ("nesterov_ignored", "nesterov=True ran plain momentum: {evidence}. With Nesterov the step "
         "uses g + momentum * buf", "the update matches torch with nesterov=False"),
        ("nesterov_momentum_on_gradient", "the Nesterov step has its terms swapped: {evidence}. "
         "torch uses g + momentum * buf", "the update matches buf + momentum * g"),
        ("weight_decay_ignored", "weight_decay is ignored: {evidence}. Add weight_decay * p to the "
         "gradient first", "the update matches SGD with weight_decay = 0"),
        ("decoupled_weight_decay", "the weight decay is applied to the weights directly, outside the "
         "momentum: {evidence}. torch.optim.SGD adds weight_decay * p to the gradient before the buffer",
         "the update matches p -= lr * wd * p applied separately"),
    ]],
]
