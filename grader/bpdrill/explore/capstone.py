"""The capstone: train a small network on real data with nothing but your own Tensor and Adam.

    bpdrill capstone [--seed N] [--no-torch]

The data are the 8x8 handwritten digits scikit-learn ships (1,797 images, 10 classes; an
optional extra). The network is 64 -> 64 (ReLU) -> 10, log_softmax and the mean negative
log-likelihood, built from the learner's autograd.Tensor and trained with the learner's
adam.Adam (lr 0.01, batches of 64, 20 epochs). A correct engine reaches about 97-98% test
accuracy in about a second.

The learner's code runs in a worker (a task job of bpdrill.grading.isolation); the same network,
from the same initial weights and over the same batches, is trained in PyTorch (float64) in a
separate trusted process (`python -I -m bpdrill.explore.capstone torch DIR`), so that the grader's
process never imports torch. The verdict is checked, not guessed: the learner's gradients of
the first batch are compared with a NumPy computation here, the first Adam step with its
formula, and a loss that is NaN or does not fall says which part to check first.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from bpdrill import i18n
from bpdrill.core import protocol
from bpdrill.i18n import t
from bpdrill.core.protocol import Scenario

HIDDEN, EPOCHS, BATCH, LR = 64, 20, 64, 0.01
TIMEOUT = 120.0  # seconds for the learner's training (a correct engine needs about 1-5)
ACCURACY_BAR = 0.95
TEST_SIZE = 360
PARAMS = ("W1", "b1", "W2", "b2")


# ---- the data (trusted side) ----------------------------------------------------------------

def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """(X (1797, 64) in [0, 1], y (1797,) int); MissingExtra when scikit-learn is not installed."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        from bpdrill.explore.plots import MissingExtra
        raise MissingExtra("scikit-learn", t("the capstone")) from None
    X, y = sklearn_digits(return_X_y=True)
    return np.asarray(X, dtype=np.float64) / 16.0, np.asarray(y, dtype=np.int64)


def make_scenario(seed: int, X: np.ndarray, y: np.ndarray, epochs: int = EPOCHS) -> Scenario:
    """A fixed train/test split; the seed draws the initial weights and the order of the batches."""
    split = np.random.default_rng(0).permutation(len(X))
    test, train = split[:TEST_SIZE], split[TEST_SIZE:]
    rng = np.random.default_rng([seed, 7])
    arrays = {
        "X_train": X[train], "Y_train": np.eye(10)[y[train]], "X_test": X[test], "y_test": y[test].astype(float),
        "W1": rng.normal(size=(64, HIDDEN)) * np.sqrt(2 / 64), "b1": np.zeros(HIDDEN),
        "W2": rng.normal(size=(HIDDEN, 10)) * np.sqrt(1 / HIDDEN), "b2": np.zeros(10),
        "order": np.stack([rng.permutation(len(train)) for _ in range(epochs)]).astype(float),
    }
    return Scenario("digits", "capstone", arrays, {"epochs": epochs, "batch": BATCH, "lr": LR})


def batches(order: np.ndarray, batch: int):
    """(epoch, indices) of every batch, in order."""
    for epoch, perm in enumerate(order.astype(np.int64)):
        for start in range(0, len(perm), batch):
            yield epoch, perm[start:start + batch]


# ---- in the worker: the learner's Tensor and Adam ---------------------------------------------

def _progress(done: int, total: int) -> None:
    """Word of progress in the job folder (the worker's current folder), for the grader's bar."""
    try:
        with open("progress.tmp", "w") as f:
            f.write(f"{done} {total}")
        os.replace("progress.tmp", "progress")
    except OSError:
        pass


