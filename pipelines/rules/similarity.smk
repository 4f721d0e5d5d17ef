# RSA and CKA benchmarks are scored by the `score` rule (encode.smk) through the
# benchmark registry; this file holds the rule that exports RDMs for inspection.
rule rdm:
    input: lambda w: f"{RESULTS}/activations/{w.model}/{w.stimset}.json"
    output: f"{RESULTS}/rdms/{{model}}/{{stimset}}.nc"
    params: spec=lambda w: model_spec(w.model), reduction=lambda w: model_reduction(w.model)
    log: f"{RESULTS}/logs/rdm/{{model}}/{{stimset}}.log"
    shell:
        "{NA} rdms '{params.spec}' --stimuli {wildcards.stimset} --reduction {params.reduction} "
        "--cache-dir {CACHE} --out {output} > {log} 2>&1"
