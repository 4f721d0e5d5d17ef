# Activations: once per model × stimulus set, shared by every benchmark that uses the set.
rule extract:
    output: f"{RESULTS}/activations/{{model}}/{{stimset}}.json"
    params:
        spec=lambda w: model_spec(w.model),
        stimuli=lambda w: stimuli_source(w.stimset),
        layers=lambda w: model_layers(w.model),
        reduction=lambda w: model_reduction(w.model),
        # submitted models (neuroalign submit) run inside bubblewrap: no network, writes to the cache and output only
        sandbox=lambda w: "--sandbox" if MODELS[w.model].get("sandbox") else "",
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=1 if config.get("device", "auto") in ("auto", "cuda") else 0,
    log: f"{RESULTS}/logs/extract/{{model}}/{{stimset}}.log"
    shell:
        "{NA} extract '{params.spec}' --stimuli '{params.stimuli}' {params.layers} --reduction {params.reduction} "
        "--cache-dir {CACHE} --device {config[device]} --batch-size {config[batch_size]} "
        "--budget-gb {config[budget_gb]} {params.sandbox} --manifest {output} > {log} 2>&1"
