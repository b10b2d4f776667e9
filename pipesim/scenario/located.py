"""Errors located at a scenario key path, for the modules that build a scenario's objects.

Lower layers (the workload model, the network readers) report one-line errors relative to their
own inputs; these helpers put them under ``scenario.<section>`` so that a user reads the key of
the file they wrote.
"""

from __future__ import annotations

from pipesim.inputs import PathPart
from pipesim.scenario.fields import foreign_error
from pipesim.scenario.schema import ROOT, ModelSection, ScenarioError


def located(message: str, *path: PathPart) -> ScenarioError:
    """A ScenarioError at ``scenario.<path>``."""
    return ScenarioError(message, (ROOT, *path))


def rebased(message: str, section: str) -> ScenarioError:
    """A lower layer's one-line error text as a ScenarioError under ``scenario.<section>``.

    ``"model.heads: 3 does not divide ..."`` -> ``scenario.model.heads``; ``"gpu.efficiency: ..."``
    -> ``scenario.hardware.efficiency``; ``"recompute: ..."`` (a model key) ->
    ``scenario.model.recompute``; anything else -> ``scenario.<section>: <message>``.
    """
    aliases = ("gpu",) if section == "hardware" else ()
    keys = list(ModelSection.model_fields) if section == "model" else ()
    return ScenarioError.from_error(foreign_error(message, section, aliases=aliases, keys=keys).within(ROOT, section))


def one_line(exc: BaseException) -> str:
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(str(text).split("\n")[0].split()) if text else type(exc).__name__
