"""Issue 29 §3: the workflow's parse (config check, benchmark lookups) must not import torch,
which costs seconds on every Snakemake start; scoring imports it when it runs."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PARSE = """
import sys, yaml
from neuroalign.workflow import check_config, grid_benchmarks
from neuroalign.benchmarks import get_benchmark, stimulus_key
cfg = yaml.safe_load(open({cfg!r}))
check_config(cfg)
for b in cfg["benchmarks"]:
    stimulus_key(get_benchmark(b))
print(sorted(m for m in ("torch", "torchvision") if m in sys.modules))
"""


def test_config_check_and_benchmark_lookup_do_not_import_torch():
    cfg = ROOT / "pipelines" / "config" / "default.yaml"
    out = subprocess.run([sys.executable, "-c", PARSE.format(cfg=str(cfg))], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
