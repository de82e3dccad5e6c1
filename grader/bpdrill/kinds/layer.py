"""The layer kind: an object with forward(inputs...) -> outputs and backward(upstream...) ->
gradients, and parameters whose gradients backward sets as attributes.

One spec (`Layer`) says what is particular to an exercise: its class, the arrays forward takes
(those with a gradient, and fixed ones such as a mask or indices), its parameters, what
backward returns and sets, and the same computation in PyTorch. This module owns the rest of
the life cycle, once for every layer:

- the worker's side (`drive`): build the object, put the grader's parameters in, forward,
  backward, a second backward with a new upstream gradient, a new forward and backward, the
  inputs afterwards (purity), or the forward's outputs around each input (numerical gradient);
- the trusted side (`reference`): the same calls in PyTorch float64, plus what two lifecycle
  mistakes would have produced (a stale cache, a dropped upstream gradient), kept with the
  references so that naming them never starts torch;
- the standard checks (`checks`), with stable ids: shape.<g>, numgrad.<g>, torch.<g>,
  edge.single, edge.second_backward, edge.new_forward, purity.inputs;
- the lifecycle mistakes (`MISTAKES`), recognised from the references above;
- `rule`, the formula test an exercise's own mistakes are written with (the wrong formula, run
  on the arrays of whichever call the failed check judges).

Keys of the raw results: a gradient's name for the first backward (dx, dW), with the suffix 2
for the second backward and 3 for the backward after the new forward; the outputs by their
names (out, or h_next and c_next; out3 ... for the new forward's); after.<array> for purity;
plus.<array> and minus.<array> in a perturb scenario. Scenario arrays: the inputs, parameters and upstream gradients (dout,
or d<output> for each output), dout2 ... for the second backward, and <input>3, dout3 ... for
the new forward.
"""
from __future__ import annotations

import functools
import tracemalloc
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from bpdrill.core import compare
from bpdrill.core.diagnose import Mistake, close, formula
from bpdrill.core.driving import perturbed_outputs, snapshot
from bpdrill.core.places import MODIFIED_ALIAS
from bpdrill.core.judge import Check, Failed, matches_reference, numgrad_check, shape_check, unchanged_check
from bpdrill.core.protocol import Scenario, describe
from bpdrill.i18n import t

SECOND, NEW = "2", "3"  # the suffixes of the second backward and of the backward after a new forward
AGAIN = "4"  # the backward after the new forward, called once more with the same upstream gradient
STALE, ONES = "stale.", "ones."  # reference keys: what a stale cache, a dropped upstream would give


@dataclass(frozen=True)
class Layer:
    cls: str  # the learner's class
    torch: Callable  # (torch, **arrays as tensors) -> output tensor, or a tuple of them
    inputs: tuple = ("x",)  # forward's arrays with a gradient, in forward's order
    fixed: tuple = ()  # forward's other arrays (a mask, indices), after the inputs
    drawn: tuple = ()  # arrays the object draws itself (dropout's mask): the torch call takes them from
    #                    the scenario (<name>3 for the new forward's; absent: None), forward is not given them
    params: tuple = ()  # attributes the grader sets before forward ("W", or "ln1.gamma")
    frozen: tuple = ()  # attributes the grader sets that get no gradient (LoRA's W, b): no dW is written
    outputs: tuple = ("out",)  # what forward returns (a tuple when several)
    returns: tuple | None = None  # what backward returns: default d<input> for each input
    make: Callable | None = None  # (learner module, scenario) -> the object; default cls()
    numgrad: tuple | None = None  # the gradients with a numgrad check (default: all)
    numgrad_points: int | dict = 1  # for every gradient, or gradient -> points (others 1)
    batch: str | None = "x"  # the input whose first axis is the batch size N (None: no N)
    extra_args: dict = field(default_factory=dict)  # keyword arguments of forward, fixed per exercise
    options: tuple = ()  # scenario parameters the torch call takes as keywords (stride, padding)
    state: tuple = ()  # attributes forward updates (running statistics): a check of them faults forward
    redraws: bool = False  # forward draws at random (dropout's mask): the numerical gradient builds the
    #                        object afresh for every forward, so that each draws what the first did

    # -- names derived from the spec ------------------------------------------------------
    @property
    def upstream(self) -> tuple:
        """The upstream gradients backward takes: dout, or d<output> for several outputs."""
        return ("dout",) if self.outputs == ("out",) else tuple(f"d{o}" for o in self.outputs)

    @property
    def returned(self) -> tuple:
        return self.returns if self.returns is not None else tuple(f"d{i}" for i in self.inputs)

    @property
    def set_grads(self) -> dict:
        """gradient attribute path -> parameter path: W -> dW, ln1.gamma -> ln1.dgamma."""
        return {_grad_path(p): p for p in self.params}

    @property
    def grads(self) -> dict:
        """Every gradient the learner produces -> the array it is the gradient of."""
        of = dict(zip(self.returned, self.inputs))
        of.update({g.replace(".", "_"): p for g, p in self.set_grads.items()})
        return of

    @property
    def frozen_grads(self) -> dict:
        """The gradient attributes backward must not write -> the frozen parameter: dW -> W."""
        return {_grad_path(p): p for p in self.frozen}

    @property
    def differentiable(self) -> tuple:
        return (*self.inputs, *self.params)

    # -- the upstream gradients of a call: arrays of the scenario (a loss: numbers) ---------
    def upstream_given(self, s, suffix: str = "") -> list | None:
        """The upstream gradients backward is called with (suffix 2 and 3: the later calls), or
        None when the scenario makes no such call."""
        keys = [f"{u}{suffix}" for u in self.upstream]
        return [s[k] for k in keys] if all(k in s for k in keys) else None

    def upstream_ones(self, s, suffix: str = "") -> list:
        return [np.ones_like(s.arrays[f"{u}{suffix}"]) for u in self.upstream]

    def has_second(self, s) -> bool:
        return self.upstream_given(s, SECOND) is not None

    def has_new(self, s) -> bool:
        return any(f"{name}{NEW}" in s for name in (*self.inputs, *self.fixed))


