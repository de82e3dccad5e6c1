"""Hidden checks for adamw: torch.optim.AdamW's arithmetic (decay p *= 1 - lr * wd, then the
Adam step), in place, over several steps; each known mistake recognised by re-running AdamW in
NumPy with that one mistake switched on (as checks/adam.py does)."""
from __future__ import annotations

import numpy as np

from bpdrill import i18n
from bpdrill.core.diagnose import Mistake, close
from bpdrill.core.driving import snapshot
from bpdrill.core.judge import Check
from bpdrill.core.protocol import Scenario
from bpdrill.kinds import optimizer
from bpdrill.kinds.optimizer import moves_check, moves_like_reference

SPEC = optimizer.Optimizer("AdamW", "AdamW")

SHAPES = [(3, 4), (4,), (2, 3, 2)]


def scenarios(rng) -> list[Scenario]:
    reused = optimizer.scenario(rng, "reused_grads", SHAPES[:2], 4, {"lr": 5e-2, "weight_decay": 0.2})
    reused.params["reuse"] = True
    return [
        optimizer.scenario(rng, "one_step", SHAPES[:1], 1, {}),
        optimizer.scenario(rng, "multi", SHAPES[:3], 10, {"lr": 1e-2, "weight_decay": 0.1}),
        # lr * wd large: decay before or after the step, with or without lr, differ by far
        # more than rounding in every seed.
        optimizer.scenario(rng, "strong_decay", SHAPES[:2], 5, {"lr": 0.1, "weight_decay": 0.5}),
        optimizer.scenario(rng, "tiny", SHAPES[:2], 5, {"lr": 1e-2}, grad_scale=1e-6),
        optimizer.scenario(rng, "betas", SHAPES[:2], 4, {"lr": 5e-2, "betas": [0.8, 0.99], "eps": 1e-6,
                                                         "weight_decay": 0.05}),
        optimizer.scenario(rng, "no_decay", SHAPES[:2], 3, {"lr": 1e-2, "weight_decay": 0.0}),
        reused,
    ]


CHECKS = [
    moves_check("torch.one_step", "one_step", "one step with the defaults (weight_decay=1e-2) matches "
                "torch.optim.AdamW"),
    moves_check("torch.multi", "multi", "10 steps, 3 parameters match torch.optim.AdamW", points=2),
    moves_check("edge.strong_decay", "strong_decay", "lr=0.1, weight_decay=0.5: the decay p *= 1 - lr * wd "
                "comes before the Adam step"),
    moves_check("edge.tiny", "tiny", "tiny gradients (~1e-6, where eps matters)"),
    moves_check("torch.betas", "betas", "custom betas, eps and lr"),
    moves_check("torch.no_decay", "no_decay", "weight_decay=0 is plain Adam"),
    moves_check("edge.reused_grads", "reused_grads", "the caller refills one gradient array every step"),
    optimizer.in_place_check("multi"),
    optimizer.grads_check("multi"),
    Check("purity.reused_grads", "purity", "params", 1, "reused_grads", optimizer.grads_untouched,
        "step leaves a reused gradient array unchanged"),
]


def drive(module, s: Scenario) -> dict:
    if not s.params.get("reuse"):
        return optimizer.drive(SPEC, module, s)
    # The caller keeps one gradient array per parameter and refills it before every step
    # (SPEC: a later step never changes what the caller passed, even when the optimiser kept it).
    names = s.keys_with_prefix("param.")
    params = {name: s[f"param.{name}"] for name in names}
    held = dict(params)
    grads = {name: np.empty_like(s[f"grad.0.{name}"]) for name in names}
    opt = module.AdamW(params, **s.params["hyper"])
    out = {}
    for step in range(s.params["steps"]):
        for name in names:
            grads[name][...] = s[f"grad.{step}.{name}"]
        opt.step(grads)
        out.update({f"grad_after.{step}.{name}": snapshot(g) for name, g in grads.items()})
    out.update({f"param.{name}": held[name] for name in names})
    return out


# ---- diagnosis: AdamW re-run in NumPy with one known mistake switched on ------------------

