rule leaderboard:
    input:
        results=f"{RESULTS}/results.csv",
        figures=f"{RESULTS}/figures/done.txt",  # each row links its model's figures
    output:
        html=report(f"{RESULTS}/leaderboard/leaderboard.html", category="Leaderboard"),
        csv=f"{RESULTS}/leaderboard/leaderboard.csv",
    log: f"{RESULTS}/logs/leaderboard.log"
    shell: "{NA} leaderboard {input.results} --out-dir {RESULTS}/leaderboard --figures-dir {RESULTS}/figures > {log} 2>&1"
