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
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from ..atomic import atomic_path
from ..device import fast_layout, resolve_device
from ..errors import ConfigError, ModelError
from ..models import load_model
from .data import (CONDITIONS, check_disjoint, load_images, make_targets, make_task_data, resolve_neural, responses,
                   split_ids, stimulus_group)
from .balance import BALANCES, balance_weights, gradient_norms
from .evaluate import aggregate, forward_features, pool_features, ridge_prediction, tap
from .losses import NEURAL_LOSSES, NeuralLoss, distillation_loss
from .robustness import PGD_EPS, PGD_STEPS, calibrate_noise, calibrate_pgd, model_logits, noise_correct, pgd_robustness

NOISE_LEVELS = (0.0, 0.05, 0.1, 0.2, 0.4)
CHECKPOINT = "checkpoint.pt"
WEIGHTS = "model.pt"
SCORE = "score.nc"
AUTO = "auto"  # noise_levels / pgd_eps: calibrated on the original model to ~50 % (robust) accuracy
# settings that fix the original model's evaluation (not the condition, loss, λ, schedule or training seed)
_EVAL_KEYS = ("model_identity", "preprocessing", "layer", "neural", "task_data", "split_seed", "eval_neural", "pool",
              "heldout_fraction", "noise_levels", "pgd_eps", "pgd_steps", "max_eval")


def _config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _save_checkpoint(path: Path, *, step, module, neural_loss, optimizer, generator, history, config_hash, norms):
    state = {"step": step, "model": module.state_dict(), "neural_loss": neural_loss.state_dict(),
             "optimizer": optimizer.state_dict(), "generator": generator.get_state(),
             "torch_rng": torch.get_rng_state(), "history": history, "config_hash": config_hash, "norms": norms}
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


