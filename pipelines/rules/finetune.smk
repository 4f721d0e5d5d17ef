# Fine-tuning with neural data as a regulariser, and its controls (config block `finetune`).
FT = config.get("finetune", {})
FT_CONDITIONS = ["neural"] + list(FT.get("controls", ["shuffled", "pixel", "lambda0"]))
FINETUNE_TARGETS = [f"{RESULTS}/finetune/summary.csv"] if FT.get("enabled") else []


rule finetune:
    output: f"{RESULTS}/finetune/{{condition}}/score.nc"
    params:
        model=FT.get("model", "reference?seed=123"),
        layer=FT.get("layer", "block2"),
        neural=FT.get("neural", "synthetic"),
        loss=FT.get("loss", "cka"),
        lam=FT.get("lam", 1.0),
        steps=FT.get("steps", 150),
        warmup=FT.get("warmup", 0),
        probability=FT.get("probability", 1.0),
        batch_size=FT.get("batch_size", 32),
        task=f"--task-data {FT['task_data']}" if FT.get("task_data") else "",
        evaln=" ".join(f"--eval-neural {e}" for e in FT.get("eval_neural", [])),
    threads: 2
    resources:
        mem_mb=12000,
        runtime=600,
        gpu=1,
    log: f"{RESULTS}/logs/finetune/{{condition}}.log"
    shell:
        "{NA} finetune '{params.model}' --layer '{params.layer}' --neural {params.neural} --loss {params.loss} "
        "--lam {params.lam} --steps {params.steps} --warmup {params.warmup} --probability {params.probability} "
        "--batch-size {params.batch_size} --condition {wildcards.condition} {params.task} {params.evaln} "
        "--seed {config[seed]} --device {config[device]} --out-dir {RESULTS}/finetune/{wildcards.condition} > {log} 2>&1"


rule finetune_summary:
    input: expand(f"{RESULTS}/finetune/{{condition}}/score.nc", condition=FT_CONDITIONS)
    output: report(f"{RESULTS}/finetune/summary.csv", category="Fine-tuning")
    log: f"{RESULTS}/logs/finetune/summary.log"
    shell: "{NA} finetune-summary {input} --out {output} > {log} 2>&1"
