# `snakemake --report report.html` collects every output wrapped in report():
# the results table (encode.smk), the figures (figures.smk), the leaderboard and fine-tuning summary.
# The front page: what ran, on which data, the ranking with intervals. `neuroalign leaderboard` writes it
# beside the site (leaderboard/report.rst); before the first run the static description stands in.
FRONT_PAGE = Path(RESULTS, "leaderboard", "report.rst").resolve()
report: str(FRONT_PAGE) if FRONT_PAGE.is_file() else "../report/workflow.rst"
