# Figures regenerated from the results table (PNG + SVG + CSV of the plotted values each).
rule scaling:
    output: f"{RESULTS}/scaling.csv"
    log: f"{RESULTS}/logs/scaling.log"
    threads: 2
    shell: "{NA} scaling synthetic --model reference --layer block2 --cache-dir {CACHE} --out {output} > {log} 2>&1"


rule figures:
    input:
        results=f"{RESULTS}/results.csv",
        scaling=f"{RESULTS}/scaling.csv",
        finetune=FINETUNE_TARGETS,
    output:
        done=f"{RESULTS}/figures/done.txt",
        figs=report(directory(f"{RESULTS}/figures/png"), patterns=["{name}.png"], category="Figures"),
    params: ft=lambda w, input: f"--finetune {input.finetune[0]}" if input.finetune else ""
    log: f"{RESULTS}/logs/figures.log"
    shell: "{NA} figures {input.results} {RESULTS}/figures --scaling {input.scaling} {params.ft} > {log} 2>&1 && ls {RESULTS}/figures > {output.done}"