def train_task(modules: dict, scenario: Scenario) -> dict:
    Tensor, Adam = modules["autograd"].Tensor, modules["adam"].Adam
    p = scenario.params
    params = {name: Tensor(scenario[name], requires_grad=True) for name in PARAMS}
    optimiser = Adam({name: params[name].data for name in PARAMS}, lr=p["lr"])
    X, Y = scenario["X_train"], scenario["Y_train"]
    epochs = p["epochs"]
    losses, found = np.zeros(epochs), {}
    started = time.perf_counter()
    for step, (epoch, idx) in enumerate(batches(scenario["order"], p["batch"])):
        hidden = (Tensor(X[idx]) @ params["W1"] + params["b1"]).relu()
        logp = (hidden @ params["W2"] + params["b2"]).log_softmax(axis=-1)
        loss = (logp * Y[idx]).sum() * (-1.0 / len(idx))
        for tensor in params.values():
            tensor.grad = None
        loss.backward()
        grads = {name: params[name].grad for name in PARAMS}
        if step == 0:
            found.update({f"grad0_{name}": None if g is None else np.array(g, dtype=np.float64)
                          for name, g in grads.items()})
            if any(found[f"grad0_{name}"] is None or found[f"grad0_{name}"].shape != params[name].shape
                   for name in PARAMS):  # no use stepping: the trusted side says which gradient
                return {"losses": np.full(epochs, np.nan), "seconds": 0.0, **found}
        optimiser.step(grads)
        if step == 0:
            found.update({f"after0_{name}": np.array(params[name].data, dtype=np.float64) for name in PARAMS})
        losses[epoch] += float(np.asarray(loss.data)) * len(idx) / len(X)
        if idx[-1] == scenario["order"][epoch, -1]:  # the epoch's last batch
            _progress(epoch + 1, epochs)
            if not np.isfinite(losses[epoch]):
                losses[epoch + 1:] = np.nan
                break
    seconds = time.perf_counter() - started
    final = {f"final_{name}": np.array(params[name].data, dtype=np.float64) for name in PARAMS}
    return {"losses": losses, "seconds": seconds, **final, **found}  # accuracy is computed by the grader


def _logits(params: dict, X: np.ndarray) -> np.ndarray:
    hidden = np.maximum(X @ params["W1"] + params["b1"], 0.0)
    return hidden @ params["W2"] + params["b2"]


# ---- trusted checks of what came back ---------------------------------------------------------

def first_batch_gradients(scenario: Scenario) -> dict:
    """The gradients of the first batch's loss, by hand in NumPy (trusted)."""
    idx = next(batches(scenario["order"], scenario.params["batch"]))[1]
    X, Y = scenario["X_train"][idx], scenario["Y_train"][idx]
    W1, b1, W2, b2 = (scenario[name] for name in PARAMS)
    z1 = X @ W1 + b1
    h = np.maximum(z1, 0.0)
    z2 = h @ W2 + b2
    z2 = z2 - z2.max(axis=1, keepdims=True)
    probs = np.exp(z2) / np.exp(z2).sum(axis=1, keepdims=True)
    dz2 = (probs - Y) / len(idx)
    dh = dz2 @ W2.T
    dz1 = dh * (z1 > 0)
    return {"W1": X.T @ dz1, "b1": dz1.sum(axis=0), "W2": h.T @ dz2, "b2": dz2.sum(axis=0)}


def first_adam_step(scenario: Scenario, grads: dict) -> dict:
    """The parameters after one step of Adam from these gradients (step 1: m_hat = g, v_hat = g * g)."""
    lr = scenario.params["lr"]
    return {name: scenario[name] - lr * grads[name] / (np.sqrt(grads[name] ** 2) + 1e-8) for name in PARAMS}


def _relative_error(got, want) -> float:
    """The largest difference over the largest expected value; inf for a missing or misshapen array."""
    if not isinstance(got, np.ndarray):
        return float("inf")
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    if got.shape != want.shape:
        return float("inf")
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-12))


@dataclass
class Capstone:
    seed: int
    verdict: str = ""  # one sentence: what the run shows, or what to check first
    ok: bool = False  # the learner's engine trained and reached the bar
    losses: dict = field(default_factory=dict)  # "yours" / "torch" -> loss per epoch
    accuracy: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    torch_note: str = ""  # why there is no PyTorch run, when there is none


