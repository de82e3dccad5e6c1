"""What a known mistake is, in plain words, without the fix: the diagnoses of interview mode.

In practice a diagnosis gives the evidence and the advice ("... so divide by N once"). In an
interview drill, the report says only the mistake's plain description and the place at fault
(report.render(..., plain=True)): what is wrong and where, never the corrected formula. The
description is written here for the first shelf's mistakes; any other mistake is described by
the first clause of its own sentence, which says what is wrong before any evidence or advice.
"""
from __future__ import annotations

from bpdrill.i18n import t


def descriptions() -> dict:
    """Mistake id -> its plain description, in the current language."""
    return {
        "accumulated_not_overwritten": t("the gradient adds onto the previous call's"),
        "betas_swapped": t("the two decay rates of the moments are swapped"),
        "bias_correction_stored_in_moments": t("the bias correction is stored back into the moments"),
        "bias_correction_without_power": t("the bias correction ignores the step count"),
        "bias_not_summed": t("a bias gradient was not reduced over the batch"),
        "bias_summed_wrong_axis": t("a bias gradient was reduced over the wrong axis"),
        "cache_modified_in_place": t("backward changed a value that forward cached"),
        "constant_factor": t("off by a constant factor"),
        "decoupled_weight_decay": t("weight decay applied the AdamW way"),
        "derivative_on_preactivation": t("the activation's derivative is taken at the wrong point"),
        "doubled_1_over_n": t("too small by a factor of the batch size"),
        "dropped_upstream": t("the upstream gradient is missing"),
        "eps_inside_sqrt": t("eps is in the wrong place"),
        "fancy_indexing": t("the wrong elements were indexed"),
        "grad_assigned_not_added": t(".grad is replaced across backward() calls"),
        "grad_not_array": t("a .grad is a number, not an array"),
        "gradient_wrt_probs": t("the gradient is with respect to the probabilities, not the logits"),
        "grads_modified_in_place": t("the caller's gradients were changed"),
        "hardcoded_batch_size": t("a fixed number stands where the batch size belongs"),
        "input_modified_in_place": t("backward changed one of its inputs"),
        "keepdims": t("the shape has extra or missing size-1 axes"),
        "missing_1_over_n": t("too large by a factor of the batch size"),
        "missing_activation_derivative": t("the activation's derivative is missing"),
        "missing_one_minus_s": t("part of the sigmoid's derivative is missing"),
        "missing_onehot_subtraction": t("the term of the true class is missing"),
        "missing_parentheses": t("parentheses are missing around a subtraction"),
        "missing_sqrt": t("a square root is missing"),
        "moments_reset_each_step": t("the moments start from zero again every step"),
        "no_bias_correction": t("the bias correction is missing"),
        "no_requires_grad_propagation": t("results do not require grad when their inputs do"),
        "no_unbroadcast": t("a broadcast gradient keeps the broadcast shape"),
        "not_in_place": t("the parameters were not updated in place"),
        "num_classes_factor": t("off by a factor of N/C"),
        "overwrite_not_accumulate": t("a node used more than once keeps only one of its gradients"),
        "recursive_traversal": t("the graph traversal is recursive"),
        "sigmoid_of_cached_output": t("the sigmoid is applied twice"),
        "sign_flipped": t("the sign is flipped"),
        "softmax_wrong_axis": t("the softmax normalises over the wrong axis"),
        "stale_cache": t("a value from an earlier forward is reused"),
        "step_counter_never_incremented": t("the step counter never advances"),
        "step_counter_off_by_one": t("the step counter is off by one"),
        "step_counter_per_parameter": t("the step counter advances once per parameter"),
        "tanh_derivative": t("the derivative of another activation is used"),
        "transposed": t("the gradient is transposed"),
        "traversal_order": t("nodes are visited in the wrong order"),
        "unstable_softmax": t("the softmax overflows for large logits"),
        "weight_decay_ignored": t("weight decay is ignored"),
        "wrong_backward_rule": t("an operation's backward rule is wrong"),
    }


def describe(diagnosis) -> str:
    """The plain description of a diagnosis's mistake and its place (never the advice)."""
    what = (descriptions().get(diagnosis.name) or getattr(diagnosis, "what", "")
            or t("a known mistake: {name}", name=diagnosis.name))
    return what + (getattr(diagnosis, "place", "") or "")


def named(name: str, mistakes=()) -> str:
    """A mistake's plain description from its id alone (a mock round's summary keeps ids): the
    description written here, else the first clause of the mistake's own sentence (mistakes:
    the exercise's Mistake objects), else its id in words."""
    if name in descriptions():
        return descriptions()[name]
    for mistake in mistakes:
        if mistake.name == name:
            from bpdrill.core.diagnose import first_clause
            head = first_clause(t(mistake.says))
            if head and "{" not in head:
                return head
    return name.replace("_", " ")