def _grad_path(param: str) -> str:
    head, _, leaf = param.rpartition(".")
    return f"{head}.d{leaf}" if head else f"d{leaf}"


def _key(path: str) -> str:
    """A result key for a dotted path: ln1.dgamma -> ln1_dgamma (dots separate key parts)."""
    return path.replace(".", "_")


def _get(obj, path: str):
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _set(obj, path: str, value) -> None:
    head, _, leaf = path.rpartition(".")
    setattr(_get(obj, head) if head else obj, leaf, value)


# ---- the worker's side -------------------------------------------------------------------

def _as_tuple(value, names: tuple, what: str) -> tuple:
    if len(names) == 1:
        return (value,)
    if not isinstance(value, (tuple, list)) or len(value) != len(names):
        shown = "(" + ", ".join(names) + ")"
        raise TypeError(t("backward returned {got}; expected a tuple {names}", got=describe(value), names=shown)
                        if what == "backward" else
                        t("{what} must return a tuple ({names}), got {got}", what=what, names=", ".join(names),
                          got=describe(value)))
    return tuple(value)


def _forward(spec: Layer, obj, s: Scenario, suffix: str = ""):
    args = [s[f"{name}{suffix}"] if f"{name}{suffix}" in s else s[name] for name in spec.inputs]
    for name in spec.fixed:
        key = f"{name}{suffix}" if f"{name}{suffix}" in s or suffix else name
        args.append(s[key] if key in s else None)
    return obj.forward(*args, **spec.extra_args)


def measured(call) -> tuple:
    """(call's result, the most memory it held at once, in bytes, as tracemalloc counts NumPy's
    allocations)."""
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    try:
        result = call()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        if not tracing:
            tracemalloc.stop()
    return result, float(peak)


def _backward(spec: Layer, obj, s: Scenario, suffix: str = "", measure: bool = False) -> dict:
    call = lambda: obj.backward(*spec.upstream_given(s, suffix))  # noqa: E731
    returned, peak = measured(call) if measure else (call(), None)
    out = {} if peak is None else {"peak": peak}
    if spec.returned:
        out.update({f"{g}{suffix}": snapshot(v)
                    for g, v in zip(spec.returned, _as_tuple(returned, spec.returned, "backward"))})
    else:
        out[f"returned{suffix}"] = snapshot(returned)
    out.update({f"{_key(g)}{suffix}": snapshot(_get(obj, g)) for g in spec.set_grads})
    return out


def build(spec: Layer, module, s: Scenario):
    """The learner's object with the grader's parameters in it."""
    obj = spec.make(module, s) if spec.make else getattr(module, spec.cls)()
    for p in (*spec.params, *spec.frozen):
        _set(obj, p, s[p])
    return obj


