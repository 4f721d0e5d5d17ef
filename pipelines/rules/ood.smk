# OOD benchmarks (cowley2023.210322.ood.*, synthetic.ood.*, ...) are ordinary benchmarks
# scored by the `score_<stimulus set>` rules; their results carry id_score, ood_score, gap and ratio.
# This rule gathers them into one table for the ID-vs-OOD figure.
rule ood_table:
    input: f"{RESULTS}/results.csv"
    output: f"{RESULTS}/ood.csv"
    log: f"{RESULTS}/logs/ood.log"
    shell: "{NA} results {input} --kind ood --out {output} > {log} 2>&1"
