"""Hidden checks for sgd: torch.optim.SGD's arithmetic (momentum, dampening, Nesterov, weight
decay), in place, over several steps, compared with torch.optim.SGD (foreach=False) in float64;
each known mistake is recognised by re-running SGD in NumPy with that one mistake switched on."""
from __future__ import annotations

import functools

import numpy as np

from bpdrill.core.driving import raised
from bpdrill.core.judge import Check, Failed
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t
from bpdrill.kinds import optimizer
from bpdrill.kinds.optimizer import Run

SPEC = optimizer.Optimizer("SGD", "SGD")

SHAPES = [(3, 4), (5,), (2, 3, 2), ()]  # () : a 0-d parameter, updated in place too
MOMENTUM, WEIGHT_DECAY, NESTEROV = "momentum", "weight_decay", "nesterov"

# the drawn hyperparameters' ranges; dampening never 0 (hides a zero-started buffer) nor 0.5 (d vs 1 - d)
RANGES = {"lr": (0.05, 0.2), "momentum": (0.6, 0.95), "dampening": (0.1, 0.4), "weight_decay": (0.05, 0.3)}


def drawn(*names, **given):
    """(rng) -> the constructor's arguments: names drawn from their RANGES in turn, and given."""
    return lambda rng: {**{name: float(rng.uniform(*RANGES[name])) for name in names}, **given}


RUNS = [
    Run("torch", "plain", "3 steps without momentum match torch.optim.SGD", SHAPES[:2], 3, drawn("lr")),
    Run("edge", "first_step", "the first step with momentum uses the gradient itself (the buffer starts "
        "as g, not zeros)", SHAPES[:2], 1, drawn("lr", "momentum", "dampening")),
    Run("torch", MOMENTUM, "6 steps with momentum, 4 parameters (one 0-d) match torch.optim.SGD", SHAPES, 6,
        drawn("lr", "momentum"), points=2),
    Run("torch", "dampening", "momentum with dampening matches torch.optim.SGD", SHAPES[:2], 5,
        drawn("lr", "momentum", "dampening")),
    Run("torch", NESTEROV, "Nesterov momentum matches torch.optim.SGD", SHAPES[:2], 5,
        drawn("lr", "momentum", nesterov=True)),
    Run("edge", WEIGHT_DECAY, "weight_decay (L2 added to the gradient) with momentum", SHAPES[:2], 4,
        drawn("lr", "momentum", "weight_decay")),
    Run("torch", "nesterov_weight_decay", "Nesterov with weight_decay matches torch.optim.SGD", SHAPES[:3], 4,
        drawn("lr", "momentum", "weight_decay", nesterov=True)),
    Run("edge", "weight_decay_plain", "weight_decay without momentum", SHAPES[:2], 3,  # its own path in step
        drawn("lr", "weight_decay")),
    Run("edge", "reused_grads", "the caller reuses one gradient array for every step (the momentum "
        "buffer must be a copy)", SHAPES[:2], 4, drawn("lr", "momentum"), params={"reuse_grads": True}),
]

scenarios = optimizer.scenarios_of(RUNS)

# arguments that, with nesterov=True, must raise ValueError: the given constructor's check (0 points)
INVALID = {"no_momentum": {"momentum": 0}, "dampening": {"momentum": 0.9, "dampening": 0.1}}


def nesterov_invalid(ev, check: Check) -> None:
    """SGD(nesterov=True) without momentum, or with dampening, raises ValueError, as torch does."""
    for name, hyper in INVALID.items():
        v = ev.value(check.scenario, f"raised.{name}")
        if v.value != "ValueError":
            call = "SGD(params, lr, " + "".join(f"{k}={x}, " for k, x in hyper.items()) + "nesterov=True)"
            raise Failed(t("{call} gave {got}; expected ValueError (Nesterov needs momentum > 0 and "
                           "dampening 0)", call=call, got=v.value), target="params")


