# Scores: one per model × benchmark. Encoding, PLS, RSA, CKA and OOD benchmarks all go
# through `neuroalign score`; the benchmark registry decides the metric.
def _score_input(w):
    return f"{RESULTS}/activations/{w.model}/{stimulus_set(w.benchmark)}.json"


rule score:
    input: _score_input
    output:
        score=f"{RESULTS}/scores/{{model}}/{{benchmark}}.nc",
        table=f"{RESULTS}/scores/{{model}}/{{benchmark}}.csv",
    params:
        spec=lambda w: model_spec(w.model),
        bench=lambda w: bench_spec(w.benchmark),
        layers=lambda w: model_layers(w.model),
        reduction=lambda w: model_reduction(w.model),
        sandbox=lambda w: "--sandbox" if MODELS[w.model].get("sandbox") else "",  # submitted code: bubblewrap
        dask=lambda w: (f"--dask {config['dask']['address']} --dask-workers {config['dask']['n_workers']}"
                        if config.get("dask", {}).get("address") else ""),
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
    log: f"{RESULTS}/logs/score/{{model}}/{{benchmark}}.log"
    shell:
        "{NA} score '{params.spec}' --benchmark '{params.bench}' --name {wildcards.model} {params.layers} "
        "--reduction {params.reduction} --cache-dir {CACHE} --device {config[device]} --seed {config[seed]} "
        "--budget-gb {config[budget_gb]} {params.dask} {params.sandbox} --out {output.score} --table {output.table} > {log} 2>&1"


rule results_table:
    input: expand(f"{RESULTS}/scores/{{model}}/{{benchmark}}.csv", model=list(MODELS), benchmark=BENCHMARKS)
    output: report(f"{RESULTS}/results.csv", category="Scores", caption="../report/results.rst")
    log: f"{RESULTS}/logs/results.log"
    shell: "{NA} results {input} --out {output} > {log} 2>&1"
