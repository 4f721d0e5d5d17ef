# Grid and helpers shared by every rule file (no science here).
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
DATA_ENV = f"NEUROALIGN_DATA={config['data_dir']} " if config.get("data_dir") else ""
LIMITS_ENV = "".join(f"NEUROALIGN_{k.upper()}={v} " for k, v in (config.get("image_limits") or {}).items())
NA = f"{DATA_ENV}{LIMITS_ENV}neuroalign"


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
    return ("--layers " + " ".join(layers)) if layers else ""


def model_reduction(model):
    return MODELS[model].get("reduction", config.get("reduction", "avgpool"))


wildcard_constraints:
    model="[A-Za-z0-9][A-Za-z0-9_.-]*",
    benchmark="[A-Za-z0-9_.]+",
    stimset="[A-Za-z0-9_.-]+",


rule datasets:
    output: f"{RESULTS}/datasets.csv"
    log: f"{RESULTS}/logs/datasets.log"
    shell: "{NA} datasets --check --output {output} > {log} 2>&1"
