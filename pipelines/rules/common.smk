# Grid and helpers shared by every rule file (no science here). Every value that reaches a shell
# line is quoted (Q = shlex.quote; Snakemake's own paths with `{output:q}`): a model, layer,
# benchmark or path name is one word, never shell syntax (docs/security.md).
import shlex

import yaml

from neuroalign.benchmarks import get_benchmark, stimulus_key
from neuroalign.workflow import check_config, grid_benchmarks, grid_models, score_groups, score_rule_name

check_config(config)
RESULTS = config["results"]
CACHE = config.get("cache_dir") or f"{RESULTS}/cache"
MODELS = grid_models(config)  # config models + submitted models
BENCH_SPECS = grid_benchmarks(config)  # identifier -> registered id, benchmark file or brainscore:<id>
BENCHMARKS = list(BENCH_SPECS)
STIMSETS = {stimulus_key(b): b.stimulus_set for b in map(get_benchmark, BENCH_SPECS.values())}
JOBS_PER = config.get("jobs_per", "model")
# what the extract rule writes per model: the benchmarks' stimulus sets, and those of scaling runs on grid models
EXTRACT_SETS = list(dict.fromkeys([*STIMSETS, *(r["stimuli"] for r in (config.get("scaling") or {}).get("runs", {}).values()
                                                if r.get("model") in MODELS)]))
Q = shlex.quote
DATA_ENV = f"NEUROALIGN_DATA={Q(str(config['data_dir']))} " if config.get("data_dir") else ""
LIMITS_ENV = "".join(f"NEUROALIGN_{k.upper()}={Q(str(v))} " for k, v in (config.get("image_limits") or {}).items()
                     if k.replace("_", "").isalnum())
NA = f"{DATA_ENV}{LIMITS_ENV}neuroalign"
CACHE_Q, RESULTS_Q = Q(str(CACHE)), Q(str(RESULTS))
CFG = {k: Q(str(v)) for k, v in config.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)}


def stimulus_set(benchmark):
    """The extraction key (file-name safe) of a benchmark's stimulus set."""
    return stimulus_key(get_benchmark(BENCH_SPECS[benchmark]))


def stimuli_source(stimset):
    """What `--stimuli` takes for an extraction key: a registered name or an image folder / zip path."""
    return STIMSETS.get(stimset, stimset)


def bench_spec(benchmark):
    return BENCH_SPECS[benchmark]


def model_spec(model):
    return MODELS[model]["spec"]


def model_layers(model):
    layers = MODELS[model].get("layers")
    return ("--layers " + " ".join(map(Q, layers))) if layers else ""


def model_reduction(model):
    return Q(str(MODELS[model].get("reduction", config.get("reduction", "avgpool"))))


def model_sandbox(model):
    """Flags for untrusted (submitted) code: sandboxed extraction, its pinned folder hash, refusals as results."""
    m = MODELS[model]
    if not m.get("sandbox"):
        return ""
    return "--sandbox --record-refusal" + (f" --pinned {Q(m['pinned'])}" if m.get("pinned") else "")


wildcard_constraints:
    model="[A-Za-z0-9][A-Za-z0-9_.-]*",
    benchmark="[A-Za-z0-9_.]+",
    stimset="[A-Za-z0-9_.-]+",


rule datasets:
    output: f"{RESULTS}/datasets.csv"
    log: f"{RESULTS}/logs/datasets.log"
    shell: "{NA} datasets --check --output {output:q} > {log:q} 2>&1"