@dataclass(frozen=True)
class FinetuneConfig:
    """Every setting of one fine-tuning run (see :func:`run_finetune` for their meaning).

    ``lam`` with ``balance="gradnorm"`` (default) is the neural term's share of the update
    at the start, in [0, 1) (:mod:`neuroalign.finetune.balance`); with ``"none"`` a raw
    weight. ``split_seed`` fixes the neural split and the evaluation's random draws
    (``None``: ``seed``), so runs with other training seeds are evaluated on the same
    images. ``noise_levels`` / ``pgd_eps`` = ``"auto"``: one level each, calibrated on the
    original model to the one nearest 50 % (robust) accuracy.
    """

    layer: str
    neural: Any = "synthetic"
    loss: str = "cka"
    lam: float = 0.1
    balance: str = "gradnorm"
    steps: int = 200
    warmup: int = 0
    probability: float = 1.0
    condition: str = "neural"
    task_data: Any = None
    batch_size: int = 32
    lr: float = 1e-4
    seed: int = 0
    split_seed: int | None = None
    eval_neural: Any = None
    pool: str = "flatten"
    heldout_fraction: float = 0.2
    checkpoint_every: int = 50
    noise_levels: Any = NOISE_LEVELS
    pgd_eps: Any = PGD_EPS
    pgd_steps: int = PGD_STEPS
    max_eval: int = 256
    weight_decay: float = 0.0
    adam_eps: float = 1e-6
    temperature: float = 1.0
    calibration_batches: int = 4

    @property
    def eval_seed(self) -> int:
        return int(self.seed if self.split_seed is None else self.split_seed)

    def validate(self) -> None:
        from ..errors import unknown

        for kind, value, known in (("fine-tuning condition", self.condition, CONDITIONS),
                                   ("neural loss", self.loss, NEURAL_LOSSES), ("balance", self.balance, BALANCES)):
            if value not in known:
                raise unknown(kind, value, known)
        if (not 0 <= self.probability <= 1 or self.lam < 0 or self.steps < 0 or self.warmup < 0
                or self.batch_size < 4 or self.calibration_batches < 1):
            raise ConfigError(f"need 0 <= probability <= 1, lam >= 0, steps >= 0, warmup >= 0, batch_size >= 4 and "
                              f"calibration_batches >= 1; got probability={self.probability}, lam={self.lam}, "
                              f"steps={self.steps}, warmup={self.warmup}, batch_size={self.batch_size}.")
        balance_weights(self.balance, self.lam, 1.0, 1.0)  # λ's range for this balance
        eps = () if self.pgd_eps == AUTO else tuple(float(e) for e in np.atleast_1d(self.pgd_eps))
        if (self.pgd_eps != AUTO and (not eps or min(eps) < 0)) or int(self.pgd_steps) < PGD_STEPS:
            raise ConfigError(f"PGD needs at least one eps >= 0 (or 'auto') and pgd_steps >= {PGD_STEPS} (fewer steps "
                              f"overstate robustness); got pgd_eps={self.pgd_eps}, pgd_steps={self.pgd_steps}.")

    def describe(self, loaded) -> dict:
        """The settings as hashed into checkpoints and scores (data specs described by content)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}  # not asdict: it deep-copies the data
        d |= dict(model=loaded.name, model_identity=loaded.identity, preprocessing=loaded.preprocessing.to_dict(),
                  neural=_describe(self.neural), eval_neural=_describe(self.eval_neural), task_data=str(self.task_data),
                  split_seed=self.eval_seed)
        for k in ("noise_levels", "pgd_eps"):
            d[k] = AUTO if d[k] == AUTO else [float(v) for v in np.atleast_1d(d[k])]
        return d


@dataclass
class Evaluation:
    """One model's numbers: per-neuron r and held-out predictions, generalisation r per set,
    per-image task correctness, noise correctness (σ × image) and PGD results per ε."""

    r: np.ndarray
    prediction: np.ndarray
    gen: list
    correct: np.ndarray
    noise: np.ndarray
    pgd: list

    @property
    def fidelity(self) -> float:
        return float(self.correct.mean())


@dataclass
class Prepared:
    """What every condition, λ and training seed of one setting shares: the original model,
    the split images and responses, the task, the leak-checked evaluation sets, the
    calibrated robustness levels and the original model's evaluation."""

    key: str
    loaded: Any
    device: Any
    x_train: torch.Tensor
    x_test: torch.Tensor
    y_train: np.ndarray
    y_test: np.ndarray
    assembly: xr.DataArray
    test_ids: list
    task: Any
    other_data: list
    noise_levels: tuple
    pgd_eps: tuple
    levels: dict = field(default_factory=dict)  # calibration printout: {"noise": (σ, acc), "pgd": (ε, acc)}
    initial: Evaluation | None = None


def _eval_key(cfg: FinetuneConfig, loaded, dev) -> str:
    d = cfg.describe(loaded)
    return _config_hash({k: d[k] for k in _EVAL_KEYS} | {"device": str(dev)})


def prepare(model_spec, cfg: FinetuneConfig, device="auto") -> Prepared:
    """Load, split, leak-check, calibrate the robustness levels and evaluate the original model."""
    cfg.validate()
    dev = resolve_device(device)
    loaded = load_model(model_spec)  # a LoadedModel passes through
    module = copy.deepcopy(loaded.module).to(dev).eval()
    fast_layout(module)
    transform = loaded.preprocessing.transform()
    assembly, stimuli = resolve_neural(cfg.neural)
    train_ids, test_ids = split_ids(assembly["stimulus_id"].values, cfg.heldout_fraction, cfg.eval_seed)
    x_train, x_test = load_images(stimuli, train_ids, transform), load_images(stimuli, test_ids, transform)
    task = make_task_data(cfg.task_data, transform=transform, neural_images=(x_train, x_test), seed=cfg.eval_seed,
                          heldout_fraction=cfg.heldout_fraction, max_eval=cfg.max_eval)
    others = [] if cfg.eval_neural is None else (
        list(cfg.eval_neural) if isinstance(cfg.eval_neural, list) else [cfg.eval_neural])
    other_sets = [(_describe(spec), *resolve_neural(spec)) for spec in others]
    # ---- no evaluation image may be a training image (by content, whatever its id) ------
    training = [stimulus_group("neural training", stimuli, train_ids)]
    evaluation = [stimulus_group("neural held-out", stimuli, test_ids)]
    training += [task.train_group] if task.train_group is not None else []
    evaluation += [task.eval_group] if task.eval_group is not None else []
    evaluation += [stimulus_group(f"generalisation set {name}", stim, asm["stimulus_id"].values)
                   for name, asm, stim in other_sets]
    check_disjoint(training, evaluation)
    eval_logits0 = model_logits(module, task.eval_images, dev)
    if task.kind == "distill":  # the frozen original's logits: on its fixed training images once, not per step
        task.eval_labels = eval_logits0.argmax(1)
        task.train_logits = model_logits(module, task.train_images, dev).to(dev)
    prep = Prepared(_eval_key(cfg, loaded, dev), loaded, dev, x_train, x_test, responses(assembly, train_ids),
                    responses(assembly, test_ids), assembly, test_ids, task,
                    [_other_split(n, a, s, transform, cfg.eval_seed, cfg.heldout_fraction) for n, a, s in other_sets],
                    (), ())
    attacks = _calibrate_levels(prep, module, cfg)
    # the original's PGD at the calibrated ε is an attack the calibration already made (same module,
    # images, labels, ε, steps and seed: the same result), so it is not made twice
    prep.initial = evaluate(prep, module, cfg, logits=eval_logits0, pgd_done=attacks)
    return prep


