# `snakemake --report report.html` collects every output wrapped in report():
# the results table (encode.smk), the figures (figures.smk), the leaderboard and fine-tuning summary.
report: "../report/workflow.rst"
