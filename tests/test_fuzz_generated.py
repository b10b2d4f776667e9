"""Generated documents on top of the hand-written corpus: Hypothesis puts arbitrary YAML values
at the key paths of a scenario, a flows file and a sweep, and writes arbitrary CSV schedules.
Every one ends in a result or pipesim's own one-line error, within the corpus's time budget."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import yaml
from fuzz_corpus import FLOWS, SWEEP, TINY, Case
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz_corpus import SECONDS_PER_CASE, check_outcome, deadline

from pipesim.cli import main

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# Values a YAML file can hold, weighted towards the edges: huge, tiny, negative, non-finite,
# strings with and without units, nested containers.
SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(-10**30, 10**30), st.sampled_from([0, 1, 2, -1, 10**9, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["1 ms", "8 MiB", "1 GB/s", "inf", "-1 s", "1e400", "auto", "fair", "1f1b", "[p, m]"]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                              max_size=3), max_leaves=8)


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path of a document (a mapping key or list index per step)."""
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += paths(v, (*prefix, i))
    return out


def mutated(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(doc))
    node = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return out


def run_case(case: Case, folder: Path) -> None:
    for name, text in case.files:
        (folder / name).write_text(str(text), encoding="utf-8", errors="surrogateescape")
    argv = [a.replace("{d}", str(folder)) for a in case.argv]
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err), deadline(SECONDS_PER_CASE):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    check_outcome(case, code, err.getvalue())


def document_cases(kind: str, doc: dict[str, Any], argv: tuple[str, ...], name: str) -> st.SearchStrategy[Case]:
    def make(path: tuple[Any, ...], value: Any) -> Case:
        text = yaml.safe_dump(mutated(doc, path, value), allow_unicode=True)
        return Case(f"{kind}-generated", argv, ((name, text),), must_fail=False)

    return st.builds(make, st.sampled_from(paths(doc)), VALUES)


@SETTINGS
@given(case=document_cases("scenario", TINY, ("run", "{d}/s.yaml", "--no-files"), "s.yaml"))
def test_generated_scenarios(case, tmp_path):
    run_case(case, tmp_path)


@SETTINGS
@given(case=document_cases("flows", FLOWS, ("net", "{d}/f.yaml"), "f.yaml"))
def test_generated_flows(case, tmp_path):
    run_case(case, tmp_path)


@SETTINGS
@given(case=document_cases("sweep", SWEEP, ("sweep", "{d}/w.yaml", "--executor", "serial", "--no-progress",
                                           "--out", "{d}/out"), "w.yaml"))
def test_generated_sweeps(case, tmp_path):
    run_case(case, tmp_path)


CELLS = st.one_of(
    st.builds(lambda s, k, m: f"{s}{k}{m}", st.integers(0, 3), st.sampled_from(["F", "B", "I", "W", "X", "SEND_F"]),
              st.integers(0, 3)),
    st.text(max_size=6),
)


@SETTINGS
@given(rows=st.lists(st.lists(CELLS, max_size=8), min_size=1, max_size=4))
def test_generated_csv_schedules(rows, tmp_path):
    text = "\n".join(",".join(c.replace(",", "").replace("\n", "") for c in row) for row in rows) + "\n"
    case = Case("csv-generated", ("validate", "--from-csv", "{d}/s.csv"), (("s.csv", text),), must_fail=False)
    run_case(case, tmp_path)
