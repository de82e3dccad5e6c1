"""Hidden checks for adamw: torch.optim.AdamW's arithmetic (decay p *= 1 - lr * wd, then the
Adam step), in place, over several steps; each known mistake recognised by re-running AdamW in
NumPy (adam's simulation, with its decay decoupled) with that one mistake switched on."""
from __future__ import annotations

import functools

from bpdrill.checks import adam
from bpdrill.core.judge import Check
from bpdrill.core.protocol import Scenario
from bpdrill.kinds import optimizer
from bpdrill.kinds.optimizer import Run

SPEC = optimizer.Optimizer("AdamW", "AdamW")

SHAPES = adam.SHAPES
MULTI, REUSED_GRADS = "multi", "reused_grads"

RUNS = [
    Run("torch", "one_step", "one step with the defaults (weight_decay=1e-2) matches "
        "torch.optim.AdamW", SHAPES[:1], 1),
    Run("torch", MULTI, "10 steps, 3 parameters match torch.optim.AdamW", SHAPES, 10,
        {"lr": 1e-2, "weight_decay": 0.1}, points=2),
    # lr * wd large: decay before or after the step, with or without lr, differ by far more than
    # rounding in every seed
    Run("edge", "strong_decay", "lr=0.1, weight_decay=0.5: the decay p *= 1 - lr * wd comes before the "
        "Adam step", SHAPES[:2], 5, {"lr": 0.1, "weight_decay": 0.5}),
    Run("edge", "tiny", "tiny gradients (~1e-6, where eps matters)", SHAPES[:2], 5, {"lr": 1e-2},
        grad_scale=1e-6),
    Run("torch", "betas", "custom betas, eps and lr", SHAPES[:2], 4,
        {"lr": 5e-2, "betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 0.05}),
    Run("torch", "no_decay", "weight_decay=0 is plain Adam", SHAPES[:2], 3,
        {"lr": 1e-2, "weight_decay": 0.0}),
    Run("edge", REUSED_GRADS, "the caller refills one gradient array every step", SHAPES[:2], 4,
        {"lr": 5e-2, "weight_decay": 0.2}, params={"reuse_grads": True}),
]


def scenarios(rng) -> list[Scenario]:
    reused = RUNS[-1].scenario(rng)  # drawn first, as it always was: the hidden inputs stay the same
    return [*optimizer.scenarios_of(RUNS[:-1])(rng), reused]


CHECKS = [
    *(run.moves_check() for run in RUNS),
    optimizer.in_place_check(MULTI),
    optimizer.grads_check(MULTI),
    Check("purity.reused_grads", "purity", "params", 1, REUSED_GRADS, optimizer.grads_untouched,
          "step leaves a reused gradient array unchanged"),
]


# ---- diagnosis: AdamW re-run in NumPy with one known mistake switched on ------------------

_mistake = functools.partial(optimizer.simulated_mistake, functools.partial(adam.simulate, adamw=True))
DECAY = r"weight_decay|\bwd\b"

MISTAKES = [
    _mistake("coupled_weight_decay", "the weight decay went into the gradient (Adam's L2): {evidence}. "
             "AdamW decays the weights directly, p *= 1 - lr * weight_decay, and feeds m and v the raw "
             "gradient",
             "the update matches g = g + wd * p before the moments", DECAY),
    _mistake("decay_after_step", "the decay is applied after the Adam step: {evidence}. torch decays p "
             "first, then subtracts lr * m_hat / (sqrt(v_hat) + eps)",
             "the update matches p *= 1 - lr * wd after the step", DECAY),
    _mistake("decay_without_lr", "the decay is not scaled by lr: {evidence}. The factor is "
             "1 - lr * weight_decay", "the update matches p *= 1 - wd", DECAY),
    _mistake("weight_decay_ignored", "weight_decay is ignored: {evidence}. Shrink p by 1 - lr * "
             "weight_decay before the Adam step", "the update matches AdamW with weight_decay = 0", DECAY),
    _mistake("no_bias_correction", "the moments are used without bias correction: {evidence}. Divide "
             "m by (1 - beta1**t) and v by (1 - beta2**t)",
             "the update matches AdamW with m_hat = m, v_hat = v", r"_hat|sqrt"),
    _mistake("eps_inside_sqrt", "eps went inside the square root: {evidence}. torch adds it after: "
             "sqrt(v_hat) + eps", "with gradients near 1e-6 the update matches sqrt(v_hat + eps)", r"sqrt"),
]
