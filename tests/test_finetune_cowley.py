"""The Cowley V4 fine-tuning experiment, reduced to CPU size: efficientnet-lite0 trained on
210322's natural images with the CKA loss against the λ = 0 control, evaluated on held-out
210322 images and on session 190923 (other animal, other neurons)."""

import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def test_reduced_cowley_finetuning_runs_end_to_end(tmp_path, data_root):
    spec = importlib.util.spec_from_file_location("finetune_cowley", ROOT / "bench" / "finetune_cowley.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    df = mod.main(["--reduced", "--steps", "4", "--conditions", "neural,lambda0", "--out", str(tmp_path),
                   "--device", "cpu"]).set_index("condition")
    assert list(df.index) == ["neural", "lambda0"]
    for cond in df.index:
        assert (tmp_path / cond / "score.nc").is_file()
        for col in ("heldout_predictivity", "generalization_predictivity", "task_fidelity", "robustness_pgd_eps1",
                    "robustness_pgd_eps2", "robustness_pgd_eps4"):
            assert np.isfinite(df.loc[cond, col]), (cond, col)
    # PGD robust accuracy is over the clean-correct images (all 12 for the unchanged model), ≤ 1 and
    # not larger at a larger ε (same random starts, a larger ball)
    assert df.loc["lambda0", "pgd_n_clean_correct"] == 12
    for cond in df.index:
        r = df.loc[cond, ["robustness_pgd_eps1", "robustness_pgd_eps2", "robustness_pgd_eps4"]].to_numpy(float)
        assert 0 <= r[2] <= r[1] <= r[0] <= 1, (cond, r)
    # λ = 0 with distillation leaves the model exactly as it was
    assert df.loc["lambda0", "task_fidelity"] == 1.0
    assert df.loc["lambda0", "heldout_predictivity"] == df.loc["lambda0", "heldout_predictivity_initial"]
    # the neural term moved the model (its agreement with the original is no longer perfect or predictivity moved)
    moved = (df.loc["neural", "task_fidelity"] < 1.0) or (
        df.loc["neural", "heldout_predictivity"] != df.loc["neural", "heldout_predictivity_initial"])
    assert moved
    assert 0.0 < df.loc["neural", "generalization_predictivity_initial"] < 1.0
