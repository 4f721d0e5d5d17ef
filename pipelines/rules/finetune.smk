# Fine-tuning with neural data as a regulariser, and its controls (config block `finetune`).
FT = config.get("finetune", {})
FT_CONDITIONS = ["neural"] + list(FT.get("controls", ["shuffled", "pixel", "lambda0"]))
FINETUNE_TARGETS = [f"{RESULTS}/finetune/summary.csv"] if FT.get("enabled") else []
# settings passed on as `neuroalign finetune` flags when set (default.yaml sets the main ones;
# the rest keep the command's own defaults)
FT_FLAGS = ("layer", "neural", "loss", "lam", "steps", "warmup", "probability", "batch_size", "task_data")


rule finetune:
    output: f"{RESULTS}/finetune/{{condition}}/score.nc"
    params:
        model=Q(str(FT.get("model"))),
        flags=" ".join(f"--{k.replace('_', '-')} {Q(str(FT[k]))}" for k in FT_FLAGS if FT.get(k) is not None),
        evaln=" ".join(f"--eval-neural {Q(str(e))}" for e in FT.get("eval_neural", [])),
    threads: 2
    resources:
        mem_mb=12000,
        runtime=600,
        gpu=1,
    log: f"{RESULTS}/logs/finetune/{{condition}}.log"
    shell:
        "{NA} finetune {params.model} {params.flags} --condition {wildcards.condition:q} {params.evaln} "
        "--seed {CFG[seed]} --device {CFG[device]} --out-dir {RESULTS_Q}/finetune/{wildcards.condition:q} > {log:q} 2>&1"


rule finetune_summary:
    input: expand(f"{RESULTS}/finetune/{{condition}}/score.nc", condition=FT_CONDITIONS)
    output: report(f"{RESULTS}/finetune/summary.csv", category="Fine-tuning", caption="../report/finetune.rst")
    log: f"{RESULTS}/logs/finetune/summary.log"
    shell: "{NA} finetune-summary {input} --out {output} > {log} 2>&1"