def drive(spec: Layer, module, s: Scenario) -> dict:
    """A "perturb" scenario: the outputs around each array; "memory": one forward, and the
    backward with the peak memory it allocated (key "peak"); otherwise the calls of the life
    cycle."""
    obj = build(spec, module, s)
    if s.mode == "memory":
        outputs = _as_tuple(_forward(spec, obj, s), spec.outputs, "forward")
        return {**{o: snapshot(v) for o, v in zip(spec.outputs, outputs)}, **_backward(spec, obj, s, measure=True)}
    if s.mode == "perturb":
        held = {name: s[name] for name in (*spec.inputs, *spec.fixed) if name in s}
        for p in spec.params:  # the arrays the object holds: perturbing them moves its forward
            held[p] = _get(obj, p)
        args = [held[name] for name in spec.inputs] + [held.get(name) for name in spec.fixed]

        def outputs():
            forward = (build(spec, module, s) if spec.redraws else obj).forward
            values = _as_tuple(forward(*args, **spec.extra_args), spec.outputs, "forward")
            return np.concatenate([np.asarray(v, dtype=np.float64).reshape(-1) for v in values])
        out = {}
        for name in s.params.get("wrt", spec.differentiable):
            out[f"plus.{name}"], out[f"minus.{name}"] = perturbed_outputs(outputs, held[name], s.params["h"])
        return out
    given = {name: s[name] for name in (*spec.inputs, *spec.fixed, *spec.upstream) if name in s}
    params = {p: _get(obj, p) for p in (*spec.params, *spec.frozen)}
    first = _as_tuple(obj.forward(*[given[n] for n in spec.inputs], *[given.get(n) for n in spec.fixed],
                                  **spec.extra_args), spec.outputs, "forward")
    out = {o: snapshot(v) for o, v in zip(spec.outputs, first)}
    out.update(_backward(spec, obj, _Given(s, given)))
    out.update({f"wrote.{_key(g)}": _written(obj, g) for g in spec.frozen_grads})
    if spec.has_second(s):
        out.update(_backward(spec, obj, s, SECOND))
    if spec.has_new(s):  # a new forward: backward must use it
        new = _as_tuple(_forward(spec, obj, s, NEW), spec.outputs, "forward")
        out.update({f"{o}{NEW}": snapshot(v) for o, v in zip(spec.outputs, new)})
        third = _backward(spec, obj, s, NEW)
        out.update(third)
        # the same backward once more: a backward that reads only what forward cached gives the
        # same answer twice; one that changed its cache (or accumulates) does not
        again = _backward(spec, obj, s, NEW)
        out.update({f"{k[:-len(NEW)]}{AGAIN}": v for k, v in again.items() if k.endswith(NEW)})
    out.update({f"after.{name}": value for name, value in given.items()})
    out.update({f"after.{p}": value for p, value in params.items()})
    return out


def _written(obj, path: str) -> bool:
    """Did backward write a gradient attribute (one that is not None)?"""
    try:
        return _get(obj, path) is not None
    except AttributeError:
        return False


class _Given:
    """A scenario whose first-call arrays are the ones already handed to the learner (so that
    purity is judged on the very arrays forward and backward received)."""

    def __init__(self, s: Scenario, given: dict):
        self.s, self.given, self.params = s, given, s.params

    def __getitem__(self, key):
        return self.given[key] if key in self.given else self.s[key]

    def __contains__(self, key):
        return key in self.given or key in self.s


# ---- the trusted side --------------------------------------------------------------------

def _tensor(ref, value):
    value = np.asarray(value)
    if value.dtype == np.bool_:
        return ref.torch.tensor(value)
    if np.issubdtype(value.dtype, np.integer):
        return ref.long(value)
    return ref.leaf(value, False)