def _calibrate_levels(prep: Prepared, module, cfg: FinetuneConfig) -> dict:
    """Fix the noise levels and PGD strengths ('auto': ~50 % for the original model). Returns the
    calibration's attacks on ``module``, by ε."""
    attacks: dict = {}
    pre, task = prep.loaded.preprocessing, prep.task
    kw = dict(mean=pre.mean, std=pre.std, device=prep.device, seed=cfg.eval_seed)
    if cfg.noise_levels == AUTO:
        prep.levels["noise"] = calibrate_noise(module, task.eval_images, task.eval_labels, **kw)
        prep.noise_levels = (0.0, prep.levels["noise"][0])
    else:
        prep.noise_levels = tuple(float(s) for s in cfg.noise_levels)
    if cfg.pgd_eps == AUTO:
        prep.levels["pgd"] = calibrate_pgd(module, task.eval_images, task.eval_labels, steps=cfg.pgd_steps,
                                           attacks=attacks, **kw)
        prep.pgd_eps = (prep.levels["pgd"][0],)
    else:
        prep.pgd_eps = tuple(float(e) for e in np.atleast_1d(cfg.pgd_eps))
    return attacks


def evaluate(prep: Prepared, module, cfg: FinetuneConfig, logits=None, pgd_done: dict | None = None) -> Evaluation:
    """Held-out and generalisation predictivity (fresh ridge), task correctness, noise and PGD robustness.
    ``pgd_done``: PGD results by ε already computed on ``module`` with this evaluation's settings."""
    dev, pre, task = prep.device, prep.loaded.preprocessing, prep.task

    def feats(x):
        return forward_features(module, cfg.layer, x, pool=cfg.pool, device=dev)

    r, pred = ridge_prediction(feats(prep.x_train), prep.y_train, feats(prep.x_test), prep.y_test, device=dev)
    gen = [ridge_prediction(feats(o["x_train"]), o["y_train"], feats(o["x_test"]), o["y_test"], device=dev)[0]
           for o in prep.other_data]
    kw = dict(mean=pre.mean, std=pre.std, device=dev, seed=cfg.eval_seed)
    noise = noise_correct(module, task.eval_images, task.eval_labels, prep.noise_levels, **kw)
    pgd_done = pgd_done or {}
    pgd = [pgd_done[e] if e in pgd_done else
           pgd_robustness(module, task.eval_images, task.eval_labels, eps=e, steps=cfg.pgd_steps, **kw)
           for e in prep.pgd_eps]
    logits = model_logits(module, task.eval_images, dev) if logits is None else logits
    return Evaluation(r, pred, gen, (logits.argmax(1).cpu() == task.eval_labels.cpu()).numpy(), noise, pgd)


