import json
import shlex
from pathlib import Path


rule model_grid:
    # the grid's model specs (config + submissions), shown on each model's leaderboard page; JSON is
    # YAML. A shell line, not a `run:` block: Snakemake runs those in a fresh Snakemake process.
    output: f"{RESULTS}/leaderboard/models.yaml"
    params: grid=shlex.quote(json.dumps({"models": MODELS}, sort_keys=True))  # a changed grid rewrites the file
    localrule: True
    shell: "printf '%s\\n' {params.grid} > {output:q}"


rule leaderboard:
    input:
        results=f"{RESULTS}/results.csv",
        figures=f"{RESULTS}/figures/done.txt",  # each model page shows its figures
        grid=f"{RESULTS}/leaderboard/models.yaml",
        scores=expand(f"{RESULTS}/scores/{{model}}/{{benchmark}}.nc", model=list(MODELS), benchmark=BENCHMARKS),
    output:
        html=report(f"{RESULTS}/leaderboard/leaderboard.html", category="Leaderboard",
                    caption="../report/leaderboard.rst"),
        csv=f"{RESULTS}/leaderboard/leaderboard.csv",
        json=f"{RESULTS}/leaderboard/leaderboard.json",
    params:
        # authors, identity and code hash of submitted models, when `neuroalign submit` wrote the file
        submissions=(f"--info {Q(str(config['submissions']))}"
                     if config.get("submissions") and Path(config["submissions"]).is_file() else ""),
    log: f"{RESULTS}/logs/leaderboard.log"
    shell: "{NA} leaderboard {input.results:q} --out-dir {RESULTS_Q}/leaderboard --figures-dir {RESULTS_Q}/figures "
           "--info {input.grid:q} --scores {RESULTS_Q}/scores {params.submissions} > {log:q} 2>&1"
