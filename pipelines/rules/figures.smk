# Figures regenerated from the results table (PNG + SVG + CSV of the plotted values each).
# The scaling law, one table per run of config `scaling.runs` (synthetic benchmark, Cowley 210325).
SC = config.get("scaling", {})
SC_RUNS = SC.get("runs", {})
SC_TABLES = expand(f"{RESULTS}/scaling/{{run}}.csv", run=list(SC_RUNS))


def scaling_flags(run):
    r = SC_RUNS[run]
    model = r["model"]
    spec = model_spec(model) if model in MODELS else model
    red = model_reduction(model) if model in MODELS else config.get("reduction", "avgpool")
    values = {"--model": spec, "--model-name": model, "--layer": r["layer"], "--reduction": red, "--name": run,
              "--n-points": SC.get("n_points", 6), "--n-draws": SC.get("n_draws", 3), "--n-boot": SC.get("n_boot", 1000),
              **{f"--{k.replace('_', '-')}": r[k] for k in ("min_images", "stimulus_duration_s", "interstimulus_s")
                 if r.get(k) is not None}}
    return " ".join(f"{flag} {Q(str(v))}" for flag, v in values.items())  # every value quoted


def scaling_inputs(w):
    """A grid model's extraction of the run's stimulus set (its activations are reused from the cache)."""
    r = SC_RUNS[w.run]
    return [f"{RESULTS}/activations/{r['model']}/{r['stimuli']}.json"] if r["model"] in MODELS else []


rule scaling:
    input: scaling_inputs
    output:
        points=f"{RESULTS}/scaling/{{run}}.csv",
        boot=f"{RESULTS}/scaling/{{run}}_boot.csv",
        fit=f"{RESULTS}/scaling/{{run}}_fit.csv",
        allocation=f"{RESULTS}/scaling/{{run}}_allocation.csv",
    params:
        stimuli=lambda w: Q(SC_RUNS[w.run]["stimuli"]),
        flags=lambda w: scaling_flags(w.run),
    wildcard_constraints: run="[A-Za-z0-9][A-Za-z0-9.-]*"
    log: f"{RESULTS}/logs/scaling/{{run}}.log"
    threads: 2
    shell:
        "{NA} scaling {params.stimuli} {params.flags} --seed {CFG[seed]} --device {CFG[device]} "
        "--cache-dir {CACHE_Q} --out {output.points:q} > {log:q} 2>&1"


rule figures:
    input:
        results=f"{RESULTS}/results.csv",
        scaling=SC_TABLES,
        finetune=FINETUNE_TARGETS,
        scores=expand(f"{RESULTS}/scores/{{model}}/{{benchmark}}.nc", model=list(MODELS), benchmark=BENCHMARKS),
    output:
        done=f"{RESULTS}/figures/done.txt",
        figs=report(directory(f"{RESULTS}/figures/png"), patterns=["{name}.png"], category="Figures",
                    caption="../report/figures.rst"),
    params:
        ft=lambda w, input: f"--finetune {Q(input.finetune[0])}" if input.finetune else "",
        sc=lambda w, input: ("--scaling " + " ".join(map(Q, input.scaling))) if input.scaling else "",
    log: f"{RESULTS}/logs/figures.log"
    shell: "{NA} figures {input.results:q} {RESULTS_Q}/figures --scores {RESULTS_Q}/scores {params.sc} {params.ft} > {log:q} 2>&1 && ls {RESULTS_Q}/figures > {output.done:q}"