def judge(scenario: Scenario, outcome, files: dict) -> Capstone:
    from bpdrill.explore.explore import error_text
    from bpdrill.core.places import place
    result = Capstone(seed=-1)
    if outcome.failure is not None:
        from bpdrill.explore.explore import which_file
        path = which_file(outcome.hang, files.values())
        where = place(path, outcome.hang) if path else ""
        result.verdict = t("your engine did not finish: {failure}{where}", failure=outcome.failure, where=where)
        return result
    if outcome.import_error is not None:
        result.verdict = t("your files could not be imported: {error}", error=error_text(outcome.import_error, files.values()))
        return result
    answer = (outcome.results or {}).get(scenario.name)
    if answer is None or answer["error"] is not None:
        error = (answer or {}).get("error") or {}
        if error.get("not_implemented"):
            result.verdict = t("your Tensor or Adam is not finished ({error}): finish autograd and adam first "
                               "(bpdrill check autograd adam)", error=error_text(error, files.values()))
        else:
            result.verdict = t("your engine raised an error while training: {error}; check autograd first",
                               error=error_text(error, files.values()) if error else t("no answer"))
        return result
    values = {k: (v.array if v.array is not None else v.value) for k, v in answer["values"].items()}
    try:
        losses = np.asarray(values["losses"], dtype=float)
        result.losses["yours"] = losses
        result.seconds["yours"] = float(values["seconds"])
        final = {name: values.get(f"final_{name}") for name in PARAMS}
        if all(isinstance(final[name], np.ndarray) and final[name].shape == scenario[name].shape for name in PARAMS):
            logits = _logits(final, scenario["X_test"])
            if np.all(np.isfinite(logits)):
                result.accuracy["yours"] = float(np.mean(logits.argmax(axis=1) == scenario["y_test"]))
        want = first_batch_gradients(scenario)
        grad_errors = {name: _relative_error(values.get(f"grad0_{name}"), want[name]) for name in PARAMS}
        step_errors = {name: _relative_error(values.get(f"after0_{name}"), s)
                       for name, s in first_adam_step(scenario, want).items()}
    except (KeyError, TypeError, ValueError):
        result.verdict = t("your engine returned something that is not an array: check autograd first")
        return result
    worst = max(grad_errors, key=grad_errors.get)
    if not np.isfinite(grad_errors[worst]):
        result.verdict = t("your Tensor's gradients are wrong: after the first backward {name}.grad is missing or "
                           "has the wrong shape: check autograd first (bpdrill check autograd)", name=worst)
    elif grad_errors[worst] > 1e-6:
        result.verdict = t("your Tensor's gradients are wrong: on the first batch {name} is off by {error:.1e} "
                           "(relative): check autograd first (bpdrill check autograd)", name=worst,
                           error=grad_errors[worst])
    elif max(step_errors.values()) > 1e-6:
        result.verdict = t("your gradients are right but the first Adam step is not: check adam first "
                           "(bpdrill check adam)")
    elif not np.all(np.isfinite(losses)):
        result.verdict = t("the loss became NaN or infinite while training: your Tensor's gradients are "
                           "wrong somewhere: check autograd first")
    elif losses[-1] > 0.5 * losses[0]:
        result.verdict = t("the loss did not fall (from {first:.3f} to {last:.3f}): your Tensor's gradients "
                           "are wrong: check autograd first", first=losses[0], last=losses[-1])
    elif result.accuracy.get("yours", 0.0) < ACCURACY_BAR:
        result.verdict = t("the loss fell but the test accuracy is only {accuracy:.1%} (the bar is {bar:.0%}): "
                           "check autograd and adam", accuracy=result.accuracy.get("yours", 0.0), bar=ACCURACY_BAR)
    else:
        result.ok = True
        result.verdict = t("your Tensor and Adam trained a network to {accuracy:.1%} test accuracy on digits "
                           "it never saw", accuracy=result.accuracy["yours"])
    return result


# ---- running it -------------------------------------------------------------------------------

