"""Hidden checks for flash_attention: O = softmax(Q K^T / sqrt(d)) V computed tile by tile;
dQ, dK, dV from the cached Q, K, V, O and the row log-sum-exp L.

Besides the layer's standard checks (causal, sequences that are not a whole number of tiles),
the worker measures with tracemalloc the most memory backward holds at once at T = 1024,
block 64 (NumPy reports its buffers to tracemalloc), and the trusted side judges that number
against a quarter of one (T, T) float64 array."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from bpdrill.core.diagnose import Mistake, formula, variants
from bpdrill.core.judge import Check, Failed, matches_reference
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t
from bpdrill.kinds import layer

GRADS = ("dQ", "dK", "dV")
MEMORY_T, MEMORY_BLOCK, MEMORY_D = 1024, 64, 16
BUDGET = 0.25  # of one (T, T) float64 array


def _torch(torch, Q, K, V, causal):
    return torch.nn.functional.scaled_dot_product_attention(Q, K, V, is_causal=causal)


SPEC = layer.Layer("FlashAttention", _torch, inputs=("Q", "K", "V"), batch="Q", options=("causal",),
                   make=lambda module, s: module.FlashAttention(s.params["block"], causal=s.params["causal"]))


def _draw(rng, n, t, d):
    return {name: rng.normal(size=(n, t, d)) for name in ("Q", "K", "V", "dout")}


def scenarios(rng) -> list[Scenario]:
    block, d = int(rng.integers(3, 6)), int(rng.integers(2, 5))
    t = 2 * block + int(rng.integers(1, block))  # the last tile is shorter
    causal = {"block": block, "causal": True}
    found = layer.standard(SPEC, lambda rng, n: _draw(rng, n, t, d), rng, 2)
    return [*(replace(s, params={**s.params, **causal}) for s in found),
            Scenario("bidirectional", "backward", _draw(rng, 2, t + 1, d + 1), {"block": block, "causal": False}),
            Scenario("whole_tiles", "backward", _draw(rng, 2, 3 * block, d), causal),
            Scenario("one_tile", "backward", _draw(rng, 2, block - 1, d), causal),
            Scenario("memory", "memory", _draw(rng, 1, MEMORY_T, MEMORY_D), {"block": MEMORY_BLOCK, "causal": False})]


def _full_matrix_bytes(ev, scenario) -> int:
    T = ev.inputs(scenario)["Q"].shape[1]
    return T * T * 8


def _within_budget(ev, check):
    peak, full = ev.number(check.scenario, "peak", "memory"), _full_matrix_bytes(ev, check.scenario)
    if peak >= BUDGET * full:
        raise Failed(t("backward held {mb:.2f} MB at its peak at T = {T}: {ratio:.2f} of one (T, T) "
                       "float64 array ({full:.1f} MB); the limit is {budget:g} of it", mb=peak / 1e6,
                       T=MEMORY_T, ratio=peak / full, full=full / 1e6, budget=BUDGET))


CHECKS = layer.checks(SPEC, "basic", "{key} matches PyTorch (causal, a shorter last tile)", extra=(
    Check("edge.bidirectional", "edge", GRADS, 1, "bidirectional", matches_reference(*GRADS),
          "not causal: dQ, dK, dV match PyTorch"),
    Check("edge.whole_tiles", "edge", GRADS, 1, "whole_tiles", matches_reference(*GRADS),
          "T a whole number of tiles (causal)"),
    Check("edge.one_tile", "edge", GRADS, 1, "one_tile", matches_reference(*GRADS),
          "a sequence shorter than one tile"),
    Check("edge.memory", "edge", GRADS, 2, "memory", _within_budget,
          "T = 1024, block 64: backward holds under a quarter of one (T, T) array")))


# ---- diagnosis: what this exercise's known mistakes would produce -----------------------

def _grads(a, conf, row_term=True, lse=True, mask=True, scale=True, overwrite=False) -> dict:
    """dQ, dK, dV with one known mistake switched on, from full (T, T) arrays (small T)."""
    Q, K, V, dout = a["Q"], a["K"], a["V"], a["dout"]
    N, T, d = Q.shape
    block, causal = conf["block"], conf["causal"]
    S = Q @ K.transpose(0, 2, 1) / np.sqrt(d)
    future = np.triu(np.ones((T, T), dtype=bool), 1) if causal else np.zeros((T, T), dtype=bool)
    masked = np.where(future, -np.inf, S)
    L = np.log(np.exp(masked - masked.max(-1, keepdims=True)).sum(-1, keepdims=True)) + masked.max(-1, keepdims=True)
    P = np.exp((masked if mask else S) - (L if lse else 0.0))
    O = np.exp(masked - L) @ V
    dP = dout @ V.transpose(0, 2, 1)
    dS = P * (dP - ((dout * O).sum(-1, keepdims=True) if row_term else 0.0)) / (np.sqrt(d) if scale else 1.0)
    if overwrite:  # each gradient keeps the last tile's contribution only
        tiles = [(s, min(s + block, T)) for s in range(0, T, block)]
        last_key = np.zeros((T, T), dtype=bool)  # for each query row: its last visited key tile
        last_query = np.zeros((T, T), dtype=bool)  # for each key: the last query tile
        for q0, q1 in tiles:
            k0, k1 = [k for k in tiles if not (causal and k[0] > q1 - 1)][-1]
            last_key[q0:q1, k0:k1] = True
        q0, q1 = tiles[-1]
        last_query[q0:q1, :] = True
        dQ = (dS * last_key) @ K
        dK = (dS * last_query).transpose(0, 2, 1) @ Q
        dV = (P * last_query).transpose(0, 2, 1) @ dout
        return {"dQ": dQ, "dK": dK, "dV": dV}
    return {"dQ": dS @ K, "dK": dS.transpose(0, 2, 1) @ Q, "dV": P.transpose(0, 2, 1) @ dout}


def _variant(evidence, labels=GRADS, **mistake):
    def candidate(p):
        if p.label not in labels or p.check.scenario == "memory":
            return None
        return _grads(layer.call_arrays(SPEC, p), p.ev.params(p.scenario), **mistake)[p.label]
    return formula(evidence, candidate)


def _peak_between(low: float, high: float, evidence: str):
    """A Mistake test on edge.memory: the measured peak is in [low, high) of one (T, T) array."""
    def test(p):
        if p.check.id != "edge.memory":
            return None
        try:
            peak = p.ev.number(p.scenario, "peak", "memory")
        except Failed:
            return None
        ratio = peak / _full_matrix_bytes(p.ev, p.scenario)
        return {"evidence": t(evidence, mb=peak / 1e6, ratio=ratio, T=MEMORY_T)} if low <= ratio < high else None
    return test


MISTAKES = [
    Mistake("materialised_attention_matrix", "backward built the whole (T, T) attention matrix: "
            "{evidence}. Recompute each tile's P = exp(S_ij - L_i) inside the tile loop and let it go",
            _peak_between(1.0, np.inf, "backward held {mb:.1f} MB at once, {ratio:.1f} times one (T, T) array "
                                       "at T = {T}")),
    Mistake("attention_strips_over_budget", "backward worked on (block, T) strips of the scores: "
            "{evidence}. A strip of S, P, dP and dS is T / block tiles each; loop over key tiles too "
            "and hold one (block, block) tile at a time",
            _peak_between(BUDGET, 1.0, "backward held {ratio:.2f} of one (T, T) array: less than the whole "
                                       "matrix, more than a few (block, block) tiles")),
    *variants(_variant, {
        "rowsum_dO_O_missing": ("the softmax backward lacks its row term D = rowsum(dO * O): {evidence}. dS "
                                "= P * (dP - D[:, rows, None]), with D computed once before the loops",
                                "got equals the gradient with dS = P * dP",
                                {"labels": ("dQ", "dK"), "row_term": False}),
        "probabilities_without_logsumexp": ("the recomputed probabilities were exp(S) without subtracting L: "
                                            "{evidence}. L is each row's log-sum-exp: P = exp(S - L) is "
                                            "normalised", "got equals the gradient with P = exp(S)",
                                            {"lse": False}),
        "causal_tiles_not_masked": ("backward left the causal mask out of the recomputed tiles: {evidence}. "
                                    "Mask the future in diagonal tiles and skip tiles wholly in the future, "
                                    "as forward does", "got equals the gradient with every future score kept",
                                    {"mask": False}),
        "scale_forgotten_in_backward": ("the 1 / sqrt(d) of the scores was left out of backward: {evidence}. "
                                        "S = Q K^T / sqrt(d), so dQ and dK carry that factor too",
                                        "got equals sqrt(d) times the right answer, as backward without the "
                                        "scale gives", {"labels": ("dQ", "dK"), "scale": False}),
        "tile_overwritten_not_accumulated": ("{label} keeps only the last tile's contribution: {evidence}. "
                                             "Every tile adds to the rows it touches: dQ[:, rows] += ..., "
                                             "not =", "got equals the last tile's contribution alone",
                                             {"overwrite": True}),
    }),
]
