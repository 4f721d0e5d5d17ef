rule leaderboard:
    input: f"{RESULTS}/results.csv"
    output:
        html=report(f"{RESULTS}/leaderboard/leaderboard.html", category="Leaderboard"),
        csv=f"{RESULTS}/leaderboard/leaderboard.csv",
    log: f"{RESULTS}/logs/leaderboard.log"
    shell: "{NA} leaderboard {input} --out-dir {RESULTS}/leaderboard --figures-dir ../figures > {log} 2>&1"