def run(ws, seed: int = 0, epochs: int = EPOCHS, with_torch: bool = True, on_progress=None) -> Capstone:
    """Train with the learner's autograd.py and adam.py (in a worker), then in PyTorch."""
    from bpdrill.grading.isolation import run_workers
    X, y = load_digits()
    scenario = make_scenario(seed, X, y, epochs)
    files = {"autograd": str(ws / "autograd.py"), "adam": str(ws / "adam.py")}
    job = {"task": "bpdrill.explore.capstone:train_task", "files": files,
           "classes": {"autograd": "Tensor", "adam": "Adam"}, "lang": i18n.language()}

    def tick(index, folder):
        if on_progress is None:
            return
        try:
            with open(os.path.join(folder, "progress")) as f:
                done, total = (int(v) for v in f.read().split())
        except (OSError, ValueError):
            return
        on_progress(done, total)

    outcome = run_workers([(job, [scenario])], TIMEOUT, 1, tick=tick)[0]
    result = judge(scenario, outcome, files)
    result.seed = seed
    if with_torch:
        try:
            add_torch(result, run_torch(scenario), seed)
        except RuntimeError as exc:
            result.torch_note = str(exc)
    return result


def add_torch(result: Capstone, torch_run: dict, seed: int) -> None:
    """PyTorch's run of the same scenario beside the learner's."""
    X, y = load_digits()
    y_test = make_scenario(seed, X, y, 1)["y_test"]
    result.losses["torch"] = torch_run["losses"]
    result.seconds["torch"] = float(torch_run["seconds"])
    result.accuracy["torch"] = float(np.mean(torch_run["test_logits"].argmax(axis=1) == y_test))


def run_torch(scenario: Scenario) -> dict:
    """The same training in PyTorch, in a separate process (the grader never imports torch)."""
    folder = tempfile.mkdtemp(prefix="bpdrill-capstone-")
    try:
        protocol.write_job(folder, "capstone", "", "", [scenario], "en")
        proc = subprocess.run([sys.executable, "-I", "-m", "bpdrill.explore.capstone", "torch", folder],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT,
                              env={**os.environ, "BPDRILL_PREFETCH": "0"})
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
            raise RuntimeError(t("the PyTorch run failed: {error}", error=tail))
        with np.load(os.path.join(folder, "torch.npz"), allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except subprocess.TimeoutExpired:
        raise RuntimeError(t("the PyTorch run failed: {error}", error="timeout")) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def torch_main(folder: str) -> int:
    """In the helper process: train the same network in PyTorch float64, write torch.npz."""
    import torch  # only here, in its own process
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)  # small matrices: threads cost more than they give (and the worker has one)
    _, scenarios = protocol.read_job(folder)
    s = scenarios[0]
    p = s.params
    params = {name: torch.tensor(s[name], requires_grad=True) for name in PARAMS}
    optimiser = torch.optim.Adam(list(params.values()), lr=p["lr"])
    X, Y = torch.tensor(s["X_train"]), torch.tensor(s["Y_train"])
    losses = np.zeros(p["epochs"])
    started = time.perf_counter()
    for epoch, idx in batches(s["order"], p["batch"]):
        index = torch.from_numpy(idx)
        hidden = torch.relu(X[index] @ params["W1"] + params["b1"])
        logp = torch.log_softmax(hidden @ params["W2"] + params["b2"], dim=-1)
        loss = -(logp * Y[index]).sum() / len(idx)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses[epoch] += float(loss) * len(idx) / len(X)
    seconds = time.perf_counter() - started
    with torch.no_grad():
        final = {name: params[name].numpy().copy() for name in PARAMS}
    np.savez(os.path.join(folder, "torch.npz"), losses=losses, seconds=np.array(seconds),
             test_logits=_logits(final, s["X_test"]))
    return 0


def render(result: Capstone) -> str:
    lines = []
    rows = [("yours", t("your Tensor + Adam")), ("torch", "PyTorch (float64)")]
    for key, label in rows:
        if key not in result.losses:
            continue
        acc = result.accuracy.get(key)
        acc_text = f"{acc:.1%}" if acc is not None else "-"
        losses = result.losses[key]
        lines.append(t("{label:<22} test accuracy {accuracy:>6}   time {seconds:5.2f} s   loss {first:.3f} -> "
                       "{last:.3f}", label=label, accuracy=acc_text, seconds=result.seconds.get(key, float("nan")),
                       first=losses[0], last=losses[-1]))
    if result.torch_note:
        lines.append(result.torch_note)
    lines.append("")
    lines.append(result.verdict)
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv[:1] == ["torch"] and len(argv) == 2:
        return torch_main(argv[1])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