@dataclass
class Trained:
    module: Any
    neural_loss: Any
    history: list
    seconds: float
    norms: dict  # start gradient norms {"task": g_T, "neural": g_N}
    weights: tuple  # (task weight, neural weight)


def _task_loss(prep: Prepared, cfg: FinetuneConfig, logits, t_targets):
    if prep.task.kind == "distill":
        return distillation_loss(logits, t_targets, cfg.temperature)
    return torch.nn.functional.cross_entropy(logits, t_targets.to(prep.device))


def _reference_labels(prep: Prepared, t_targets):
    """The labels the task is judged on: true classes, or for distillation the original's top-1."""
    if prep.task.kind == "distill":
        return t_targets.argmax(1)
    return t_targets.to(prep.device)


def _start_norms(prep, cfg, module, neural_loss, targets, params) -> dict:
    """Gradient norms of the two terms before the first step, averaged over ``calibration_batches``
    batches of their own seeded draw (the training draws are untouched). The task term's scale
    is the cross-entropy to the reference labels (for distillation its KL form has an exactly
    zero gradient at the start, so its hard-label form stands in)."""
    g = torch.Generator().manual_seed(int(cfg.seed) * 7919 + 12)
    n_neural, bs = len(prep.y_train), min(cfg.batch_size, len(prep.y_train))
    sums = {"task": 0.0, "neural": 0.0}
    with tap(module, cfg.layer) as store:
        for _ in range(cfg.calibration_batches):
            idx = torch.randperm(n_neural, generator=g)[:bs]
            t_idx = idx if prep.task.shares_neural_images else torch.randperm(prep.task.n_train, generator=g)[:bs]
            images, t_targets = prep.task.batch(t_idx)
            images = images.to(prep.device)
            labels = _reference_labels(prep, t_targets)

            def neural():
                module(prep.x_train[idx].to(prep.device))
                return neural_loss(pool_features(store[cfg.layer], cfg.pool), targets[idx.to(prep.device)])

            norms = gradient_norms(params, {
                "task": lambda: torch.nn.functional.cross_entropy(module(images), labels), "neural": neural})
            sums = {k: sums[k] + norms[k] / cfg.calibration_batches for k in sums}
    return sums


