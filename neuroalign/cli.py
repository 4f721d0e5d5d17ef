"""The ``neuroalign`` command. Thin: every subcommand calls the library."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import ConfigError, NeuroalignError


def _print_table(rows: list[dict], columns: list[str]) -> None:
    if not rows:
        print("(none)")
        return
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))


def cmd_datasets(args: argparse.Namespace) -> int:
    import os

    from .data.registry import ENV_VAR, data_dir, status

    if args.data_dir:  # an explicit flag beats the environment
        os.environ[ENV_VAR] = str(args.data_dir)
    rows = status(present_only=not args.all)
    print(f"data directory: {data_dir()}")
    _print_table(rows, ["dataset", "file", "present", "checksum", "path"])
    bad = [r for r in rows if r["checksum"] == "MISMATCH"]
    if args.check:
        missing = [r for r in rows if not r["present"]] if args.all else []
        if bad or missing:
            print(f"{len(bad)} file(s) fail their checksum, {len(missing)} missing.", file=sys.stderr)
            return 1
        if not rows:
            print("no dataset files found: set NEUROALIGN_DATA.", file=sys.stderr)
            return 1
    if args.output:
        import pandas as pd

        from .atomic import atomic_path

        with atomic_path(args.output) as tmp:
            pd.DataFrame(rows).to_csv(tmp, index=False)
    return 1 if bad else 0


def _budget(args) -> float | None:
    return None if getattr(args, "budget_gb", None) is None else float(args.budget_gb) * 1e9


def cmd_models(args: argparse.Namespace) -> int:
    from .models import available_models, list_layers, load_model

    if args.layers:
        model = load_model(args.layers)
        print(f"{model.name}  identity {model.identity}")
        print("default layers:", ", ".join(model.layers))
        print("all layers:")
        for name in list_layers(model):
            print(" ", name)
        return 0
    from .models.registry import SPEC_FORMS

    print("spec forms: " + ", ".join(SPEC_FORMS))
    for spec in available_models():
        print(spec)
    return 0


def cmd_benchmarks(args: argparse.Namespace) -> int:
    from .benchmarks import benchmarks

    rows = [{"benchmark": b.identifier, "kind": b.kind, "region": b.region, "stimuli": b.stimulus_set,
             "description": b.description} for b in benchmarks().values()]
    _print_table(rows, ["benchmark", "kind", "region", "stimuli", "description"])
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    import json

    from .activations import extract
    from .atomic import atomic_path
    from .benchmarks import load_stimulus_set
    from .models import load_model

    model = load_model(args.model)
    stimuli = load_stimulus_set(args.stimuli)
    layers = args.layers or model.layers
    feats = extract(model, stimuli, layers, reduction=args.reduction, batch_size=args.batch_size,
                    device=args.device, cache_dir=args.cache_dir, budget_bytes=_budget(args), progress=True)
    info = {"model": model.name, "identity": model.identity, "stimuli": args.stimuli,
            "stimuli_hash": stimuli.content_hash, "reduction": args.reduction,
            "layers": {k: {"shape": list(v.shape), "store": v.attrs.get("store", "")}
                       for k, v in feats.items()}}
    for k, v in info["layers"].items():
        print(f"{k}: {v['shape'][0]} stimuli x {v['shape'][1]} features")
    if args.manifest:
        with atomic_path(args.manifest) as tmp:
            tmp.write_text(json.dumps(info, indent=2))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from .models import load_model
    from .scoring import result_rows, save_score, score

    model = load_model(args.model)
    if args.name:
        model.name = args.name
    ds = score(model, args.benchmark, layers=args.layers, reduction=args.reduction, seed=args.seed,
               device=args.device, cache_dir=args.cache_dir, budget_bytes=_budget(args), progress=True,
               dask=args.dask, dask_workers=args.dask_workers)
    a = ds.attrs
    print(f"{a['model']} on {a['benchmark']} ({a['kind']}): layer {a['layer']}")
    print(f"  raw {a['aggregate_raw']:.4f}  ceiling {a['aggregate_ceiling']:.4f}  "
          f"normalized {a['aggregate_normalized']:.4f}  [{a['normalization']}]")
    print(f"  layer selection: {a['layer_selection']}")
    if args.out:
        save_score(ds, args.out)
    if args.table:
        from .atomic import atomic_path

        with atomic_path(args.table) as tmp:
            result_rows(ds).to_csv(tmp, index=False)
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    import pandas as pd

    from .atomic import atomic_path

    frames = [pd.read_csv(p) for p in args.tables]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if args.kind:
        df = df[df["kind"] == args.kind]
    with atomic_path(args.out) as tmp:
        df.to_csv(tmp, index=False)
    print(f"{len(df)} rows from {len(frames)} table(s) -> {args.out}")
    return 0


def cmd_rdms(args: argparse.Namespace) -> int:
    import xarray as xr

    from .atomic import write_netcdf
    from .benchmarks import load_stimulus_set
    from .models import load_model
    from .scoring import model_features
    from .similarity import compute_rdms

    model = load_model(args.model)
    stimuli = load_stimulus_set(args.stimuli)
    feats = model_features(model, stimuli, args.layers, reduction=args.reduction, device=args.device,
                           cache_dir=args.cache_dir, budget_bytes=_budget(args), progress=True)
    rdms = xr.concat([compute_rdms(f, args.method) for f in feats.values()], dim="rdm")
    rdms = rdms.assign_coords(layer=("rdm", list(feats))).rename("rdms")
    rdms.attrs = {"model": model.name, "model_identity": model.identity, "stimuli": args.stimuli,
                  "method": args.method, "stimuli_hash": stimuli.content_hash}
    write_netcdf(rdms, args.out)
    print(f"{rdms.sizes['rdm']} RDM(s) over {rdms.sizes['row']} stimuli -> {args.out}")
    return 0


def cmd_export_brainscore(args: argparse.Namespace) -> int:
    from .interop.brainscore_export import export_brainscore_plugin, region_layers_from_results

    region_layers = region_layers_from_results(args.results, args.model) if args.results else {}
    for item in args.region or []:
        region, sep, layer = item.partition("=")
        if not sep:
            raise ConfigError(f"--region expects REGION=LAYER, got {item!r}.")
        region_layers[region] = layer
    out = export_brainscore_plugin(args.model, args.out_dir, region_layers or None)
    print(f"Brain-Score plugin for {args.model} written to {out}")
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    from .finetune import run_finetune

    ds = run_finetune(args.model, layer=args.layer, neural=args.neural, loss=args.loss, lam=args.lam,
                      steps=args.steps, warmup=args.warmup, probability=args.probability, condition=args.condition,
                      task_data=args.task_data, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                      device=args.device, out_dir=args.out_dir, eval_neural=args.eval_neural or None,
                      pool=args.pool, progress=True)
    a = ds.attrs
    keys = [k for k in ("heldout_predictivity", "generalization_predictivity", "task_fidelity") if k in a]
    print(f"{args.condition}: " + ", ".join(f"{k} {float(a[k]):.4f}" for k in keys))
    print(f"score: {Path(args.out_dir) / 'score.nc'}")
    return 0


def cmd_finetune_summary(args: argparse.Namespace) -> int:
    from .atomic import atomic_path
    from .finetune import figure_table, summarize

    wide = summarize(args.scores)
    with atomic_path(args.out) as tmp:
        figure_table(wide).to_csv(tmp, index=False)
    with atomic_path(Path(args.out).with_name(Path(args.out).stem + "_wide.csv")) as tmp:
        wide.to_csv(tmp, index=False)
    print(wide.to_string(index=False))
    return 0


def cmd_scaling(args: argparse.Namespace) -> int:
    from .atomic import atomic_path
    from .benchmarks import load_neural, load_stimulus_set
    from .models import load_model
    from .scaling import default_grid, scaling_experiment
    from .scoring import model_features

    model = load_model(args.model)
    stimuli = load_stimulus_set(args.stimuli)
    feats = model_features(model, stimuli, [args.layer], reduction=args.reduction, device=args.device,
                           cache_dir=args.cache_dir, progress=True)[args.layer]
    assembly = load_neural(args.stimuli)
    images, repeats = default_grid(assembly, args.n_points)
    df = scaling_experiment(assembly, feats, images, repeats, seed=args.seed, dataset=args.stimuli)
    with atomic_path(args.out) as tmp:
        df.to_csv(tmp, index=False)
    print(df[["n_images", "n_repeats", "recording_time_s", "feve"]].to_string(index=False))
    return 0


def cmd_figures(args: argparse.Namespace) -> int:
    from .figures import make_all_figures

    made = make_all_figures(args.results, args.out_dir, scaling=args.scaling, finetune=args.finetune,
                            n_boot=args.n_boot, seed=args.seed)
    png = args.out_dir / "png"
    png.mkdir(parents=True, exist_ok=True)
    for name, paths in made.items():
        print(f"{name}: {paths['png']}")
        if "/" not in name:  # top-level figures also gathered for the workflow report
            import shutil

            shutil.copyfile(paths["png"], png / Path(paths["png"]).name)
    if not made:
        print("no figure has data in these results", file=sys.stderr)
        return 1
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from .leaderboard import write_leaderboard

    out = write_leaderboard(args.results, args.out_dir, figures_dir=args.figures_dir)
    print(f"leaderboard: {out['html']} and {out['csv']}")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from .submit import submit

    rec = submit(args.path, args.submissions, timeout=args.timeout, memory_gb=args.memory_gb)
    print(f"submitted {rec['name']} ({rec['identity']}); layers {', '.join(rec['layers'])}")
    print(f"added to {args.submissions}: the next workflow run scores it on every benchmark of the grid")
    return 0


def _add_extraction_args(p: argparse.ArgumentParser, *, layers_and_budget: bool = True) -> None:
    if layers_and_budget:
        p.add_argument("--layers", nargs="+", default=None, help="layer names (default: the model's default layers)")
    p.add_argument("--reduction", default="avgpool", help="avgpool | flatten | srp:<dim> (sparse random projection)")
    p.add_argument("--cache-dir", default=None, help="activation cache folder (default: the user cache)")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU) | cpu | cuda | mps")
    if layers_and_budget:
        p.add_argument("--budget-gb", type=float, default=None, help="refuse work whose memory estimate exceeds this")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="neuroalign", description="Measure how brain-like a vision model is.")
    p.add_argument("--version", action="version", version=f"neuroalign {__import__('neuroalign').__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("datasets", help="list registered dataset files, where they are and whether checksums hold",
                       description="List each registered dataset file: its local path, presence and SHA-256 check.")
    d.add_argument("--all", action="store_true", help="also list registered files that are not present locally")
    d.add_argument("--check", action="store_true", help="exit non-zero on a checksum mismatch (or, with --all, a missing file)")
    d.add_argument("--data-dir", default=None, help="data directory (default: $NEUROALIGN_DATA, then the user cache)")
    d.add_argument("--output", type=Path, default=None, help="also write the table as CSV")
    d.set_defaults(func=cmd_datasets)

    m = sub.add_parser("models", help="list model specs, or the layers of one model",
                       description="List model specs (torchvision:<arch>, efficientnet-lite0/1, checkpoint:, plugin:).")
    m.add_argument("--layers", metavar="MODEL", default=None, help="print the identity and layer names of MODEL")
    m.set_defaults(func=cmd_models)

    b = sub.add_parser("benchmarks", help="list registered benchmarks")
    b.set_defaults(func=cmd_benchmarks)

    e = sub.add_parser("extract", help="extract activations of MODEL to a stimulus set into the cache",
                       description="Example: neuroalign extract efficientnet-lite0 --stimuli kriegeskorte2008_92")
    e.add_argument("model", help="model spec, e.g. efficientnet-lite0 or torchvision:resnet18")
    e.add_argument("--stimuli", required=True, help="stimulus set: synthetic, kriegeskorte2008_92, cowley2023_v4-<session>")
    e.add_argument("--batch-size", type=int, default=32)
    e.add_argument("--manifest", type=Path, default=None, help="write a JSON summary of the stores here")
    _add_extraction_args(e)
    e.set_defaults(func=cmd_extract)

    sc = sub.add_parser("score", help="score MODEL on a benchmark",
                        description="Example: neuroalign score efficientnet-lite0 --benchmark cowley2023.210325.encoding")
    sc.add_argument("model", help="model spec")
    sc.add_argument("--benchmark", required=True, help="benchmark id (see `neuroalign benchmarks`)")
    sc.add_argument("--name", default=None, help="name to record for the model (default: its spec)")
    sc.add_argument("--seed", type=int, default=0)
    sc.add_argument("--dask", default=None, help="fit ridge targets on a dask cluster: local | slurm | <address>")
    sc.add_argument("--dask-workers", type=int, default=2,
                    help="workers (local) or jobs (slurm; queue/account from dask-jobqueue's config) to start")
    sc.add_argument("--out", type=Path, default=None, help="write the Score as NetCDF")
    sc.add_argument("--table", type=Path, default=None, help="write the results-table rows as CSV")
    _add_extraction_args(sc)
    sc.set_defaults(func=cmd_score)

    rd = sub.add_parser("rdms", help="write a model's per-layer RDMs on a stimulus set (NetCDF)",
                        description="Example: neuroalign rdms efficientnet-lite0 --stimuli kriegeskorte2008_92 --out rdms.nc")
    rd.add_argument("model")
    rd.add_argument("--stimuli", required=True)
    rd.add_argument("--method", default="correlation", help="correlation | euclidean | cosine")
    rd.add_argument("--out", type=Path, required=True)
    _add_extraction_args(rd)
    rd.set_defaults(func=cmd_rdms)

    r = sub.add_parser("results", help="concatenate results-table CSVs")
    r.add_argument("tables", nargs="*", type=Path)
    r.add_argument("--kind", default=None, help="keep only rows of this benchmark kind")
    r.add_argument("--out", type=Path, required=True)
    r.set_defaults(func=cmd_results)

    eb = sub.add_parser("export-brainscore", help="write a Brain-Score model plugin folder for MODEL",
                        description="Example: neuroalign export-brainscore efficientnet-lite0 plugins/effnet "
                                    "--results results/results.csv")
    eb.add_argument("model")
    eb.add_argument("out_dir", type=Path)
    eb.add_argument("--region", action="append", help="REGION=LAYER (repeatable), e.g. V4=_blocks.6")
    eb.add_argument("--results", type=Path, default=None, help="take each region's layer from neuroalign's choice")
    eb.set_defaults(func=cmd_export_brainscore)

    ft = sub.add_parser("finetune", help="fine-tune MODEL with neural data as a regulariser (or a control)",
                        description="Example: neuroalign finetune efficientnet-lite0 --layer _blocks.6 "
                                    "--neural cowley:210322:natural --loss cka --condition shuffled --out-dir ft/shuffled")
    ft.add_argument("model")
    ft.add_argument("--layer", required=True, help="layer whose activations the neural loss shapes")
    ft.add_argument("--neural", default="synthetic", help="synthetic | cowley:<session>[:<family>]")
    ft.add_argument("--loss", default="cka", choices=["cka", "cka_debiased", "rsa", "readout_mse", "readout_poisson"])
    ft.add_argument("--lam", type=float, default=1.0, help="weight of the neural term")
    ft.add_argument("--steps", type=int, default=200)
    ft.add_argument("--warmup", type=int, default=0, help="task-only steps before the neural term starts")
    ft.add_argument("--probability", type=float, default=1.0, help="chance of the neural term on a step")
    ft.add_argument("--condition", default="neural", choices=["neural", "shuffled", "pixel", "lambda0"])
    ft.add_argument("--task-data", default=None,
                    help="ImageFolder path (cross-entropy); default: distillation to the original logits")
    ft.add_argument("--eval-neural", action="append", help="other neurons/sessions to evaluate on (repeatable)")
    ft.add_argument("--pool", default="flatten", choices=["flatten", "mean"])
    ft.add_argument("--batch-size", type=int, default=32)
    ft.add_argument("--lr", type=float, default=1e-4)
    ft.add_argument("--seed", type=int, default=0)
    ft.add_argument("--device", default="auto")
    ft.add_argument("--out-dir", type=Path, required=True, help="checkpoints, final weights and score.nc")
    ft.set_defaults(func=cmd_finetune)

    fs = sub.add_parser("finetune-summary", help="table of fine-tuning scores (one row per condition)")
    fs.add_argument("scores", nargs="+", type=Path)
    fs.add_argument("--out", type=Path, required=True)
    fs.set_defaults(func=cmd_finetune_summary)

    sl = sub.add_parser("scaling", help="predictivity vs recording time: subsample images and repeats",
                        description="Example: neuroalign scaling synthetic --model reference --layer block2 --out scaling.csv")
    sl.add_argument("stimuli", help="a benchmark stimulus set with single trials: synthetic, cowley2023_v4-210325")
    sl.add_argument("--model", default="reference")
    sl.add_argument("--layer", default="block2")
    sl.add_argument("--n-points", type=int, default=6, help="image counts on a log grid")
    sl.add_argument("--seed", type=int, default=0)
    sl.add_argument("--out", type=Path, required=True)
    _add_extraction_args(sl, layers_and_budget=False)  # one --layer; no budget check in this command
    sl.set_defaults(func=cmd_scaling)

    f = sub.add_parser("figures", help="regenerate every figure from a results table",
                       description="Example: neuroalign figures results/results.csv results/figures")
    f.add_argument("results", type=Path, help="results CSV or a folder of them")
    f.add_argument("out_dir", type=Path)
    f.add_argument("--scaling", type=Path, default=None, help="scaling-law points CSV")
    f.add_argument("--finetune", type=Path, default=None, help="fine-tuning summary CSV")
    f.add_argument("--n-boot", type=int, default=1000)
    f.add_argument("--seed", type=int, default=0)
    f.set_defaults(func=cmd_figures)

    lb = sub.add_parser("leaderboard", help="write the leaderboard (CSV + sortable static HTML)",
                        description="Example: neuroalign leaderboard results/results.csv --out-dir results/leaderboard")
    lb.add_argument("results", type=Path)
    lb.add_argument("--out-dir", type=Path, required=True)
    lb.add_argument("--figures-dir", default=None, help="figures folder to link from each model's row")
    lb.set_defaults(func=cmd_leaderboard)

    su = sub.add_parser("submit", help="validate a model package in a sandboxed subprocess and add it to the grid",
                        description="Example: neuroalign submit my_model/ --submissions results/submissions.yaml")
    su.add_argument("path", type=Path, help="folder with metadata.yaml, or a .py file with a sibling .yaml")
    su.add_argument("--submissions", type=Path, default=Path("results/submissions.yaml"),
                    help="the submissions file the workflow reads (config key `submissions`)")
    su.add_argument("--timeout", type=float, default=300, help="seconds the validation may take")
    su.add_argument("--memory-gb", type=float, default=8, help="address-space limit of the validation process")
    su.set_defaults(func=cmd_submit)

    return p


def main(argv: list[str] | None = None) -> int:
    import signal

    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `neuroalign benchmarks | head` exits quietly
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except NeuroalignError as exc:
        print(f"neuroalign {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
