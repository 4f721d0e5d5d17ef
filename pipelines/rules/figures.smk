# Figures regenerated from the results table (PNG + SVG + CSV of the plotted values each).
rule figures:
    input:
        results=f"{RESULTS}/results.csv",
        finetune=FINETUNE_TARGETS,
    output:
        done=f"{RESULTS}/figures/done.txt",
        figs=report(directory(f"{RESULTS}/figures/png"), patterns=["{name}.png"], category="Figures"),
    params: ft=lambda w, input: f"--finetune {input.finetune[0]}" if input.finetune else ""
    log: f"{RESULTS}/logs/figures.log"
    shell: "{NA} figures {input.results} {RESULTS}/figures {params.ft} > {log} 2>&1 && ls {RESULTS}/figures > {output.done}"
