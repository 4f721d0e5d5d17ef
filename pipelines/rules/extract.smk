# Activations: once per model × stimulus set, shared by every benchmark that uses the set.
rule extract:
    output: f"{RESULTS}/activations/{{model}}/{{stimset}}.json"
    params:
        spec=lambda w: model_spec(w.model),
        layers=lambda w: model_layers(w.model),
        reduction=lambda w: model_reduction(w.model),
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=1 if config.get("device", "auto") in ("auto", "cuda") else 0,
    log: f"{RESULTS}/logs/extract/{{model}}/{{stimset}}.log"
    shell:
        "{NA} extract '{params.spec}' --stimuli {wildcards.stimset} {params.layers} --reduction {params.reduction} "
        "--cache-dir {CACHE} --device {config[device]} --batch-size {config[batch_size]} "
        "--budget-gb {config[budget_gb]} --manifest {output} > {log} 2>&1"
