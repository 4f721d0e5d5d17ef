# Scores: encoding, PLS, RSA, CKA and OOD benchmarks all go through `neuroalign score`; the
# benchmark registry decides the metric. One process scores several benchmarks (one interpreter
# and torch start-up, one model load), each keeping its own .nc and .csv, written as soon as it
# is scored: with `jobs_per: model` (default) rule `score` does all of a model's benchmarks;
# with `jobs_per: stimulus_set` rule `score_<set>` does those of one stimulus set (one rule per
# set of the grid, as a Snakemake output list cannot depend on a wildcard). A failed job reruns
# its group.
SCORE_GROUPS = {"": BENCHMARKS} if JOBS_PER == "model" else score_groups(BENCH_SPECS)  # set key -> benchmarks


def _score_params(w):
    return dict(spec=Q(model_spec(w.model)), layers=model_layers(w.model), reduction=model_reduction(w.model),
                sandbox=model_sandbox(w.model),  # submitted code: sandboxed activations, host scoring
                dask=(f"--dask {Q(str(config['dask']['address']))} --dask-workers {Q(str(config['dask']['n_workers']))}"
                      if config.get("dask", {}).get("address") else ""))


def _score_outputs(w, output):
    return " ".join(f"--out {Q(nc)} --table {Q(csv)}" for nc, csv in zip(output.scores, output.tables))


for _stimset, _benches in SCORE_GROUPS.items():
    _log = f"{RESULTS}/logs/score/{{model}}/{_stimset}.log" if _stimset else f"{RESULTS}/logs/score/{{model}}.log"

    rule:
        name: score_rule_name(_stimset) if _stimset else "score"
        input: [f"{RESULTS}/activations/{{model}}/{s}.json" for s in dict.fromkeys(map(stimulus_set, _benches))]
        output:
            scores=[f"{RESULTS}/scores/{{model}}/{b}.nc" for b in _benches],
            tables=[f"{RESULTS}/scores/{{model}}/{b}.csv" for b in _benches],
        params:
            p=_score_params,
            benches=" ".join(f"--benchmark {Q(bench_spec(b))}" for b in _benches),
            outputs=_score_outputs,
        threads: 2
        resources:  # a retry (cluster profile: retries) gets more memory and time
            mem_mb=lambda w, attempt: attempt * 8000,
            runtime=lambda w, attempt: attempt * 120,
        log: _log
        shell:
            "{NA} score {params.p[spec]} {params.benches} --name {wildcards.model:q} {params.p[layers]} "
            "--reduction {params.p[reduction]} --cache-dir {CACHE_Q} --device {CFG[device]} --seed {CFG[seed]} "
            "--budget-gb {CFG[budget_gb]} {params.p[dask]} {params.p[sandbox]} {params.outputs} > {log:q} 2>&1"


rule results_table:
    input: expand(f"{RESULTS}/scores/{{model}}/{{benchmark}}.csv", model=list(MODELS), benchmark=BENCHMARKS)
    output: report(f"{RESULTS}/results.csv", category="Scores", caption="../report/results.rst")
    log: f"{RESULTS}/logs/results.log"
    shell: "{NA} results {input:q} --out {output:q} > {log:q} 2>&1"
