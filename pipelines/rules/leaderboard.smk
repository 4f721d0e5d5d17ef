import json
from pathlib import Path


rule model_grid:
    # the grid's model specs (config + submissions), shown on each model's leaderboard page
    output: f"{RESULTS}/leaderboard/models.yaml"
    params: grid=json.dumps(MODELS, sort_keys=True)  # a changed grid rewrites the file
    run:
        from neuroalign.atomic import atomic_path

        with atomic_path(output[0]) as tmp:
            tmp.write_text(yaml.safe_dump({"models": json.loads(params.grid)}, sort_keys=True))


rule leaderboard:
    input:
        results=f"{RESULTS}/results.csv",
        figures=f"{RESULTS}/figures/done.txt",  # each model page shows its figures
        grid=f"{RESULTS}/leaderboard/models.yaml",
    output:
        html=report(f"{RESULTS}/leaderboard/leaderboard.html", category="Leaderboard"),
        csv=f"{RESULTS}/leaderboard/leaderboard.csv",
        json=f"{RESULTS}/leaderboard/leaderboard.json",
    params:
        # authors, identity and code hash of submitted models, when `neuroalign submit` wrote the file
        submissions=(f"--info {config['submissions']}"
                     if config.get("submissions") and Path(config["submissions"]).is_file() else ""),
    log: f"{RESULTS}/logs/leaderboard.log"
    shell: "{NA} leaderboard {input.results} --out-dir {RESULTS}/leaderboard --figures-dir {RESULTS}/figures "
           "--info {input.grid} {params.submissions} > {log} 2>&1"
