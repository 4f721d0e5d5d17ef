"""YAML of user input (benchmark files, submission metadata, submissions and model-details files,
workflow configs) without aliases: ``&a`` / ``*a`` let a few hundred bytes expand into billions of
values ("billion laughs") once anything walks the result, so an alias is refused where it is read."""

from __future__ import annotations

import yaml

ALIASES_REFUSED = "YAML aliases (*name) are refused in neuroalign's input files; write the value out"


class _NoAliasLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that raises at the first alias, before anything is built from it."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, f"alias *{event.anchor}: {ALIASES_REFUSED}",
                                              event.start_mark)
        return super().compose_node(parent, index)


def safe_load(text: str):
    """``yaml.safe_load`` for user input, refusing aliases (a ``yaml.YAMLError`` naming the line)."""
    return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass


def shared_node(obj) -> str | None:
    """Where an already-loaded YAML value (a workflow config Snakemake parsed itself) reuses one
    list or mapping twice, which is what an alias produced; None when nothing is shared."""
    seen: set[int] = set()
    stack = [(obj, "")]
    while stack:
        value, where = stack.pop()
        if not isinstance(value, (dict, list)):
            continue
        if id(value) in seen:
            return where or "(top level)"
        seen.add(id(value))
        items = value.items() if isinstance(value, dict) else enumerate(value)
        stack.extend((v, f"{where}/{k}" if where else str(k)) for k, v in items)
    return None


def describe(exc: yaml.YAMLError) -> str:
    """One line for a YAML error: `` at line L, column C (problem)``."""
    mark = getattr(exc, "problem_mark", None)
    at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{at} ({problem})"
