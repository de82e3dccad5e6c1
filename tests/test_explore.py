"""See it: the explorations match the theory, use the learner's own layers (saying when they
do not), write their plots, and the capstone trains on real digits with a correct engine."""
from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from bpdrill.explore import capstone, explore
from bpdrill import i18n
from bpdrill.cli.main import cli
from bpdrill.grading.isolation import run_workers
from bpdrill.core.protocol import Scenario
from conftest import solution_path, wrong_fixture

SEED = 0


@pytest.fixture(autouse=True)
def own_folders(tmp_path, monkeypatch):
    """Every test: its own data folder and workspace."""
    monkeypatch.setenv("BPDRILL_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("BPDRILL_WORKSPACE", str(tmp_path / "ws"))
    yield tmp_path
    i18n.set_language("en")  # a --lang zh run leaves it set


def reference_choices(names) -> dict:
    return {name: explore.Choice(name, False, "test") for name in names}


@pytest.fixture(scope="module")
def vanishing():
    """The exploration at depth 20 with the reference layers (seeded, so deterministic)."""
    names = ("linear", "sigmoid", "tanh", "relu", "batchnorm", "init")
    return explore.run_vanishing(reference_choices(names), depth=20, seed=SEED)


def test_sigmoid_with_variance_1_over_fan_in_vanishes_a_hundredfold(vanishing):
    assert not vanishing.errors
    assert all(n.shape == (20,) for n in vanishing.norms.values())
    assert vanishing.ratio("sigmoid") <= 1e-2  # first layer at least 100x below the last
    assert vanishing.ratio("sigmoid") < 1e-8  # in fact about 0.25 ** 19


def test_he_init_keeps_relu_norms_within_a_factor_10_and_the_others_do_not(vanishing):
    assert vanishing.spread("relu_he") <= 10
    assert vanishing.spread("relu") > 10  # Xavier: the variance halves at every ReLU
    assert vanishing.spread("relu_naive") > 1e6  # N(0, 1): explodes toward the input


def test_residual_connections_keep_norms_within_a_factor_10(vanishing):
    assert vanishing.spread("sigmoid_residual") <= 10
    assert vanishing.ratio("relu_residual") >= 1  # the identity path: never below the last layer's


def test_batchnorm_tames_a_naive_init(vanishing):
    assert vanishing.spread("tanh_naive") > 100
    assert vanishing.spread("tanh_naive_bn") <= 10
    assert vanishing.spread("relu_naive_bn") < vanishing.spread("relu_naive") / 1e6


def test_every_curve_has_a_sentence_in_english_and_chinese(vanishing):
    text = explore.render_vanishing(vanishing)
    sentences = [line for line in text.splitlines() if line.startswith("      ")]
    assert len(sentences) == sum(len(keys) for _, keys in explore.PANELS)
    try:
        i18n.set_language("zh")
        chinese = [explore.what_it_shows(key, vanishing.ratio(key), 1.0) for key in explore.CURVES]
    finally:
        i18n.set_language("en")
    english = [explore.what_it_shows(key, vanishing.ratio(key), 1.0) for key in explore.CURVES]
    assert len(set(chinese)) == len(set(english)) == len(explore.CURVES)
    assert all(a != b for a, b in zip(chinese, english))


def test_exploding_diverges_without_clipping_and_trains_with_it():
    result = explore.run_exploding(reference_choices(("linear", "relu", "init", "clip_grad_norm")), seed=SEED)
    assert not result.errors
    assert result.diverged("plain")
    assert not np.all(np.isfinite(result.losses["plain"]))  # overflow, within a few steps
    assert result.trains("clipped")
    assert len(result.losses["clipped"]) == explore.EXPLODING["steps"]


def _workspace_with(tmp_path, files: dict):
    """A workspace where files (name -> source path) replace the skeletons."""
    runner = CliRunner()
    runner.invoke(cli, ["list"])
    ws = tmp_path / "ws"
    for name, source in files.items():
        shutil.copyfile(source, ws / f"{name}.py")
    return ws


def test_the_learners_files_are_used_when_they_pass_and_the_reference_otherwise(own_folders):
    relu_wrong = own_folders / "relu_wrong.py"
    relu_wrong.write_text(solution_path("relu").read_text().replace("mask = self.x > 0", "mask = self.x >= 0"))
    ws = _workspace_with(own_folders, {"linear": solution_path("linear"), "sigmoid": wrong_fixture(
        "sigmoid", "sign_flipped"), "tanh": solution_path("tanh"), "relu": relu_wrong})
    choices = explore.choose(ws, ("linear", "sigmoid", "tanh", "relu", "init"), seed=SEED)
    assert choices["linear"].mine  # its checks run (a grader module exists) and pass
    assert not choices["sigmoid"].mine and "/" in choices["sigmoid"].reason  # a score, not full marks
    assert choices["tanh"].mine and "passes its checks" in choices["tanh"].reason
    assert not choices["relu"].mine and "/" in choices["relu"].reason  # its checks run: a score
    assert not choices["init"].mine and choices["init"].reason == "not started"
    assert choices["sigmoid"].sentence() == ("using the reference Sigmoid: yours does not pass yet "
                                             f"({choices['sigmoid'].reason})")
    result = explore.run_vanishing(choices, depth=20, seed=SEED)  # the learner's Linear and Tanh, in a worker
    assert not result.errors
    assert result.ratio("sigmoid") <= 1e-2


def test_the_history_decides_when_its_last_check_is_newer_than_the_file(own_folders):
    from bpdrill.practice import history
    ws = _workspace_with(own_folders, {"linear": solution_path("linear")})
    hist = history.History.open()
    hist.record_check("linear", str(ws), 3, 8, "partial", 1, None)
    choice = explore.choose(ws, ("linear",), history=hist)["linear"]
    assert not choice.mine and choice.reason == "your last check of this file did not pass"


def test_a_task_worker_still_refuses_the_solutions_after_the_reference_was_loaded(own_folders):
    explore.reference_module("linear")  # loaded in this process, as before a fork
    ws = _workspace_with(own_folders, {})
    (ws / "linear.py").write_text("import bpdrill.solutions.linear\nfrom bpdrill.solutions.linear import Linear\n")
    job = {"task": "bpdrill.explore.tasks:probe_task", "files": {"linear": str(ws / "linear.py")},
           "classes": {"linear": "Linear"}, "lang": "en"}
    outcome = run_workers([(job, [Scenario("probe", "probe", {}, {"exercise": "linear", "seed": 1})])], 10, 1)[0]
    assert outcome.import_error is not None and outcome.import_error["type"] == "ForbiddenImport"


def test_the_cli_writes_the_png_and_names_what_it_used(own_folders):
    pytest.importorskip("matplotlib")
    result = CliRunner().invoke(cli, ["explore", "vanishing", "--no-open"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "using the reference Linear: yours does not pass yet (not started)" in result.output
    png = own_folders / "data" / "plots" / "vanishing.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = CliRunner().invoke(cli, ["explore", "exploding", "--no-open", "--steps", "10"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (own_folders / "data" / "plots" / "exploding.png").stat().st_size > 1000


def test_without_matplotlib_the_terminal_view_stays_and_says_how_to_get_the_plot(own_folders, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    result = CliRunner().invoke(cli, ["explore", "exploding", "--no-open", "--steps", "5"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "pip install 'bpdrill[see]'" in result.output and "clip_grad_norm" in result.output
    assert not (own_folders / "data" / "plots" / "exploding.png").exists()


def test_explore_speaks_chinese(own_folders):
    result = CliRunner().invoke(cli, ["explore", "exploding", "--no-open", "--steps", "5", "--lang", "zh"])
    assert "使用参考实现的" in result.output and "不裁剪" in result.output, result.output


# ---- the capstone ----------------------------------------------------------------------------

@pytest.mark.slow
def test_the_capstone_with_the_reference_engine_reaches_the_bar_beside_pytorch(own_folders):
    pytest.importorskip("sklearn")
    ws = _workspace_with(own_folders, {"autograd": solution_path("autograd"), "adam": solution_path("adam")})
    result = capstone.run(ws, seed=SEED)
    assert result.ok, result.verdict
    assert result.accuracy["yours"] >= capstone.ACCURACY_BAR + 0.01  # with margin
    assert result.seconds["yours"] < 60
    assert result.accuracy["torch"] == pytest.approx(result.accuracy["yours"], abs=0.01)  # same start, same batches
    np.testing.assert_allclose(result.losses["torch"], result.losses["yours"], rtol=1e-6)
    from bpdrill.explore import plots
    try:
        assert plots.capstone_png(result, own_folders / "c.png").stat().st_size > 1000
    except plots.MissingExtra:
        pass  # no matplotlib here: the plot is optional


@pytest.mark.parametrize("autograd,adam,says", [
    (("autograd", "matmul_transposed"), None, "your Tensor's gradients are wrong"),
    (("autograd", "relu_mask_on_upstream_grad"), None, "your Tensor's gradients are wrong"),
    (None, ("adam", "betas_swapped"), "the first Adam step is not"),
    ("skeleton", None, "not finished"),
])
def test_a_wrong_engine_gets_a_verdict_not_a_low_number(own_folders, autograd, adam, says):
    pytest.importorskip("sklearn")
    files = {"autograd": solution_path("autograd"), "adam": solution_path("adam")}
    if isinstance(autograd, tuple):
        files["autograd"] = wrong_fixture(*autograd)
    if adam:
        files["adam"] = wrong_fixture(*adam)
    if autograd == "skeleton":
        del files["autograd"]
    ws = _workspace_with(own_folders, files)
    result = capstone.run(ws, seed=SEED, epochs=2, with_torch=False)
    assert not result.ok
    assert says in result.verdict, result.verdict


def test_a_hang_or_a_crash_in_the_learners_layer_is_said_with_its_place(own_folders, monkeypatch):
    monkeypatch.setattr(explore, "TASK_TIMEOUT", 2.0)
    ws = _workspace_with(own_folders, {})
    names = ("linear", "sigmoid", "tanh", "relu", "batchnorm", "init")
    source = solution_path("linear").read_text()
    for body, says in (("        while True:\n            pass\n", "timed out after 2 s in Linear.backward"),
                       ("        raise ValueError('mine')\n", "ValueError: mine in Linear.backward")):
        (ws / "linear.py").write_text(source.replace("        # BEGIN TODO", body + "        # BEGIN TODO", 1))
        choices = {**reference_choices(names), "linear": explore.Choice("linear", True, "test", str(ws / "linear.py"))}
        result = explore.run_vanishing(choices, depth=4, seed=SEED)
        assert set(result.errors) == set(explore.CURVES), result.errors
        assert says in next(iter(result.errors.values())), result.errors


def test_the_plot_stays_english_when_the_terminal_speaks_chinese(own_folders):
    pytest.importorskip("matplotlib")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph would warn
        result = CliRunner().invoke(cli, ["explore", "vanishing", "--no-open", "--depth", "4", "--lang", "zh"],
                                    catch_exceptions=False)
    assert result.exit_code == 0 and "残差" in result.output, result.output
    assert (own_folders / "data" / "plots" / "vanishing.png").is_file()


def test_a_task_job_also_runs_where_workers_cannot_be_forked(monkeypatch):
    from bpdrill.grading import zygote_client
    monkeypatch.setattr(zygote_client, "CAN_FORK", False)  # a fresh interpreter reads the job from files
    names = ("linear", "sigmoid", "tanh", "relu", "batchnorm", "init")
    result = explore.run_vanishing(reference_choices(names), depth=20, seed=SEED)
    assert not result.errors, result.errors
    assert result.ratio("sigmoid") <= 1e-2