def _one_call(spec: Layer, ref, arrays: dict, upstream: list, inputs_suffix: str = "",
              options: dict | None = None) -> dict:
    """Forward and backward in PyTorch for one call; the outputs and every gradient."""
    leaves = {}
    for name in spec.inputs:
        leaves[name] = ref.leaf(arrays.get(f"{name}{inputs_suffix}", arrays[name]))
    for p in spec.params:
        leaves[p] = ref.leaf(arrays[p])
    frozen = {p: ref.leaf(arrays[p], False) for p in spec.frozen}
    fixed = {}
    for name in (*spec.fixed, *spec.drawn):
        key = f"{name}{inputs_suffix}" if inputs_suffix else name
        fixed[name] = _tensor(ref, arrays[key]) if key in arrays else None
    kwargs = {name.replace(".", "_"): v for name, v in {**leaves, **frozen, **fixed}.items()}
    options = options or {}
    y = spec.torch(ref.torch, **kwargs, **spec.extra_args, **options)
    ys = y if isinstance(y, tuple) else (y,)
    sum((yk * ref.leaf(u, False)).sum() for yk, u in zip(ys, upstream)).backward()
    out = {o: ref.numpy(yk) for o, yk in zip(spec.outputs, ys)}
    for g, name in zip(spec.returned, spec.inputs):
        grad = leaves[name].grad
        out[g] = ref.numpy(grad) if grad is not None else np.zeros_like(arrays[name])
    for g, p in spec.set_grads.items():
        grad = leaves[p].grad
        out[_key(g)] = ref.numpy(grad) if grad is not None else np.zeros_like(arrays[p])
    return out


def reference(spec: Layer, ref, s: Scenario) -> dict:
    a = s.arrays
    options = {name: s.params[name] for name in spec.options}
    _call = functools.partial(_one_call, options=options)
    out = _call(spec, ref, a, spec.upstream_given(s) or spec.upstream_ones(s))
    ones = _call(spec, ref, a, spec.upstream_ones(s))
    out.update({f"{ONES}{k}": v for k, v in ones.items() if k not in spec.outputs})
    if spec.has_second(s):
        out.update({f"{k}{SECOND}": v for k, v in _call(spec, ref, a, spec.upstream_given(s, SECOND)).items()})
    if spec.has_new(s):
        new = spec.upstream_given(s, NEW)
        out.update({f"{k}{NEW}": v for k, v in _call(spec, ref, a, new, NEW).items()})
        ones = _call(spec, ref, a, spec.upstream_ones(s, NEW), NEW)
        out.update({f"{ONES}{k}{NEW}": v for k, v in ones.items() if k not in spec.outputs})
        stale = _call(spec, ref, a, new)  # the first forward's cache with the new upstream
        out.update({f"{STALE}{k}": v for k, v in stale.items() if k not in spec.outputs})
    return out


# ---- scenarios ---------------------------------------------------------------------------

def twice(first: dict, second_upstream: dict, new_inputs: dict, new_upstream: dict) -> dict:
    """The arrays of the scenario with three calls: the first call's, the second backward's
    upstream (suffix 2), and the new forward's inputs and upstream (suffix 3)."""
    return {**first, **{f"{k}{SECOND}": v for k, v in second_upstream.items()},
            **{f"{k}{NEW}": v for k, v in {**new_inputs, **new_upstream}.items()}}


def perturb(basic: Scenario, wrt: tuple | None = None) -> Scenario:
    """The scenario of basic's forward outputs around each array (wrt: only these)."""
    params = {**basic.params, "h": compare.H, **({"wrt": list(wrt)} if wrt else {})}
    return Scenario(f"{basic.name}.perturb", "perturb", basic.arrays, params)


def standard(spec: Layer, draw: Callable, rng, n: int | None = None) -> list[Scenario]:
    """basic (and its perturbation), single (a batch of one) and twice, from draw(rng, n) ->
    the arrays of one call (inputs, fixed, parameters and upstream) for a batch of n."""
    n = n if n is not None else int(rng.integers(3, 6))
    basic = Scenario("basic", "backward", draw(rng, n))
    first, second, third = draw(rng, n), draw(rng, n), draw(rng, n)
    new = {k: third[k] for k in (*spec.inputs, *spec.fixed) if k in third}
    return [basic, perturb(basic, spec.numgrad and [spec.grads[g] for g in spec.numgrad]),
            Scenario("single", "backward", draw(rng, 1)),
            Scenario("twice", "backward", twice(first, {u: second[u] for u in spec.upstream}, new,
                                                 {u: third[u] for u in spec.upstream}))]


# ---- checks ------------------------------------------------------------------------------

def project(spec: Layer):
    """The numgrad projection: sum(outputs * upstream) over every output, as drive flattens them."""
    def projection(ev, scenario):
        base = ev.scenarios[scenario[: -len(".perturb")]]
        given = spec.upstream_given(base) or spec.upstream_ones(base)
        return compare.weighted_sum(np.concatenate([np.asarray(u, dtype=np.float64).reshape(-1) for u in given]))
    return projection


