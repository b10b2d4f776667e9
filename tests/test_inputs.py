"""The input-error kit: key paths, nesting, one-line rendering, did-you-mean, the shared checkers.

Oracles: the rendered lines are written out in full; paths are the documented tuple form.
"""

from __future__ import annotations

import math
import pickle

import pytest

from pipesim.inputs import (
    InputError,
    as_bool,
    as_choice,
    as_list,
    as_mapping,
    as_number,
    as_path,
    as_quantity,
    as_text,
    as_whole,
    at,
    render_path,
    suggest,
    unknown_key_message,
)


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), ""),
        (("scenario",), "scenario"),
        (("topology", "links", 2, "bandwidth"), "topology.links[2].bandwidth"),
        ((2, "b"), "[2].b"),
        (("costs", "F", 1), "costs.F[1]"),
    ],
)
def test_paths_render_and_parse_back(path, text):
    assert render_path(path) == text
    assert as_path(text) == path


def test_odd_strings_stay_one_part():
    assert as_path("flows file") == ("flows file",)
    assert as_path("a..b") == ("a..b",)
    assert as_path(("x.yaml",)) == ("x.yaml",)  # a tuple is never split
    assert as_path(3) == (3,)


def test_error_renders_one_line_with_its_path():
    err = InputError("'40 GB' is a size, expected a rate such as '40 GB/s'", ("links", 2, "bandwidth"))
    assert str(err) == "links[2].bandwidth: '40 GB' is a size, expected a rate such as '40 GB/s'"
    assert err.path == ("links", 2, "bandwidth") and err.where == "links[2].bandwidth"
    assert err.message.startswith("'40 GB'")
    assert str(InputError("no path")) == "no path"
    assert isinstance(err, ValueError)
    assert InputError("m", "a.b[1]").path == ("a", "b", 1)


def test_within_and_at_nest_the_path():
    err = InputError("0 is too small", ("num_nodes",))
    outer = err.within("scenario", "topology")
    assert str(outer) == "scenario.topology.num_nodes: 0 is too small"
    assert err.path == ("num_nodes",)  # the original is untouched
    with pytest.raises(InputError) as info, at("flows", 3), at("src"):
        raise InputError("unknown device 'c'")
    assert str(info.value) == "flows[3].src: unknown device 'c'"


def test_nesting_keeps_the_subclass_and_all_problems():
    class Mine(InputError):
        pass

    err = Mine.collect([InputError("first", ("a",)), InputError("second", ("b", 0))])
    moved = err.within("root")
    assert type(moved) is Mine
    assert moved.lines == ["root.a: first", "root.b[0]: second"]
    assert str(moved) == moved.lines[0]
    assert [p.path for p in moved.problems] == [("root", "a"), ("root", "b", 0)]
    hinted = moved.with_message(moved.message + " (from --set a=1)")
    assert str(hinted) == "root.a: first (from --set a=1)"


def test_errors_survive_pickling():
    class_ = InputError
    err = class_("'3 ms' is a time", ("x", 1), others=[InputError("other", "y")])
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is class_ and back.path == ("x", 1) and back.lines == err.lines


def test_unit_errors_become_input_errors_at_the_key():
    with pytest.raises(InputError) as info:
        as_quantity("40 GB", "rate", key="topology.links[2].bandwidth")
    assert info.value.path == ("topology", "links", 2, "bandwidth")
    assert info.value.message == "'40 GB' is a size, expected a rate such as '40 GB/s'"


def test_the_kit_sits_low():
    """The network model must be able to use the kit without the scenario format or SimPy."""
    import ast
    from pathlib import Path

    import pipesim.inputs

    tree = ast.parse(Path(pipesim.inputs.__file__).read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert {m for m in imported if m.startswith("pipesim")} == {"pipesim.units"}


def test_did_you_mean():
    assert suggest("pp_size", ["pp", "dp"]) == "pp"
    assert suggest("Fair", ["fair", "fifo"]) == "fair"
    assert suggest("xyz", ["fair", "fifo"]) is None
    assert unknown_key_message("chunk", ["policy", "chunk_bytes"]) == (
        "unknown key 'chunk' (did you mean 'chunk_bytes'?); valid keys: policy, chunk_bytes")
    assert unknown_key_message("q", ["a"], " for kind 'x'") == "unknown key 'q' for kind 'x'; valid keys: a"


@pytest.mark.parametrize(
    ("call", "line"),
    [
        (lambda: as_quantity("5 MB", "time", key="overhead"),
         "overhead: '5 MB' is a size, expected a time such as '50 ms'"),
        (lambda: as_quantity(-2, "time", key=("F", 1)), "F[1]: -2 is negative; expected a time >= 0 such as '50 ms'"),
        (lambda: as_quantity(0, "rate", positive=True, key="up"), "up: 0 is zero; expected a rate > 0 such as '40 GB/s'"),
        (lambda: as_quantity("inf", "time", finite=True),
         "'inf' is infinite; expected a finite time >= 0 such as '50 ms'"),
        (lambda: as_whole(2.5, key="pp"), "pp: 2.5 is not a whole number; expected a whole number >= 1"),
        (lambda: as_whole(True), "True is not a whole number; expected a whole number >= 1"),
        (lambda: as_whole(0), "0 is too small; expected a whole number >= 1"),
        (lambda: as_number(0, 0, 1, low_open=True), "0 is out of range; expected a number within (0, 1]"),
        (lambda: as_number("x", 0, math.inf, low_open=True, high_open=True),
         "'x' is not a number; expected a number within (0, inf)"),
        (lambda: as_choice("fare", ("fair", "fifo"), key="policy"),
         "policy: 'fare' is not valid (did you mean 'fair'?); valid: fair, fifo"),
        (lambda: as_bool("yes"), "'yes' is not a boolean; expected true or false"),
        (lambda: as_text(3), "3 is not a string; expected text"),
        (lambda: as_mapping([1], ("a", "b")), "[1] is not a mapping; expected keys: a, b"),
        (lambda: as_mapping({"lnks": 1}, ("links",), key="topology"),
         "topology: unknown key 'lnks' (did you mean 'links'?); valid keys: links"),
        (lambda: as_list("a", "names"), "'a' is not a list; expected a list of names"),
        (lambda: as_list([], "names"), "empty list; expected a list of names"),
    ],
)
def test_checkers_say_value_and_what_is_valid(call, line):
    with pytest.raises(InputError) as info:
        call()
    assert str(info.value) == line


def test_checkers_return_typed_values():
    assert as_quantity("2 MiB", "size") == 2 * 2**20
    assert as_quantity("inf", "size") == math.inf
    assert as_whole(3.0) == 3 and isinstance(as_whole(3.0), int)
    assert as_number("0.5", 0, 1) == 0.5
    assert as_choice("FIFO", ("fair", "fifo")) == "fifo"
    assert as_mapping(None, none=True) == {}
    assert as_list((1, 2), "numbers") == [1, 2]
