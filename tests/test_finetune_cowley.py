"""The Cowley V4 fine-tuning experiment, reduced to CPU size: efficientnet-lite0 trained on
210322's natural images with the CKA loss (λ = 0.1 of the update) against shuffled responses,
evaluated on the 120 held-out 210322 images and on session 190923 (other animal, other neurons),
with robustness levels calibrated on the original model."""

import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def test_reduced_cowley_finetuning_runs_end_to_end(tmp_path, data_root):
    spec = importlib.util.spec_from_file_location("finetune_cowley", ROOT / "bench" / "finetune_cowley.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.main(["--reduced", "--steps", "2", "--conditions", "neural,shuffled", "--out", str(tmp_path),
                    "--device", "cpu", "--n-other", "40"])
    df = res["summary"].set_index("condition")
    assert list(df.index) == ["original", "neural", "shuffled"]
    for cond in ("neural", "shuffled"):
        assert (tmp_path / cond / "lam0.1" / "seed0" / "score.nc").is_file()
    for col in ("heldout_predictivity", "generalization_predictivity", "task_fidelity", "noise_accuracy",
                "pgd_robust_accuracy"):
        assert np.isfinite(df[col].to_numpy(float)).all(), col
    # 120 held-out images; the original model sits near 50 % at the calibrated levels
    assert df.loc["original", "task_fidelity"] == 1.0
    assert 0.25 <= df.loc["original", "noise_accuracy"] <= 0.75
    assert 0.2 <= df.loc["original", "pgd_robust_accuracy"] <= 0.8
    assert (tmp_path / "finetune_pareto.png").is_file()
    comp = res["comparison"]
    assert set(comp["control"]) == {"shuffled"} and np.isfinite(comp["mde"]).any()