def simulate(scenario, mistake: str | None = None) -> dict:
    """The parameters after the scenario's steps of AdamW written with `mistake`."""
    a, steps = scenario.arrays, scenario.params["steps"]
    hyper = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2, **scenario.params["hyper"]}
    lr, (b1, b2), eps, wd = hyper["lr"], hyper["betas"], hyper["eps"], hyper["weight_decay"]
    names = sorted(k[len("param."):] for k in a if k.startswith("param."))
    p = {n: a[f"param.{n}"].copy() for n in names}
    m = {n: np.zeros_like(p[n]) for n in names}
    v = {n: np.zeros_like(p[n]) for n in names}
    decay = {"decay_without_lr": 1 - wd, "weight_decay_ignored": 1.0,
             "coupled_weight_decay": 1.0}.get(mistake, 1 - lr * wd)
    with np.errstate(all="ignore"):
        for t_ in range(1, steps + 1):
            for n in names:
                g = a[f"grad.{t_ - 1}.{n}"]
                if mistake == "coupled_weight_decay":
                    g = g + wd * p[n]
                if mistake != "decay_after_step":
                    p[n] *= decay
                m[n] = b1 * m[n] + (1 - b1) * g
                v[n] = b2 * v[n] + (1 - b2) * g * g
                bc1, bc2 = (1.0, 1.0) if mistake == "no_bias_correction" else (1 - b1**t_, 1 - b2**t_)
                m_hat, v_hat = m[n] / bc1, v[n] / bc2
                root = np.sqrt(v_hat + eps) if mistake == "eps_inside_sqrt" else np.sqrt(v_hat) + eps
                p[n] -= lr * m_hat / root
                if mistake == "decay_after_step":
                    p[n] *= decay
    return p


def _simulated(mistake: str, evidence: str):
    """A Mistake test: the caller's parameters moved as AdamW written with `mistake` (and the
    right answer does not), judged on displacements as the check judges."""
    def test(p):
        if p.check.judge is not moves_like_reference:
            return None
        wrong = simulate(p.ev.scenarios[p.scenario], mistake)
        got = {n: p.learner(p.scenario, f"param.{n}") for n in wrong}
        if any(g is None for g in got.values()):
            return None
        right, before = p.reference(), {n: p.inputs[f"param.{n}"] for n in wrong}
        if all(close(got[n] - before[n], wrong[n] - before[n]) for n in wrong) and \
                not all(close(right[n] - before[n], wrong[n] - before[n]) for n in wrong):
            return {"evidence": i18n.t(evidence)}
        return None
    return test


# Which of step's statements holds each mistake's computation (the line to edit)
DECAY = r"weight_decay|\bwd\b"
AT_CODE = {"coupled_weight_decay": DECAY, "decay_after_step": DECAY, "decay_without_lr": DECAY,
           "weight_decay_ignored": DECAY, "no_bias_correction": r"_hat|sqrt", "eps_inside_sqrt": r"sqrt"}

MISTAKES = [
    *[Mistake(name, says, _simulated(name, evidence), at_code=AT_CODE[name])
      for name, says, evidence in [
        ("coupled_weight_decay", "the weight decay went into the gradient (Adam's L2): {evidence}. "
         "AdamW decays the weights directly, p *= 1 - lr * weight_decay, and feeds m and v the raw gradient",
         "the update matches g = g + wd * p before the moments"),
        ("decay_after_step", "the decay is applied after the Adam step: {evidence}. torch decays p first, "
         "then subtracts lr * m_hat / (sqrt(v_hat) + eps)", "the update matches p *= 1 - lr * wd after the step"),
        ("decay_without_lr", "the decay is not scaled by lr: {evidence}. The factor is 1 - lr * weight_decay",
         "the update matches p *= 1 - wd"),
        ("weight_decay_ignored", "weight_decay is ignored: {evidence}. Shrink p by 1 - lr * weight_decay "
         "before the Adam step", "the update matches AdamW with weight_decay = 0"),
        ("no_bias_correction", "the moments are used without bias correction: {evidence}. Divide "
         "m by (1 - beta1**t) and v by (1 - beta2**t)", "the update matches AdamW with m_hat = m, v_hat = v"),
        ("eps_inside_sqrt", "eps went inside the square root: {evidence}. torch adds it after: "
         "sqrt(v_hat) + eps", "with gradients near 1e-6 the update matches sqrt(v_hat + eps)"),
    ]],
]
