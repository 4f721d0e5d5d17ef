# RSA and CKA benchmarks are scored by the `score_<stimulus set>` rules (encode.smk) through the
# benchmark registry; this file holds the rule that exports RDMs for inspection
# (on demand: `snakemake results/rdms/<model>/<stimulus set>.nc`).
rule rdm:
    input: lambda w: f"{RESULTS}/activations/{w.model}/{w.stimset}.json"
    output: f"{RESULTS}/rdms/{{model}}/{{stimset}}.nc"
    params:
        spec=lambda w: Q(model_spec(w.model)),
        stimuli=lambda w: Q(stimuli_source(w.stimset)),
        layers=lambda w: model_layers(w.model),
        reduction=lambda w: model_reduction(w.model),
        sandbox=lambda w: model_sandbox(w.model).replace(" --record-refusal", ""),  # submitted code: bubblewrap
    log: f"{RESULTS}/logs/rdm/{{model}}/{{stimset}}.log"
    shell:  # the extract rule's layers, reduction and device: the same cached activations
        "{NA} rdms {params.spec} --stimuli {params.stimuli} {params.layers} --reduction {params.reduction} "
        "--cache-dir {CACHE_Q} --device {CFG[device]} --budget-gb {CFG[budget_gb]} {params.sandbox} --out {output:q} > {log:q} 2>&1"
