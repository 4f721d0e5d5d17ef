# neuroalign workflow: thin by design. Rules call the `neuroalign` CLI; the science lives in the package.
from pathlib import Path

from neuroalign.workflow import validate_config, with_defaults

# The built-in default grid applies when no --configfile is given; a user config replaces the
# grid (models, benchmarks) and inherits every other setting it does not name.
config.update(with_defaults(config, Path(workflow.basedir) / "pipelines/config/default.yaml"))
validate_config(config, Path(workflow.basedir) / "pipelines/config/schema.yaml")

include: "pipelines/rules/common.smk"
include: "pipelines/rules/extract.smk"
include: "pipelines/rules/encode.smk"
include: "pipelines/rules/similarity.smk"
include: "pipelines/rules/ood.smk"
include: "pipelines/rules/finetune.smk"
include: "pipelines/rules/figures.smk"
include: "pipelines/rules/report.smk"
include: "pipelines/rules/leaderboard.smk"


rule all:
    input:
        f"{RESULTS}/datasets.csv",
        f"{RESULTS}/results.csv",
        f"{RESULTS}/leaderboard/leaderboard.html",
        f"{RESULTS}/figures/done.txt",
        FINETUNE_TARGETS,
