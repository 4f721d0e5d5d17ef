"""λ as the neural term's share of the update (gradient-norm calibration on a known answer),
the λ sweep and its Pareto figure, the paired comparison, and the controls differing only
in their targets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuroalign.datasets.synthetic import load_synthetic
from neuroalign.errors import ConfigError, DataError
from neuroalign.finetune import balance_weights, gradient_norms, resolve_neural, run_finetune
from neuroalign.finetune import data as ft_data
from neuroalign.finetune.compare import compare
from neuroalign.finetune.sweep import run_sweep
from neuroalign.figures import finetune_pareto

from test_finetune import reference_model


def test_gradnorm_calibration_on_two_quadratic_terms():
    # task ½‖A(θ − a)‖², neural ½‖θ − b‖² at θ₀ = 0: gradients −Aᵀa... known in closed form
    A = torch.diag(torch.tensor([10.0, 10.0, 10.0], dtype=torch.float64))
    a, b = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64), torch.tensor([0.0, 2.0, 0.0], dtype=torch.float64)
    theta = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    task = lambda: 0.5 * ((A @ (theta - a)) ** 2).sum()  # noqa: E731  gradient Aᵀ A (θ − a) = (−100, 0, 0)
    neural = lambda: 0.5 * ((theta - b) ** 2).sum()  # noqa: E731  gradient (0, −2, 0)
    norms = gradient_norms([theta], {"task": task, "neural": neural})
    assert norms == pytest.approx({"task": 100.0, "neural": 2.0})
    for lam in (0.1, 0.25, 0.5, 0.9):
        w_t, w_n = balance_weights("gradnorm", lam, norms["task"], norms["neural"])
        assert (w_t, w_n) == pytest.approx((1 - lam, lam * 50.0))
        (g,) = torch.autograd.grad(w_t * task() + w_n * neural(), theta)
        # the update's components along each term's own direction: λ is the neural share
        share = abs(float(g[1])) / (abs(float(g[0])) + abs(float(g[1])))
        assert share == pytest.approx(lam)
    assert balance_weights("none", 3.0, 100.0, 2.0) == (1.0, 3.0)  # the raw weight, unchanged
    assert balance_weights("gradnorm", 0.0, 100.0, 0.0) == (1.0, 0.0)
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        balance_weights("gradnorm", 1.0, 100.0, 2.0)


def test_neural_spec_reads_the_benchmark_registry():
    asm, stim = resolve_neural("synthetic.encoding")
    alias, _ = resolve_neural("synthetic")
    np.testing.assert_array_equal(asm.values, alias.values)
    with pytest.raises(DataError, match="no responses per image"):
        resolve_neural("kriegeskorte2008.human_it.rsa")


SMALL = dict(layer="block2", steps=3, batch_size=8, lr=1e-3, device="cpu", progress=False, task_data="neural",
             max_eval=8, noise_levels=(0.0, 0.2), pgd_eps=(1 / 255,), calibration_batches=2)


def test_conditions_differ_only_in_their_targets(tmp_path, monkeypatch):
    torch.set_num_threads(2)
    neural = load_synthetic(n_images=40, n_neurons=5)
    real = ft_data.make_targets
    # give every condition the neural targets: everything else equal, the runs must end in the same weights
    monkeypatch.setattr("neuroalign.finetune.train.make_targets",
                        lambda condition, **kw: real("neural", **kw))
    for cond in ("neural", "shuffled", "pixel"):
        run_finetune(reference_model(123), neural=neural, condition=cond, out_dir=tmp_path / cond, lam=0.5, **SMALL)
    weights = {c: torch.load(tmp_path / c / "model.pt")["model"] for c in ("neural", "shuffled", "pixel")}
    for k, v in weights["neural"].items():
        assert torch.equal(v, weights["shuffled"][k]) and torch.equal(v, weights["pixel"][k]), k
    # with their own targets the controls do differ
    monkeypatch.setattr("neuroalign.finetune.train.make_targets", real)
    run_finetune(reference_model(123), neural=neural, condition="shuffled", out_dir=tmp_path / "own", lam=0.5, **SMALL)
    own = torch.load(tmp_path / "own" / "model.pt")["model"]
    assert not torch.equal(own["block2.0.weight"], weights["neural"]["block2.0.weight"])


def test_sweep_writes_pareto_figure_and_paired_comparison(tmp_path):
    torch.set_num_threads(2)
    neural = load_synthetic(n_images=40, n_neurons=5)
    kw = {k: v for k, v in SMALL.items() if k not in ("noise_levels", "pgd_eps")}
    out = run_sweep(reference_model(123), out_dir=tmp_path, lams=(0.5,), conditions=("neural", "shuffled"),
                    seeds=(0, 1), neural=neural, noise_levels="auto", pgd_eps="auto", n_boot=50, log=lambda m: None,
                    **kw)
    summary, comp = out["summary"], out["comparison"]
    assert list(summary["condition"]) == ["original", "neural", "shuffled"]
    assert (summary.loc[summary["condition"] != "original", "n_seeds"] == 2).all()
    # the robustness levels were calibrated on the original model towards 50 %
    sigma, acc = out["levels"]["noise"]
    assert 0 < sigma <= 1 and 0 <= acc <= 1 and summary["noise_sigma"].iloc[0] == sigma
    made = finetune_pareto(summary, tmp_path / "fig")
    for ext in ("png", "svg", "csv"):
        assert made[ext].is_file() and made[ext].stat().st_size > 0
    same_lam = comp[(comp["quantity"] == "predictivity at matched lambda") & (comp["control"] == "shuffled")]
    assert list(same_lam["lam"]) == [0.5]
    row = same_lam.iloc[0]
    assert row["estimate"] == pytest.approx(row["a_value"] - row["control_value"])
    assert row["ci_low"] <= row["ci_high"] and row["mde"] == pytest.approx(2.8016 * row["se"], 1e-4)
    # rerunning finds every score finished: nothing is prepared or trained again
    again = run_sweep(reference_model(123), out_dir=tmp_path, lams=(0.5,), conditions=("neural", "shuffled"),
                      seeds=(0, 1), neural=neural, noise_levels="auto", pgd_eps="auto", n_boot=50, log=lambda m: None,
                      **kw)
    assert again["levels"] == {}


def _run(cond, lam, seed, y, pred, correct):
    n = len(correct)
    return {"condition": cond, "lam": lam, "seed": seed, "ids": tuple(map(str, range(len(y)))), "y": y,
            "pred": pred, "pred_initial": y * 0.2 + 1, "correct": correct, "correct_initial": np.ones(n, bool),
            "noise": correct, "noise_initial": np.ones(n, bool), "pgd": correct, "pgd_initial": np.ones(n, bool),
            "sigma": 0.1, "eps": 1 / 255}


def test_paired_comparison_known_answers():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(60, 8))
    noisy = y + rng.normal(size=y.shape) * 3
    good = y + rng.normal(size=y.shape) * 0.3
    correct = rng.random(60) < 0.8
    # identical conditions: every difference is exactly 0, interval [0, 0]
    same = [_run("neural", 0.5, 0, y, noisy, correct), _run("shuffled", 0.5, 0, y, noisy, correct)]
    d = compare(same, controls=["shuffled"], n_boot=100)
    assert np.allclose(d[["estimate", "ci_low", "ci_high"]].to_numpy(float), 0)
    # neural predicts far better at the same fidelity: the interval excludes 0
    better = [_run("neural", 0.5, 0, y, good, correct), _run("shuffled", 0.5, 0, y, noisy, correct)]
    d = compare(better, controls=["shuffled"], n_boot=200).set_index("quantity")
    row = d.loc["predictivity at matched lambda"]
    assert row["ci_low"] > 0.3 and row["estimate"] > row["ci_low"]
