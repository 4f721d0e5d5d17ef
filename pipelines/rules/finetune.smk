# Fine-tuning with neural data as a regulariser, and its controls (config block `finetune`).
FT = config.get("finetune", {})
FT_CONDITIONS = ["neural"] + list(FT.get("controls", ["shuffled", "pixel", "lambda0"]))
FINETUNE_TARGETS = [f"{RESULTS}/finetune/summary.csv"] if FT.get("enabled") else []


rule finetune:
    output: f"{RESULTS}/finetune/{{condition}}/score.nc"
    params:
        model=FT.get("model", "efficientnet-lite0"),
        layer=FT.get("layer", ""),
        neural=FT.get("neural", "synthetic"),
        loss=FT.get("loss", "cka"),
        lam=FT.get("lam", 1.0),
        steps=FT.get("steps", 50),
        task=f"--task-data {FT['task_data']}" if FT.get("task_data") else "",
    threads: 2
    resources:
        mem_mb=12000,
        runtime=600,
        gpu=1,
    log: f"{RESULTS}/logs/finetune/{{condition}}.log"
    shell:
        "{NA} finetune '{params.model}' --layer '{params.layer}' --neural {params.neural} --loss {params.loss} "
        "--lam {params.lam} --steps {params.steps} --condition {wildcards.condition} {params.task} "
        "--seed {config[seed]} --device {config[device]} --out-dir {RESULTS}/finetune/{wildcards.condition} > {log} 2>&1"


rule finetune_summary:
    input: expand(f"{RESULTS}/finetune/{{condition}}/score.nc", condition=FT_CONDITIONS)
    output: report(f"{RESULTS}/finetune/summary.csv", category="Fine-tuning")
    log: f"{RESULTS}/logs/finetune/summary.log"
    shell: "{NA} finetune-summary {input} --out {output} > {log} 2>&1"