CHECKS = [
    *(run.moves_check() for run in RUNS[:7]),
    Check("edge.nesterov_invalid", "edge", "params", 0, NESTEROV, nesterov_invalid,
          "nesterov=True without momentum or with dampening raises ValueError (the given constructor's "
          "check: no points)"),
    *(run.moves_check() for run in RUNS[7:]),
    optimizer.in_place_check(MOMENTUM),
    optimizer.grads_check(WEIGHT_DECAY),
    Check("purity.grads_momentum", "purity", "params", 1, MOMENTUM, optimizer.grads_untouched,
          "with momentum and no weight decay, step leaves the gradients unchanged"),
]


def drive(module, s: Scenario) -> dict:
    out = optimizer.drive(SPEC, module, s)
    if s.name == NESTEROV:
        for name, hyper in INVALID.items():
            out[f"raised.{name}"] = raised(lambda: module.SGD({"w": np.zeros(3)}, lr=0.1, nesterov=True,
                                                              **hyper))
    return out


# ---- diagnosis: SGD re-run in NumPy with one known mistake switched on ---------------------

def simulate(scenario, mistake: str | None = None) -> dict:
    """The parameters after the scenario's steps of SGD written with `mistake`."""
    hyper = scenario.params["hyper"]
    lr, nesterov = hyper["lr"], hyper.get("nesterov", False)
    mu, damp, wd = (hyper.get(name, 0.0) for name in ("momentum", "dampening", "weight_decay"))
    p = {n: np.array(scenario[f"param.{n}"], dtype=np.float64) for n in scenario.keys_with_prefix("param.")}
    buf: dict = {}
    for step in range(scenario.params["steps"]):
        for n in p:
            g = scenario[f"grad.{step}.{n}"]
            if wd and mistake not in ("weight_decay_ignored", "decoupled_weight_decay"):
                g = g + wd * p[n]
            if mu:
                keep = damp if mistake == "dampening_not_complemented" else 1 - damp
                first = (1 - damp) * g if mistake == "buffer_starts_at_zeros" else np.array(g)
                buf[n] = mu * buf[n] + keep * g if n in buf else first
                if nesterov and mistake == "nesterov_momentum_on_gradient":
                    g = buf[n] + mu * g
                elif nesterov and mistake != "nesterov_ignored":
                    g = g + mu * buf[n]
                else:
                    g = buf[n]
            decoupled = lr * wd * p[n] if mistake == "decoupled_weight_decay" else 0.0
            p[n] = p[n] - decoupled - lr * g
    return p


_mistake = functools.partial(optimizer.simulated_mistake, simulate)

MISTAKES = [
    _mistake("buffer_starts_at_zeros", "the first step's buffer is (1 - dampening) * g: {evidence}. "
             "torch starts the buffer as the first gradient itself (a copy, no dampening), and applies "
             "buf = momentum * buf + (1 - dampening) * g only from the second step",
             "the update matches a buffer started at zeros (or dampening applied on the first step)",
             r"zeros|buf\w*\s*(\[[^]]*\])?\s*=(?!=)"),
    _mistake("dampening_not_complemented", "the new gradient is scaled by dampening instead of "
             "1 - dampening: {evidence}", "the update matches buf = momentum * buf + dampening * g",
             r"dampening"),
    _mistake("nesterov_ignored", "nesterov=True ran plain momentum: {evidence}. With Nesterov the step "
             "uses g + momentum * buf", "the update matches torch with nesterov=False", r"nesterov"),
    _mistake("nesterov_momentum_on_gradient", "the Nesterov step has its terms swapped: {evidence}. "
             "torch uses g + momentum * buf", "the update matches buf + momentum * g",
             r"nesterov|momentum\s*\*"),
    _mistake("weight_decay_ignored", "weight_decay is ignored: {evidence}. Add weight_decay * p to the "
             "gradient first", "the update matches SGD with weight_decay = 0", optimizer.WEIGHT_DECAY_CODE),
    _mistake("decoupled_weight_decay", "the weight decay is applied to the weights directly, outside the "
             "momentum: {evidence}. torch.optim.SGD adds weight_decay * p to the gradient before the buffer",
             "the update matches p -= lr * wd * p applied separately", optimizer.WEIGHT_DECAY_CODE),
]