def checks(spec: Layer, torch_scenario: str, torch_title: str = "{key} matches PyTorch",
           single: str | None = "single",
           twice_scenario: str | None = "twice", purity: tuple | None = None,
           with_outputs: bool = False, shape_scenario: str = "basic", extra: tuple = (),
           numgrad_scenario: str = "basic") -> list[Check]:
    """The standard checks of a layer, every id stable across exercises. with_outputs: the
    first torch check compares forward's outputs too (a loss's value); extra: the exercise's own
    checks, placed before the later calls' checks."""
    grads = spec.grads
    likes = {g: of for g, of in grads.items()}
    numgrad = spec.numgrad if spec.numgrad is not None else tuple(grads)
    all_grads = tuple(grads)
    points = spec.numgrad_points if isinstance(spec.numgrad_points, dict) else \
        {g: spec.numgrad_points for g in numgrad}
    found = [shape_check(g, like=likes[g], scenario=shape_scenario) for g in all_grads]
    found += [numgrad_check(g, grads[g], project(spec), scenario=numgrad_scenario, points=points.get(g, 1))
              for g in numgrad]
    for number, g in enumerate(all_grads):
        also = spec.outputs if with_outputs and number == 0 else ()
        found.append(Check(f"torch.{g}", "torch", (g, *also) if also else g, 1, torch_scenario,
                           matches_reference(g, *also), torch_title, title_args=(("key", g),)))
    if single:
        found.append(Check("edge.single", "edge", all_grads, 1, single, matches_reference(*all_grads),
                           "batch of one"))
    found += extra
    if twice_scenario:
        found.append(Check("edge.second_backward", "edge", all_grads, 1, twice_scenario,
                           matches_reference(*((f"{g}{SECOND}", f"{g}{SECOND}", g) for g in all_grads)),
                           "a second backward with a new upstream gradient", call="second"))
        found.append(Check("edge.new_forward", "edge", all_grads, 1, twice_scenario,
                           matches_reference(*((f"{g}{NEW}", f"{g}{NEW}", g) for g in all_grads)),
                           "after a new forward, backward uses the new inputs", call="new_forward"))
    if spec.frozen:
        found.append(Check("edge.frozen", "edge", tuple(_key(g) for g in spec.frozen_grads), 1, "basic",
                           _nothing_written(spec), "the frozen {names} get no gradient",
                           title_args=(("names", ", ".join(spec.frozen)),)))
    shown = purity if purity is not None else (*spec.inputs, *spec.fixed, *spec.params, *spec.frozen,
                                               *spec.upstream)
    found.append(unchanged_check(*shown))
    return found


def _nothing_written(spec: Layer):
    """backward wrote no gradient attribute for a frozen parameter (self.dW stays unset or None)."""
    def judge(ev, check) -> None:
        for g, p in spec.frozen_grads.items():
            v = ev.value(check.scenario, f"wrote.{_key(g)}")
            if v.kind != "bool" or v.value:
                raise Failed(t("{grad} was written, but {param} is frozen: it gets no gradient",
                               grad=g, param=p), target=_key(g))
    return judge


# ---- diagnosis ---------------------------------------------------------------------------

def where(spec: Layer):
    def locate(probe) -> str:
        forward = probe.label in (*spec.outputs, *spec.state)
        return f"{spec.cls}.forward" if forward else f"{spec.cls}.backward"
    return locate


def sizes(spec: Layer):
    def size(ev, scenario) -> dict:
        # a scenario of several batches may lack the batch input: then there is no one N
        batch = ev.inputs(scenario).get(spec.batch) if spec.batch else None
        return {"N": batch.shape[0]} if batch is not None else {}
    return size


def call_arrays(spec: Layer, p) -> dict:
    """The arrays of the call a check judges, under their plain names: the first call's, the
    second backward's (its upstream gradients), or the new forward's (its inputs and upstream);
    a loss's dout is a number here; the scenario's options (stride, padding) are there too."""
    params = p.ev.params(p.scenario)
    arrays = {**{name: params.get(name) for name in spec.options}, **p.inputs}
    scenario = p.ev.scenarios[p.scenario]
    suffix = {"second": SECOND, "new_forward": NEW}.get(p.check.call, "")
    given = spec.upstream_given(scenario, suffix)
    arrays.update(zip(spec.upstream, given if given else spec.upstream_ones(scenario, suffix)))
    if p.check.call == "new_forward":
        arrays.update({name: arrays[f"{name}{NEW}"] for name in (*spec.inputs, *spec.fixed, *spec.drawn)
                       if f"{name}{NEW}" in arrays})
    return arrays


