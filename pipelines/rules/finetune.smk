# Fine-tuning with neural data as a regulariser, and its controls (config block `finetune`).
FT = config.get("finetune", {})
FT_CONDITIONS = ["neural"] + list(FT.get("controls", ["shuffled", "pixel", "lambda0"]))
FT_SWEEP = [f"{RESULTS}/finetune/sweep/sweep.csv"] if FT.get("lam_sweep") else []
FINETUNE_TARGETS = [f"{RESULTS}/finetune/summary.csv", *FT_SWEEP] if FT.get("enabled") else []
# settings passed on as `neuroalign finetune` flags when set (default.yaml sets the main ones;
# the rest keep the command's own defaults)
FT_FLAGS = ("layer", "neural", "loss", "lam", "balance", "steps", "warmup", "probability", "batch_size", "task_data")
FT_SWEEP_FLAGS = [f for f in FT_FLAGS if f != "lam"]


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


# the λ sweep: every condition × λ × seed, paired comparison and the Pareto figure (finetune_pareto.png)
rule finetune_sweep:
    output:
        sweep=report(f"{RESULTS}/finetune/sweep/sweep.csv", category="Fine-tuning"),
        comparison=f"{RESULTS}/finetune/sweep/comparison.csv",
        figure=report(f"{RESULTS}/finetune/sweep/finetune_pareto.png", category="Fine-tuning"),
    params:
        model=Q(str(FT.get("model"))),
        flags=" ".join(f"--{k.replace('_', '-')} {Q(str(FT[k]))}" for k in FT_SWEEP_FLAGS if FT.get(k) is not None),
        lams=Q(",".join(str(v) for v in FT.get("lam_sweep", []))),
        conditions=Q(",".join(["neural"] + [c for c in FT.get("controls", ["shuffled", "pixel"]) if c != "lambda0"])),
        seeds=Q(",".join(str(s) for s in FT.get("seeds", [0, 1, 2]))),
        evaln=" ".join(f"--eval-neural {Q(str(e))}" for e in FT.get("eval_neural", [])),
    threads: 2
    resources:
        mem_mb=12000,
        runtime=1440,
        gpu=1,
    log: f"{RESULTS}/logs/finetune/sweep.log"
    shell:
        "{NA} finetune {params.model} {params.flags} --lam-sweep {params.lams} --sweep-conditions {params.conditions} "
        "--seeds {params.seeds} {params.evaln} --device {CFG[device]} --out-dir {RESULTS_Q}/finetune/sweep > {log:q} 2>&1"