def train(prep: Prepared, cfg: FinetuneConfig, *, out_dir: Path, chash: str, progress: bool = True,
          callback: Callable[[int], None] | None = None) -> Trained:
    """The training loop ``w_T·task + w_N·neural`` (weights from :mod:`.balance`), checkpointed and resumable."""
    dev, layer, pool, task = prep.device, cfg.layer, cfg.pool, prep.task
    module = copy.deepcopy(prep.loaded.module).to(dev).eval()
    fast_layout(module)
    targets = make_targets(cfg.condition, train_responses=prep.y_train, train_images=prep.x_train, loss=cfg.loss,
                           seed=cfg.seed).to(dev)
    with torch.no_grad(), tap(module, layer) as store:
        module(prep.x_train[:2].to(dev))
        n_features = pool_features(store[layer], pool).shape[1]
    neural_loss = NeuralLoss(cfg.loss, n_features, targets.shape[1]).to(dev)
    params = list(module.parameters()) + list(neural_loss.parameters())
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, eps=cfg.adam_eps)
    generator = torch.Generator().manual_seed(int(cfg.seed))
    history: list[tuple[float, float, float]] = []
    start, ckpt = 0, out_dir / CHECKPOINT
    if ckpt.exists():
        state = _load_checkpoint(ckpt, chash, dev)
        module.load_state_dict(state["model"])
        neural_loss.load_state_dict(state["neural_loss"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        history, start, norms = list(state["history"]), int(state["step"]), state["norms"]
    else:
        norms = (_start_norms(prep, cfg, module, neural_loss, targets, params) if cfg.balance != "none"
                 else {"task": float("nan"), "neural": float("nan")})
    lam = 0.0 if cfg.condition == "lambda0" else cfg.lam
    w_task, w_neural = balance_weights(cfg.balance, lam, norms["task"], norms["neural"])
    n_neural = len(prep.y_train)
    bs_neural, bs_task = min(cfg.batch_size, n_neural), min(cfg.batch_size, task.n_train)

    from tqdm.auto import tqdm

    bar = tqdm(total=cfg.steps, initial=start, disable=not progress, desc=f"finetune {cfg.condition}", dynamic_ncols=True)
    t0 = time.perf_counter()
    with tap(module, layer) as store:
        for step in range(start, cfg.steps):
            idx_neural = torch.randperm(n_neural, generator=generator)[:bs_neural]
            # distilling on the neural images: one batch, one forward pass serves both terms
            idx_task = idx_neural if task.shares_neural_images else torch.randperm(task.n_train, generator=generator)[:bs_task]
            use_neural = step >= cfg.warmup and float(torch.rand(1, generator=generator)) < cfg.probability
            images, t_targets = task.batch(idx_task)
            images = images.to(dev)
            task_loss = _task_loss(prep, cfg, module(images), t_targets)
            feats = store[layer]
            total, n_val = w_task * task_loss, float("nan")
            if use_neural:
                if not task.shares_neural_images:
                    module(prep.x_train[idx_neural].to(dev))
                    feats = store[layer]
                n_term = neural_loss(pool_features(feats, pool), targets[idx_neural.to(dev)])
                total, n_val = total + w_neural * n_term, float(n_term.detach())
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            history.append((float(task_loss.detach()), n_val, float(total.detach())))
            if not math.isfinite(history[-1][2]):
                raise ModelError(f"fine-tuning diverged at step {step + 1} (loss {history[-1]}); lower --lr or --lam.")
            done = step + 1
            bar.update(1)
            bar.set_postfix(task=f"{history[-1][0]:.4f}", neural=f"{n_val:.4f}", refresh=False)
            if done % max(cfg.checkpoint_every, 1) == 0 or done == cfg.steps:
                _save_checkpoint(ckpt, step=done, module=module, neural_loss=neural_loss, optimizer=optimizer,
                                 generator=generator, history=history, config_hash=chash, norms=norms)
            if callback is not None:
                callback(done)
    bar.close()
    return Trained(module, neural_loss, history, time.perf_counter() - t0, norms, (w_task, w_neural))


def run_finetune(model_spec, *, out_dir, device="auto", progress: bool = True,
                 callback: Callable[[int], None] | None = None, prepared: Prepared | None = None,
                 **settings) -> xr.Dataset:
    """Fine-tune ``model_spec`` so that ``layer`` matches ``neural``; evaluate; write ``out_dir/score.nc``.

    ``settings``: the fields of :class:`FinetuneConfig`. ``neural``: a spec (any benchmark id
    or file with responses per image, ``"synthetic"``, ``"cowley:210322:natural"``; see
    :func:`~neuroalign.finetune.data.resolve_neural`) or an ``(assembly, StimulusSet)``
    tuple; its stimuli are split by id (``heldout_fraction`` held out, seeded by
    ``split_seed``) into training and evaluation images. ``loss``: one of ``cka``,
    ``cka_debiased`` (``log(1 − CKA)``), ``rsa`` (1 − r of RDMs), ``readout_mse``,
    ``readout_poisson`` (a jointly trained linear head). ``condition``: ``neural``,
    ``shuffled``, ``pixel`` or ``lambda0`` (the conditions differ only in their targets).
    ``lam``/``balance``: see :mod:`neuroalign.finetune.balance`. Schedule: ``warmup`` steps
    task-only, then the neural term on each step with probability ``probability``.
    ``task_data``: ``None`` (distillation to the original logits on the synthetic images),
    ``"neural"`` (distillation on the neural training images) or an ``ImageFolder`` path
    (cross-entropy). ``eval_neural``: spec(s) of other neurons/sessions scored with a fresh
    ridge. ``pool``: ``flatten`` or ``mean`` (spatial average) of the layer.

    Leak check: before anything is evaluated or trained, the held-out neural images, the
    task's evaluation images and every ``eval_neural`` image are compared by content
    (SHA-256 of bytes and of pixels) with every training image (neural and task); an
    overlap raises :class:`~neuroalign.errors.DataError` naming the images on both sides.

    Robustness: Gaussian pixel noise at ``noise_levels`` (agreement), and L∞ PGD with a
    random start at each ε of ``pgd_eps`` (pixel units) with ``pgd_steps`` ≥ 20 steps:
    robust accuracy over the clean-correct evaluation images; ``"auto"`` calibrates each.

    Checkpoints (weights, optimizer, RNG, step, loss history, start gradient norms) go
    atomically to ``out_dir/checkpoint.pt`` every ``checkpoint_every`` steps; a rerun with
    the same settings resumes from there and ends in the same weights. A finished run (its
    ``score.nc`` exists with the same settings) is returned without retraining.
    ``callback(step)`` is called after each completed step (after any checkpoint).
    ``prepared``: a :func:`prepare` result to share between runs that differ only in
    condition, λ, loss, schedule or training seed (checked by its key).

    Distillation targets are the frozen original model's logits on the very same batch,
    so the task gradient starts at exactly zero: Adam divides a gradient by its own size
    and would turn rounding noise into full-size random steps. For the same reason
    ``adam_eps`` defaults to 1e-6, not 1e-8; the neural term's real gradients pass unchanged.
    """
    cfg = FinetuneConfig(**settings)
    cfg.validate()
    out_dir = Path(out_dir)
    loaded = load_model(model_spec) if prepared is None else prepared.loaded
    config = cfg.describe(loaded)
    chash = _config_hash(config)
    score_path = out_dir / SCORE
    if score_path.exists():
        with xr.open_dataset(score_path, engine="h5netcdf") as ds:
            if ds.attrs.get("config_hash") == chash:
                return ds.load()
    if prepared is None or prepared.key != _eval_key(cfg, loaded, prepared.device):
        prepared = prepare(loaded, cfg, device)
    run = train(prepared, cfg, out_dir=out_dir, chash=chash, progress=progress, callback=callback)
    with atomic_path(out_dir / WEIGHTS) as tmp:
        torch.save({"model": run.module.state_dict(), "neural_loss": run.neural_loss.state_dict()}, tmp)
    # weights bit-identical to the original (λ = 0 with distillation): the evaluation is the initial one
    original = loaded.module.state_dict()
    unchanged = all(torch.equal(v.detach().cpu(), original[k].detach().cpu()) for k, v in run.module.state_dict().items())
    final = prepared.initial if unchanged else evaluate(prepared, run.module, cfg)
    ds = _score(config, chash, prepared, run, final)
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


def _per_image(prep: Prepared, initial: Evaluation, final: Evaluation) -> tuple[dict, dict]:
    """Per-image arrays, kept so that conditions can be compared by a paired bootstrap over images."""
    data, coords = {}, {"heldout_stimulus_id": ("heldout_stimulus", np.asarray(prep.test_ids, dtype=str)),
                        "task_image": np.arange(len(prep.task.eval_images))}
    data["heldout_response"] = (("heldout_stimulus", "neuroid"), np.asarray(prep.y_test, np.float64))
    for suffix, ev in (("", final), ("_initial", initial)):
        data["heldout_prediction" + suffix] = (("heldout_stimulus", "neuroid"), ev.prediction)
        data["task_correct" + suffix] = ("task_image", ev.correct.astype(np.int8))
        data["noise_correct" + suffix] = (("noise_level", "task_image"), ev.noise.astype(np.int8))
        data["pgd_survived" + suffix] = (("pgd_eps", "task_image"),
                                         np.stack([p.survived for p in ev.pgd]).astype(np.int8))
    return data, coords


def _score(config, chash, prep: Prepared, run: Trained, final: Evaluation) -> xr.Dataset:
    from ..models.base import weights_sha256
    from ..scoring import versions

    initial, loaded, assembly, other_data = prep.initial, prep.loaded, prep.assembly, prep.other_data
    hist = np.asarray(run.history, dtype=np.float64).reshape(-1, 3)
    data = {
        "raw": ("neuroid", final.r), "raw_initial": ("neuroid", initial.r),
        "robustness": ("noise_level", final.noise.mean(1)), "robustness_initial": ("noise_level", initial.noise.mean(1)),
        "robustness_pgd": ("pgd_eps", np.asarray([p.robust_accuracy for p in final.pgd], dtype=np.float64)),
        "robustness_pgd_initial": ("pgd_eps", np.asarray([p.robust_accuracy for p in initial.pgd], dtype=np.float64)),
        "loss_history": (("step", "term"), hist),
    }
    coords = {"neuroid_id": ("neuroid", assembly["neuroid_id"].values.astype(str)),
              "region": ("neuroid", assembly["region"].values.astype(str)),
              "noise_level": np.asarray(prep.noise_levels, dtype=np.float64),
              "pgd_eps": np.asarray(prep.pgd_eps, dtype=np.float64),
              "step": np.arange(1, len(hist) + 1), "term": ["task", "neural", "total"]}
    per_image, per_coords = _per_image(prep, initial, final)
    data |= per_image
    coords |= per_coords
    gen_attrs = {}
    if other_data:
        data["generalization_raw"] = ("gen_neuroid", np.concatenate(final.gen))
        data["generalization_raw_initial"] = ("gen_neuroid", np.concatenate(initial.gen))
        coords["gen_neuroid_id"] = ("gen_neuroid", np.concatenate(
            [o["assembly"]["neuroid_id"].values.astype(str) for o in other_data]))
        coords["gen_source"] = ("gen_neuroid", np.concatenate(
            [[o["name"]] * o["assembly"].sizes["neuroid"] for o in other_data]))
        gen_attrs = {"generalization_predictivity": aggregate(np.concatenate(final.gen)),
                     "generalization_predictivity_initial": aggregate(np.concatenate(initial.gen))}
    ds = xr.Dataset(data, coords=coords)
    ds.attrs = {
        "model": config["model"], "model_identity_initial": loaded.identity,
        "model_identity": f"{loaded.name}+finetune@sha256:{weights_sha256(run.module)}",
        "benchmark": f"finetune:{config['neural']}", "metric": "pearson_r (GCV ridge, held-out images)",
        "aggregate": "median over neurons", "normalization": "none", "layer": config["layer"],
        "condition": config["condition"], "loss": config["loss"], "lam": config["lam"], "balance": config["balance"],
        "grad_norm_task": float(run.norms["task"]), "grad_norm_neural": float(run.norms["neural"]),
        "weight_task": float(run.weights[0]), "weight_neural": float(run.weights[1]), "steps": config["steps"],
        "warmup": config["warmup"], "probability": config["probability"], "seed": config["seed"],
        "split_seed": config["split_seed"], "pool": config["pool"], "task": prep.task.description,
        "task_metric": "top-1 accuracy" if prep.task.kind == "labels" else "top-1 agreement with the original model",
        "heldout_predictivity": aggregate(final.r), "heldout_predictivity_initial": aggregate(initial.r),
        "aggregate_raw": aggregate(final.r), **gen_attrs,
        "task_fidelity": final.fidelity, "task_fidelity_initial": initial.fidelity,
        "pgd_steps": config["pgd_steps"], "pgd_step_size": "2.5 eps / steps", "pgd_random_start": "uniform in the eps-ball",
        "robustness_pgd_definition": "fraction of the clean-correct task evaluation images whose top-1 no PGD "
                                     "iterate moves off the reference label (Madry et al. 2018); eps in pixel units",
        "robustness_levels": "calibrated on the original model to ~50 % (robust) accuracy" if prep.levels else "given",
        "pgd_n_clean_correct": int(final.pgd[0].n_clean_correct),
        "pgd_n_clean_correct_initial": int(initial.pgd[0].n_clean_correct),
        "noise_space": "pixels in [0, 1]",
        "n_train_stimuli": len(prep.y_train), "n_heldout_stimuli": len(prep.y_test),
        "n_task_eval": int(len(prep.task.eval_images)),
        "train_seconds": float(run.seconds), "config": json.dumps(config, sort_keys=True), "config_hash": chash,
        "versions": json.dumps(versions()),
    }
    return ds
