# Activations: computed once per model × stimulus set, shared by every benchmark that uses the
# set (a JSON manifest marks each; the Zarr stores live in the content-keyed cache). With
# `jobs_per: model` (default) one `neuroalign extract` per model does all of its sets in one
# process (one interpreter and torch start-up, one model load); `jobs_per: stimulus_set` runs
# one job per model × set (more, shorter jobs for a cluster). A set already in the cache is
# read, not recomputed, so a rerun after a failure redoes only what is missing.
def _extract_params(w):
    return dict(spec=Q(model_spec(w.model)), layers=model_layers(w.model), reduction=model_reduction(w.model),
                # submitted models (neuroalign submit): only their activations are computed, in bubblewrap
                sandbox=model_sandbox(w.model))


def _extract_pairs(w, output):
    """`--stimuli S --manifest M` for each output manifest, S read back from its file name."""
    return " ".join(f"--stimuli {Q(stimuli_source(Path(m).stem))} --manifest {Q(m)}" for m in output)


EXTRACT_SHELL = ("{NA} extract {params.p[spec]} {params.pairs} {params.p[layers]} --reduction {params.p[reduction]} "
                 "--cache-dir {CACHE_Q} --device {CFG[device]} --batch-size {CFG[batch_size]} "
                 "--budget-gb {CFG[budget_gb]} {params.p[sandbox]} > {log:q} 2>&1")

if JOBS_PER == "model":
    EXTRACT_OUT = [f"{RESULTS}/activations/{{model}}/{s}.json" for s in EXTRACT_SETS]
    EXTRACT_LOG = f"{RESULTS}/logs/extract/{{model}}.log"
else:
    EXTRACT_OUT = f"{RESULTS}/activations/{{model}}/{{stimset}}.json"
    EXTRACT_LOG = f"{RESULTS}/logs/extract/{{model}}/{{stimset}}.log"


rule extract:
    output: EXTRACT_OUT
    params:
        p=_extract_params,
        pairs=_extract_pairs,
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=1 if config.get("device", "auto") in ("auto", "cuda") else 0,
    log: EXTRACT_LOG
    shell: EXTRACT_SHELL
