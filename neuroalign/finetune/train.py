"""Fine-tuning with a neural term: ``loss = task + λ·neural``, its controls, checkpoints, a Score.

Why the design: the claim "neural data makes a network more brain-like / more robust"
needs controls that differ in nothing but the targets (shuffled responses, pixel-space
targets, λ = 0), so every condition runs this one loop with the same batches, the same
random draws and the same evaluation. The model runs in eval mode while its weights
train: BatchNorm keeps its statistics and dropout is off, so small neural batches do not
corrupt normalisation and a resumed run is bit-for-bit the uninterrupted one.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from ..atomic import atomic_path
from ..device import resolve_device
from ..errors import ConfigError, ModelError
from ..models import load_model
from .data import (CONDITIONS, check_disjoint, load_images, make_targets, make_task_data, resolve_neural, responses,
                   split_ids, stimulus_group)
from .evaluate import aggregate, agreement, forward_features, pool_features, ridge_predictivity, tap
from .losses import NEURAL_LOSSES, NeuralLoss, distillation_loss
from .robustness import PGD_EPS, PGD_STEPS, model_logits, noise_robustness, pgd_robustness

NOISE_LEVELS = (0.0, 0.05, 0.1, 0.2, 0.4)
CHECKPOINT = "checkpoint.pt"
WEIGHTS = "model.pt"
SCORE = "score.nc"
# settings that fix the original model's evaluation (not the condition, loss or schedule)
_EVAL_KEYS = ("model_identity", "preprocessing", "layer", "neural", "task_data", "seed", "eval_neural", "pool", "heldout_fraction",
              "noise_levels", "pgd_eps", "pgd_steps", "max_eval")
_INITIAL: dict[str, dict] = {}


def _config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _save_checkpoint(path: Path, *, step, module, neural_loss, optimizer, generator, history, config_hash):
    state = {"step": step, "model": module.state_dict(), "neural_loss": neural_loss.state_dict(),
             "optimizer": optimizer.state_dict(), "generator": generator.get_state(),
             "torch_rng": torch.get_rng_state(), "history": history, "config_hash": config_hash}
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _load_checkpoint(path: Path, config_hash: str, device):
    state = torch.load(path, map_location=device, weights_only=False)
    if state.get("config_hash") != config_hash:
        raise ConfigError(f"checkpoint {path} belongs to a run with other settings (config hash "
                          f"{state.get('config_hash')} vs {config_hash}); use another --out-dir or delete it.")
    return state


def run_finetune(model_spec, *, layer: str, neural, loss: str = "cka", lam: float = 1.0, steps: int = 200,
                 warmup: int = 0, probability: float = 1.0, condition: str = "neural", task_data=None,
                 batch_size: int = 32, lr: float = 1e-4, seed: int = 0, device="auto", out_dir,
                 eval_neural=None, progress: bool = True, pool: str = "flatten", heldout_fraction: float = 0.2,
                 checkpoint_every: int = 50, noise_levels=NOISE_LEVELS, pgd_eps=PGD_EPS,
                 pgd_steps: int = PGD_STEPS, max_eval: int = 256, weight_decay: float = 0.0, adam_eps: float = 1e-6, temperature: float = 1.0,
                 callback: Callable[[int], None] | None = None) -> xr.Dataset:
    """Fine-tune ``model_spec`` so that ``layer`` matches ``neural``; evaluate; write ``out_dir/score.nc``.

    ``neural``: a spec (``"synthetic"``, ``"cowley:210322:natural"``) or an
    ``(assembly, StimulusSet)`` tuple; its stimuli are split by id (seeded,
    ``heldout_fraction`` held out) into training and evaluation images. ``loss``: one of
    ``cka``, ``cka_debiased`` (``log(1 − CKA)``), ``rsa`` (1 − r of RDMs), ``readout_mse``,
    ``readout_poisson`` (a jointly trained linear head). ``condition``: ``neural``,
    ``shuffled``, ``pixel`` or ``lambda0``. Schedule: ``warmup`` steps task-only, then the
    neural term on each step with probability ``probability``. ``task_data``: ``None``
    (distillation to the original logits on the synthetic images), ``"neural"``
    (distillation on the neural training images) or an ``ImageFolder`` path (cross-entropy).
    ``eval_neural``: spec(s) of other neurons/sessions scored with a fresh ridge.
    ``pool``: ``flatten`` or ``mean`` (spatial average) of the layer, for loss and evaluation.

    Leak check: before anything is evaluated or trained, the held-out neural images, the
    task's evaluation images and every ``eval_neural`` image are compared by content
    (SHA-256 of bytes and of pixels) with every training image (neural and task); an
    overlap raises :class:`~neuroalign.errors.DataError` naming the images on both sides.

    Robustness: Gaussian pixel noise at ``noise_levels`` (agreement), and L∞ PGD with a
    random start at each ε of ``pgd_eps`` (pixel units; default 1, 2, 4 /255) with
    ``pgd_steps`` ≥ 20 steps: robust accuracy over the clean-correct evaluation images.

    Checkpoints (weights, optimizer, RNG, step, loss history) go atomically to
    ``out_dir/checkpoint.pt`` every ``checkpoint_every`` steps; a rerun with the same
    settings resumes from there and ends in the same weights. A finished run (its
    ``score.nc`` exists with the same settings) is returned without retraining.
    ``callback(step)`` is called after each completed step (after any checkpoint).

    Distillation targets are the frozen original model's logits on the very same batch,
    so the task gradient starts at exactly zero: Adam divides a gradient by its own size
    and would turn rounding noise (logits precomputed in another batch differ in the last
    bits) into full-size random steps. For the same reason ``adam_eps`` defaults to 1e-6,
    not 1e-8; the neural term's real gradients pass unchanged.
    """
    if condition not in CONDITIONS:
        from ..errors import unknown

        raise unknown("fine-tuning condition", condition, CONDITIONS)
    if loss not in NEURAL_LOSSES:
        from ..errors import unknown

        raise unknown("neural loss", loss, NEURAL_LOSSES)
    if not 0 <= probability <= 1 or lam < 0 or steps < 0 or warmup < 0 or batch_size < 4:
        raise ConfigError(f"need 0 <= probability <= 1, lam >= 0, steps >= 0, warmup >= 0 and batch_size >= 4; "
                          f"got probability={probability}, lam={lam}, steps={steps}, warmup={warmup}, "
                          f"batch_size={batch_size}.")
    pgd_eps = tuple(float(e) for e in (pgd_eps if np.ndim(pgd_eps) else [pgd_eps]))
    if not pgd_eps or min(pgd_eps) < 0 or int(pgd_steps) < PGD_STEPS:
        raise ConfigError(f"PGD needs at least one eps >= 0 and pgd_steps >= {PGD_STEPS} (fewer steps overstate "
                          f"robustness); got pgd_eps={list(pgd_eps)}, pgd_steps={pgd_steps}.")
    out_dir = Path(out_dir)
    dev = resolve_device(device)
    loaded = load_model(model_spec)  # a LoadedModel passes through
    config = dict(model=loaded.name, model_identity=loaded.identity, preprocessing=loaded.preprocessing.to_dict(),
                  layer=layer, neural=_describe(neural),
                  loss=loss, lam=float(lam), steps=int(steps), warmup=int(warmup), probability=float(probability),
                  condition=condition, task_data=str(task_data), batch_size=int(batch_size), lr=float(lr),
                  seed=int(seed), eval_neural=_describe(eval_neural), pool=pool,
                  heldout_fraction=float(heldout_fraction), checkpoint_every=int(checkpoint_every),
                  noise_levels=[float(s) for s in noise_levels], pgd_eps=list(pgd_eps), pgd_steps=int(pgd_steps),
                  max_eval=int(max_eval), weight_decay=float(weight_decay), adam_eps=float(adam_eps), temperature=float(temperature))
    chash = _config_hash(config)
    score_path = out_dir / SCORE
    if score_path.exists():
        with xr.open_dataset(score_path, engine="h5netcdf") as ds:
            if ds.attrs.get("config_hash") == chash:
                return ds.load()

    module = copy.deepcopy(loaded.module).to(dev).eval()
    teacher_module = None  # the frozen original: distillation targets are its logits on the same batch
    pre = loaded.preprocessing
    transform = pre.transform()

    # ---- neural data, split by id ----------------------------------------------------
    assembly, stimuli = resolve_neural(neural)
    train_ids, test_ids = split_ids(assembly["stimulus_id"].values, heldout_fraction, seed)
    x_train, x_test = load_images(stimuli, train_ids, transform), load_images(stimuli, test_ids, transform)
    y_train, y_test = responses(assembly, train_ids), responses(assembly, test_ids)
    targets = make_targets(condition, train_responses=y_train, train_images=x_train, loss=loss, seed=seed)

    # ---- task data; the original model's outputs are the distillation teacher ---------
    task = make_task_data(task_data, transform=transform, neural_images=(x_train, x_test), seed=seed,
                          heldout_fraction=heldout_fraction, max_eval=max_eval)
    others = [] if eval_neural is None else (list(eval_neural) if isinstance(eval_neural, list) else [eval_neural])
    other_sets = [(_describe(spec), *resolve_neural(spec)) for spec in others]

    # ---- no evaluation image may be a training image (by content, whatever its id) ------
    training = [stimulus_group("neural training", stimuli, train_ids)]
    evaluation = [stimulus_group("neural held-out", stimuli, test_ids)]
    if task.train_group is not None:
        training.append(task.train_group)
    if task.eval_group is not None:
        evaluation.append(task.eval_group)
    evaluation += [stimulus_group(f"generalisation set {name}", stim, asm["stimulus_id"].values)
                   for name, asm, stim in other_sets]
    check_disjoint(training, evaluation)

    # The original model's outputs and scores do not depend on the condition or the training
    # settings: computed once per process for every run that shares them (the controls).
    eval_key = _config_hash({k: config[k] for k in _EVAL_KEYS} | {"device": str(dev)})
    cached = _INITIAL.get(eval_key)
    eval_logits0 = model_logits(module, task.eval_images, dev) if cached is None else cached["eval_logits"]
    if task.kind == "distill":
        task.eval_labels = eval_logits0.argmax(1)
        teacher_module = copy.deepcopy(module).requires_grad_(False)

    other_data = [_other_split(name, asm, stim, transform, seed, heldout_fraction) for name, asm, stim in other_sets]

    def evaluate(mod, logits=None):
        f_tr = forward_features(mod, layer, x_train, pool=pool, device=dev)
        f_te = forward_features(mod, layer, x_test, pool=pool, device=dev)
        r = ridge_predictivity(f_tr, y_train, f_te, y_test, device=dev)
        gen = [ridge_predictivity(forward_features(mod, layer, o["x_train"], pool=pool, device=dev), o["y_train"],
                                  forward_features(mod, layer, o["x_test"], pool=pool, device=dev), o["y_test"],
                                  device=dev) for o in other_data]
        rob = noise_robustness(mod, task.eval_images, task.eval_labels, noise_levels, mean=pre.mean, std=pre.std,
                               device=dev, seed=seed)
        pgd = [pgd_robustness(mod, task.eval_images, task.eval_labels, eps=e, steps=pgd_steps, mean=pre.mean,
                              std=pre.std, device=dev, seed=seed) for e in pgd_eps]
        logits = model_logits(mod, task.eval_images, dev) if logits is None else logits
        return r, gen, rob, pgd, agreement(logits, task.eval_labels)

    if cached is None:
        cached = {"eval_logits": eval_logits0, "initial": evaluate(module, eval_logits0)}
        while len(_INITIAL) >= 4:
            _INITIAL.pop(next(iter(_INITIAL)))
        _INITIAL[eval_key] = cached
    initial = cached["initial"]

    # ---- training ---------------------------------------------------------------------
    with torch.no_grad(), tap(module, layer) as store:
        module(x_train[:2].to(dev))
        n_features = pool_features(store[layer], pool).shape[1]
    neural_loss = NeuralLoss(loss, n_features, targets.shape[1]).to(dev)
    params = list(module.parameters()) + list(neural_loss.parameters())
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, eps=adam_eps)
    generator = torch.Generator().manual_seed(int(seed))
    history: list[tuple[float, float, float]] = []
    start = 0
    ckpt = out_dir / CHECKPOINT
    if ckpt.exists():
        state = _load_checkpoint(ckpt, chash, dev)
        module.load_state_dict(state["model"])
        neural_loss.load_state_dict(state["neural_loss"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        history, start = list(state["history"]), int(state["step"])
    effective_lam = 0.0 if condition == "lambda0" else float(lam)
    n_task = task.n_train
    n_neural = len(train_ids)
    bs_neural, bs_task = min(batch_size, n_neural), min(batch_size, n_task)
    targets_dev = targets.to(dev)

    from tqdm.auto import tqdm

    bar = tqdm(total=steps, initial=start, disable=not progress, desc=f"finetune {condition}", dynamic_ncols=True)
    t0 = time.perf_counter()
    with tap(module, layer) as store:
        for step in range(start, steps):
            idx_neural = torch.randperm(n_neural, generator=generator)[:bs_neural]
            # distilling on the neural images: one batch, one forward pass serves both terms
            idx_task = idx_neural if task.shares_neural_images else torch.randperm(n_task, generator=generator)[:bs_task]
            draw = float(torch.rand(1, generator=generator))
            use_neural = step >= warmup and draw < probability
            images, t_targets = task.batch(idx_task)
            images = images.to(dev)
            logits = module(images)
            feats = store[layer]
            if task.kind == "distill":
                with torch.no_grad():
                    t_logits = teacher_module(images)
                task_loss = distillation_loss(logits, t_logits, temperature)
            else:
                task_loss = torch.nn.functional.cross_entropy(logits, t_targets.to(dev))
            total = task_loss
            n_val = float("nan")
            if use_neural:
                if not task.shares_neural_images:
                    module(x_train[idx_neural].to(dev))
                    feats = store[layer]
                n_term = neural_loss(pool_features(feats, pool), targets_dev[idx_neural.to(dev)])
                total = total + effective_lam * n_term
                n_val = float(n_term.detach())
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            history.append((float(task_loss.detach()), n_val, float(total.detach())))
            if not math.isfinite(history[-1][2]):
                raise ModelError(f"fine-tuning diverged at step {step + 1} (loss {history[-1]}); lower --lr or --lam.")
            done = step + 1
            bar.update(1)
            bar.set_postfix(task=f"{history[-1][0]:.4f}", neural=f"{n_val:.4f}", refresh=False)
            if done % max(checkpoint_every, 1) == 0 or done == steps:
                _save_checkpoint(ckpt, step=done, module=module, neural_loss=neural_loss, optimizer=optimizer,
                                 generator=generator, history=history, config_hash=chash)
            if callback is not None:
                callback(done)
    bar.close()
    train_seconds = time.perf_counter() - t0
    with atomic_path(out_dir / WEIGHTS) as tmp:
        torch.save({"model": module.state_dict(), "neural_loss": neural_loss.state_dict()}, tmp)

    # weights bit-identical to the original (λ = 0 with distillation): the evaluation is the initial one
    original = loaded.module.state_dict()
    unchanged = all(torch.equal(v.detach().cpu(), original[k].detach().cpu()) for k, v in module.state_dict().items())
    final = initial if unchanged else evaluate(module)
    ds = _score(config, chash, loaded, module, assembly, other_data, initial, final, history, task,
                n_train=len(train_ids), n_test=len(test_ids), train_seconds=train_seconds)
    from ..scoring import save_score

    save_score(ds, score_path)
    return ds


def _describe(spec) -> str:
    if spec is None or isinstance(spec, str):
        return str(spec)
    if isinstance(spec, list):
        return json.dumps([_describe(s) for s in spec])
    if isinstance(spec, tuple) and len(spec) == 2:
        asm, stim = spec
        h = hashlib.sha256(np.ascontiguousarray(asm.values, dtype=np.float64).tobytes())
        h.update("\0".join(asm["stimulus_id"].values.astype(str)).encode())
        h.update("\0".join(asm["neuroid_id"].values.astype(str)).encode())
        return f"{asm.attrs.get('identifier', asm.name)}@responses:{h.hexdigest()[:16]}@images:{stim.content_hash[:16]}"
    return repr(spec)


def _other_split(name, assembly, stimuli, transform, seed, heldout_fraction) -> dict:
    tr, te = split_ids(assembly["stimulus_id"].values, heldout_fraction, seed)
    return {"name": name, "assembly": assembly, "x_train": load_images(stimuli, tr, transform),
            "x_test": load_images(stimuli, te, transform), "y_train": responses(assembly, tr),
            "y_test": responses(assembly, te)}


def _score(config, chash, loaded, module, assembly, other_data, initial, final, history, task, *, n_train, n_test,
           train_seconds) -> xr.Dataset:
    from ..models.base import weights_sha256
    from ..scoring import versions

    r0, gen0, rob0, pgd0, fid0 = initial
    r1, gen1, rob1, pgd1, fid1 = final
    hist = np.asarray(history, dtype=np.float64).reshape(-1, 3)
    data = {
        "raw": ("neuroid", r1), "raw_initial": ("neuroid", r0),
        "robustness": ("noise_level", np.asarray(rob1)), "robustness_initial": ("noise_level", np.asarray(rob0)),
        "robustness_pgd": ("pgd_eps", np.asarray([p.robust_accuracy for p in pgd1], dtype=np.float64)),
        "robustness_pgd_initial": ("pgd_eps", np.asarray([p.robust_accuracy for p in pgd0], dtype=np.float64)),
        "loss_history": (("step", "term"), hist),
    }
    coords = {"neuroid_id": ("neuroid", assembly["neuroid_id"].values.astype(str)),
              "region": ("neuroid", assembly["region"].values.astype(str)),
              "noise_level": np.asarray(config["noise_levels"], dtype=np.float64),
              "pgd_eps": np.asarray(config["pgd_eps"], dtype=np.float64),
              "step": np.arange(1, len(hist) + 1), "term": ["task", "neural", "total"]}
    gen_attrs = {}
    if other_data:
        data["generalization_raw"] = ("gen_neuroid", np.concatenate(gen1))
        data["generalization_raw_initial"] = ("gen_neuroid", np.concatenate(gen0))
        coords["gen_neuroid_id"] = ("gen_neuroid", np.concatenate(
            [o["assembly"]["neuroid_id"].values.astype(str) for o in other_data]))
        coords["gen_source"] = ("gen_neuroid", np.concatenate(
            [[o["name"]] * o["assembly"].sizes["neuroid"] for o in other_data]))
        gen_attrs = {"generalization_predictivity": aggregate(np.concatenate(gen1)),
                     "generalization_predictivity_initial": aggregate(np.concatenate(gen0))}
    ds = xr.Dataset(data, coords=coords)
    ds.attrs = {
        "model": config["model"], "model_identity_initial": loaded.identity,
        "model_identity": f"{loaded.name}+finetune@sha256:{weights_sha256(module)}",
        "benchmark": f"finetune:{config['neural']}", "metric": "pearson_r (GCV ridge, held-out images)",
        "aggregate": "median over neurons", "normalization": "none", "layer": config["layer"],
        "condition": config["condition"], "loss": config["loss"], "lam": config["lam"], "steps": config["steps"],
        "warmup": config["warmup"], "probability": config["probability"], "seed": config["seed"],
        "pool": config["pool"], "task": task.description,
        "task_metric": "top-1 accuracy" if task.kind == "labels" else "top-1 agreement with the original model",
        "heldout_predictivity": aggregate(r1), "heldout_predictivity_initial": aggregate(r0),
        "aggregate_raw": aggregate(r1), **gen_attrs,
        "task_fidelity": float(fid1), "task_fidelity_initial": float(fid0),
        "pgd_steps": config["pgd_steps"], "pgd_step_size": "2.5 eps / steps", "pgd_random_start": "uniform in the eps-ball",
        "robustness_pgd_definition": "fraction of the clean-correct task evaluation images whose top-1 no PGD "
                                     "iterate moves off the reference label (Madry et al. 2018); eps in pixel units",
        "pgd_n_clean_correct": int(pgd1[0].n_clean_correct), "pgd_n_clean_correct_initial": int(pgd0[0].n_clean_correct),
        "noise_space": "pixels in [0, 1]",
        "n_train_stimuli": n_train, "n_heldout_stimuli": n_test, "n_task_eval": int(len(task.eval_images)),
        "train_seconds": float(train_seconds), "config": json.dumps(config, sort_keys=True), "config_hash": chash,
        "versions": json.dumps(versions()),
    }
    return ds