def rule(spec: Layer, label: str, evidence: str, wrong: Callable, args: tuple = ("x", "dout")):
    """A formula test for one gradient: wrong(*args), the arrays (and options) of the call the
    check judges (call_arrays: the first call's, the second backward's or the new forward's), is
    the answer the mistake gives; None when it cannot tell."""
    def candidate(p):
        if p.label != label:
            return None
        arrays = call_arrays(spec, p)
        return wrong(*(arrays[name] for name in args))
    return formula(evidence, candidate)


def _reference_key(p, prefix: str) -> np.ndarray | None:
    """The kept reference for what a mistake would give, for the checked gradient (a failure's
    label is the gradient's own name, dx, whichever call the check judges)."""
    return p.reference().get(f"{prefix}{p.label}")


def _accumulated(p):
    """After a second backward: the first call's gradient plus the second's; after the new
    forward's backward too: the sum of all three calls."""
    if p.check.call not in ("second", "new_forward") or p.got is None:
        return None
    ref = p.reference()
    calls = [ref.get(p.label), ref.get(f"{p.label}{SECOND}")]
    if p.check.call == "new_forward":
        calls.append(ref.get(f"{p.label}{NEW}"))
    if any(c is None for c in calls) or close(sum(calls), calls[-1]):
        return None
    if close(p.got, sum(calls)):
        return {"evidence": t("got = first call + second call") if len(calls) == 2 else
                t("got = the sum of every call's gradient")}
    return None


def _stale(p):
    if p.check.call != "new_forward" or p.got is None:
        return None
    stale = _reference_key(p, STALE)
    if stale is None or (p.expected is not None and close(stale, p.expected)):
        return None
    if close(p.got, stale):
        return {"evidence": t("after a new forward, {label} is what the first forward's inputs give",
                              label=p.label)}
    return None


def _dropped(p):
    if p.got is None:
        return None
    # the second backward reads the first forward's cache: the same local derivative
    ones = p.reference().get(f"{ONES}{p.label}{NEW if p.check.call == 'new_forward' else ''}")
    if ones is None or (p.expected is not None and close(ones, p.expected)):
        return None
    return {"evidence": ""} if close(p.got, ones) else None


def _cache_modified(p):
    """A later backward is wrong while the first after forward was right, and calling backward
    twice with the same upstream gradient gave two answers: backward changed what it reads."""
    if p.check.call != "second" or p.got is None:
        return None
    first = p.learner(p.scenario, p.label)
    ref = p.reference().get(p.label)
    third, again = p.learner(p.scenario, f"{p.label}{NEW}"), p.learner(p.scenario, f"{p.label}{AGAIN}")
    if first is None or ref is None or not close(first, ref) or third is None or again is None:
        return None
    if not close(third, again) and not close(again, 2 * third):  # (twice the gradient: accumulated)
        return {"evidence": t("the first backward after forward was right, a later one is not, and the "
                              "same backward called twice gave two answers")}
    return None


def _frozen_written(p):
    """backward wrote self.d<frozen> (a value that is not None): what edge.frozen's run shows."""
    if p.check.id != "edge.frozen" or not p.label:
        return None
    try:
        written = p.ev.value(p.scenario, f"wrote.{p.label}")
    except Failed:
        return None
    return {"evidence": ""} if written.kind == "bool" and written.value else None


MISTAKES = [
    Mistake("accumulated_not_overwritten", "{label} grew across calls: after a second backward it "
            "holds the sum of both calls' gradients. Assign the gradient (=), do not add to it (+=)",
            _accumulated),
    Mistake("stale_cache", "backward used what an earlier forward cached: {evidence}. Read what "
            "forward cached this time, every time", _stale),
    Mistake("dropped_upstream", "the upstream gradient was dropped: {label} equals the local "
            "derivative alone (what an upstream gradient of ones would give). Chain it: multiply "
            "by the upstream gradient", _dropped),
    Mistake("cache_modified_in_place", "backward changed what forward cached: {evidence}. Compute "
            "into a new array instead of modifying a cached one in place", _cache_modified, at_code=MODIFIED_ALIAS),
    Mistake("frozen_given_gradient", "backward computed a gradient for a frozen parameter and stored it "
            "in self.{label}. Frozen weights are not trained: leave them without a gradient (and save "
            "the work and the memory)", _frozen_written),
]
