"""Kept references are PyTorch's, fresh inputs every run, and a bad entry is never trusted."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from bpdrill.grading import refcache, registry, runner
from bpdrill.cli.main import cli
from conftest import solution_path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BPDRILL_CACHE", str(tmp_path / "refs"))
    return tmp_path / "refs"


def _scenarios(name, seed):
    return registry.get(name).scenarios_for(seed)


def _check(name, seed):
    return runner.run_checks({name: solution_path(name)}, seed)[0]


def test_a_checked_seed_keeps_its_references_and_the_next_run_uses_them(cache):
    assert _check("linear", 5).status == "passed"
    kept = refcache.load("linear", 5, _scenarios("linear", 5))
    assert kept is not None and "dW" in kept["square"]
    assert _check("linear", 5).status == "passed"


def test_a_corrupted_entry_is_detected_and_computed_again(cache):
    _check("sigmoid", 6)
    (entry,) = (cache / "sigmoid").rglob("6.npz")
    with np.load(entry) as stored:
        flat = refcache.unpack(str(stored["index"]), stored["data"])
    flat["basic/dx"] = flat["basic/dx"] + 1.0  # a wrong reference that still parses
    np.savez(entry, **refcache.pack(flat))
    assert refcache.load("sigmoid", 6, _scenarios("sigmoid", 6)) is None, "checksum"
    assert not entry.exists(), "removed, never trusted"
    assert _check("sigmoid", 6).status == "passed"


def test_an_entry_computed_from_other_inputs_is_stale(cache):
    _check("sigmoid", 7)
    other = _scenarios("sigmoid", 8)  # what a changed scenarios() would draw for seed 7
    assert refcache.load("sigmoid", 7, other) is None


def test_a_truncated_entry_is_recomputed(cache):
    _check("linear", 9)
    (entry,) = (cache / "linear").rglob("9.npz")
    entry.write_bytes(entry.read_bytes()[:100])
    assert refcache.load("linear", 9, _scenarios("linear", 9)) is None
    assert _check("linear", 9).status == "passed"


def test_runs_without_a_seed_draw_fresh_pooled_seeds_and_seed_n_repeats_a_run(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("BPDRILL_WORKSPACE", str(tmp_path / "ws"))
    for seed in (11, 12):
        refcache.store("linear", seed, _scenarios("linear", seed),
                       {s.name: {} for s in _scenarios("linear", seed)})
    seeds = set()
    for _ in range(2):
        doc = json.loads(CliRunner().invoke(cli, ["check", "linear", "--solution", "--json"]).output)
        seeds.add(doc["seed"])
    assert seeds == {11, 12}, "each pooled seed once: fresh hidden inputs every run"
    third = json.loads(CliRunner().invoke(cli, ["check", "linear", "--solution", "--json"]).output)
    assert third["seed"] not in seeds
    again = json.loads(CliRunner().invoke(cli, ["check", "linear", "--solution", "--json", "--seed",
                                                str(third["seed"])]).output)
    assert again["exercises"] == third["exercises"]


def _plain_check(*extra):
    return json.loads(CliRunner().invoke(cli, ["check", "linear", "--solution", "--json", *extra]).output)


def test_a_seed_given_with_seed_is_never_served_as_a_fresh_one(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("BPDRILL_WORKSPACE", str(tmp_path / "ws"))
    assert _plain_check("--seed", "4242")["seed"] == 4242
    assert refcache.pooled_seed(["linear"]) is None, "its references are kept, but not as fresh"
    assert _plain_check()["seed"] != 4242
    assert _plain_check("--seed", "4242")["seed"] == 4242, "a --seed run still repeats it"


def test_the_seed_of_a_check_with_no_pool_is_not_served_again(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("BPDRILL_WORKSPACE", str(tmp_path / "ws"))
    first = _plain_check()["seed"]  # drawn at random: the pool is empty
    assert refcache.pooled_seed(["linear"]) is None
    assert _plain_check()["seed"] != first
