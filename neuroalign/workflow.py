"""Configuration checks and the model grid for the Snakemake workflow (called from the Snakefile)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import yaml

from .benchmarks import benchmarks
from .errors import ConfigError, unknown

SCHEMA = Path(__file__).resolve().parents[1] / "pipelines" / "config" / "schema.yaml"
DEFAULT = SCHEMA.with_name("default.yaml")


def with_defaults(config: dict, default_path: str | os.PathLike | None = None) -> dict:
    """The user's config over the built-in defaults: missing top-level keys come from
    default.yaml, except the grid (``models``, ``benchmarks``), which a user config replaces."""
    from .yamlsafe import ALIASES_REFUSED, shared_node

    shared = shared_node(config)
    if shared is not None:
        raise ConfigError(f"workflow config: the value at {shared} repeats another through a YAML alias; "
                          f"{ALIASES_REFUSED}.")
    default = yaml.safe_load(Path(default_path or DEFAULT).read_text())
    out = dict(config)
    if config and "models" not in out and default.get("models"):  # a user config without models: say so
        print(f"neuroalign: the config names no `models`: using the default models "
              f"({', '.join(default['models'])}) from {Path(default_path or DEFAULT).name}; "
              "write `models: {}` to score only submitted models.", file=sys.stderr)
    for key, value in default.items():
        if key not in out:
            out[key] = value
        elif isinstance(value, dict) and isinstance(out[key], dict) and key not in ("models",):
            out[key] = {**value, **out[key]}
    return out


def validate_config(config: dict, schema_path: str | os.PathLike | None = None) -> dict:
    """Validate against the JSON schema; a misspelled key is named with the closest valid one."""
    import jsonschema

    schema = yaml.safe_load(Path(schema_path or SCHEMA).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "<top level>"
        msg = f"config error at {where}: {err.message}"
        if err.validator == "additionalProperties":
            allowed = sorted((err.schema.get("properties") or {}).keys())
            extra = [k for k in err.instance if k not in allowed]
            if extra:
                e = unknown("config key", extra[0], allowed)
                msg = f"config error at {where}: {e}"
        raise ConfigError(msg)
    return config


def check_config(config: dict) -> None:
    """Checks beyond the schema: every benchmark exists (closest names suggested) and every
    reduction parses the way extraction will parse it."""
    from .activations.reduction import Reduction

    where = {"reduction": config.get("reduction")} | {
        f"models/{name}/reduction": m.get("reduction") for name, m in (config.get("models") or {}).items()}
    for key, value in where.items():
        if value is not None:
            try:
                Reduction.parse(value)
            except ConfigError as exc:
                raise ConfigError(f"config error at {key}: {exc}") from None
    from .errors import NeuroalignError
    from .models.registry import check_spec

    for name, m in (config.get("models") or {}).items():  # a typo fails the dry run, not a job mid-run
        spec = (m or {}).get("spec") if isinstance(m, dict) else None
        if spec is not None:
            try:
                check_spec(str(spec))
            except NeuroalignError as exc:
                raise ConfigError(f"config error at models/{name}/spec: {exc}") from None
    grid_benchmarks(config)


def grid_benchmarks(config: dict) -> dict[str, str]:
    """The config's ``benchmarks`` as ``{file-name key: spec}`` (the key is the identifier,
    ``:`` and other unsafe characters as ``_``): a spec is a registered identifier,
    the path of a benchmark file (checked now, so a bad file fails the dry run) or
    ``brainscore:<id>``. Two entries with one identifier are refused."""
    from .benchmarks import BRAINSCORE_PREFIX, get_benchmark, is_benchmark_file

    known = benchmarks()
    out: dict[str, str] = {}
    for b in config.get("benchmarks", []):
        b = str(b)
        if b not in known and not is_benchmark_file(b) and not b.startswith(BRAINSCORE_PREFIX):
            raise unknown("benchmark", b, known, hint="Fix `benchmarks` in the config; list them with "
                          "`neuroalign benchmarks`, or give the path of a benchmark file (.yaml).")
        ident = b if b in known else get_benchmark(b).identifier
        key = re.sub(r"[^A-Za-z0-9_.]", "_", ident)  # a file-name-safe key (brainscore ids hold ':')
        if key in out and out[key] != b:
            raise ConfigError(f"config error at benchmarks: {out[key]!r} and {b!r} are both benchmark {ident!r}.")
        out[key] = b
    return out


def grid_models(config: dict) -> dict[str, dict]:
    """The config's models plus those added by ``neuroalign submit`` (the submissions file)."""
    models = {k: dict(v) for k, v in config["models"].items()}
    sub = config.get("submissions")
    if sub and Path(sub).is_file():
        from .submit import read_submissions

        entries = read_submissions(sub)
        for name, entry in (entries.get("models") or {}).items():
            if name in models:
                raise ConfigError(f"submitted model {name!r} (in {sub}) clashes with a config model of that name.")
            _check_entry(name, entry, sub)
            models[name] = {"spec": entry["spec"], **({"layers": entry["layers"]} if entry.get("layers") else {}),
                            "sandbox": not entry.get("trusted", False),  # submitted code runs in bubblewrap
                            "pinned": entry.get("folder_sha256")}
    if not models:
        raise ConfigError(f"no models to score: the config has `models: {{}}` and the submissions file "
                          f"{sub or '(none configured)'} {'holds no models' if sub and Path(sub).is_file() else 'does not exist'}; "
                          "add models to the config or run `neuroalign submit DIR --submissions <that file>`.")
    return models


def _check_entry(name, entry, sub) -> None:
    """A submissions-file entry the workflow may run: safe name and layers, folder unchanged since submit."""
    from .errors import ModelError
    from .submission_template import NAME_RE, check_layer_name
    from .submit import check_pinned

    if not isinstance(name, str) or not NAME_RE.match(name) or not isinstance(entry, dict):
        raise ConfigError(f"submissions file {sub}: entry {str(name)[:80]!r} is not a valid model name or entry "
                          "(letters, digits, '-', '_', '.', up to 64 characters); remove it and resubmit.")
    for layer in entry.get("layers") or []:
        check_layer_name(layer, ConfigError)
    try:
        check_pinned(name, entry)
    except ModelError as exc:
        raise ConfigError(f"submitted model {name!r} (in {sub}): {exc}") from None


def score_groups(bench_specs: dict[str, str]) -> dict[str, list[str]]:
    """The grid's benchmarks (``{key: spec}``, as from :func:`grid_benchmarks`) grouped by the
    extraction key of their stimulus set, in config order: the workflow scores each group in
    one `neuroalign score` process per model."""
    from .benchmarks import get_benchmark, stimulus_key

    groups: dict[str, list[str]] = {}
    for key, spec in bench_specs.items():
        groups.setdefault(stimulus_key(get_benchmark(spec)), []).append(key)
    return groups


def score_rule_name(stimset: str) -> str:
    """The workflow's rule that scores the benchmarks of stimulus set ``stimset`` (an extraction key)."""
    return "score_" + re.sub(r"[^A-Za-z0-9_]", "_", stimset)
