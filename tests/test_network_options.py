"""Typed network options (sharing policy, chunking) and placement: every spelling the scenario
and flows formats accept, the conversions the engine takes, and one-line errors.

Oracles: the encoding table in ``pipesim.network.options``'s module doc; the engine's current
``chunk_bytes`` conventions (None = fluid, -1.0 = auto in SimOptions) from ``pipesim.sim``.
"""

from __future__ import annotations

import math

import pytest

from pipesim.inputs import InputError
from pipesim.network import (
    DEFAULT_CHUNK_BYTES,
    Chunking,
    Placement,
    parse_policy,
    single_node,
)


@pytest.mark.parametrize(
    ("written", "mode", "size"),
    [
        (None, "fluid", None),
        (0, "fluid", None),
        ("0 B", "fluid", None),
        ("off", "fluid", None),
        ("None", "fluid", None),
        ("no", "fluid", None),
        ("auto", "auto", None),
        (" Auto ", "auto", None),
        ("1 MiB", "fixed", 2.0**20),
        (65536, "fixed", 65536.0),
        ("inf", "fixed", math.inf),
    ],
)
def test_every_chunk_spelling_parses_to_one_typed_value(written, mode, size):
    c = Chunking.parse(written)
    assert (c.mode, c.size) == (mode, size)
    assert Chunking.parse(c.spelling()) == c  # the scenario echo reads back


def test_the_engine_takes_the_typed_value_in_any_spelling():
    from pipesim.sim.engine import SimOptions

    assert Chunking.FLUID.chunk_bytes is None
    assert Chunking.AUTO.chunk_bytes == DEFAULT_CHUNK_BYTES == 4 * 2**20
    assert Chunking.fixed(1024).chunk_bytes == 1024.0
    for spelling, typed in ((None, Chunking.FLUID), (0, Chunking.FLUID), ("auto", Chunking.AUTO),
                            ("1 MiB", Chunking.fixed(2**20)), (math.inf, Chunking.fixed(math.inf))):
        assert SimOptions(chunking=spelling).chunking == typed


def test_default_chunk_matches_the_simulator():
    sim_network = pytest.importorskip("pipesim.sim.network")
    assert tuple(sim_network.POLICIES) == ("fair", "fifo")


@pytest.mark.parametrize(
    ("written", "line"),
    [
        ("-1 MB", "chunk_bytes: '-1 MB' is negative; expected a size >= 0 such as '32 MiB'; or 'auto', or null/0 "
                  "for no chunking"),
        ("4 MiB/s", "chunk_bytes: '4 MiB/s' is a rate, expected a size such as '32 MiB'; or 'auto', or null/0 for "
                    "no chunking"),
        (True, "chunk_bytes: True is not a quantity; expected a size such as '32 MiB'; or 'auto', or null/0 for no "
               "chunking"),
    ],
)
def test_bad_chunking_names_value_and_valid_forms(written, line):
    with pytest.raises(InputError) as info:
        Chunking.parse(written, key="chunk_bytes")
    assert str(info.value) == line


def test_chunking_values_are_checked():
    with pytest.raises(ValueError, match="size goes with mode 'fixed' only"):
        Chunking("auto", 5.0)
    with pytest.raises(ValueError, match="not a number of bytes > 0"):
        Chunking.fixed(0)


def test_policy():
    assert parse_policy("FIFO") == "fifo"
    with pytest.raises(InputError) as info:
        parse_policy("lifo", key="policy")
    assert str(info.value) == "policy: 'lifo' is not valid (did you mean 'fifo'?); valid: fair, fifo"


def test_placement_parses_once_and_resolves_against_a_topology():
    p = Placement.parse(["n0.gpu3", 2, 1.0, "n0.gpu0"])
    assert p == ("n0.gpu3", 2, 1, "n0.gpu0") and isinstance(p, tuple)
    assert p.resolve(single_node(4), 4, 1) == (3, 2, 1, 0)


@pytest.mark.parametrize(
    ("entries", "line"),
    [
        ([0, 1, 2], "3 entries given; pp=4 x dp=1 needs 4 (one topology device per pipeline device and replica, "
                    "replica-major)"),
        ([0, 1, "n0.gpu", 3], "[2]: unknown device 'n0.gpu' (did you mean 'n0.gpu3'?); devices: n0.gpu0, n0.gpu1, "
                              "n0.gpu2, n0.gpu3"),
        ([0, 1, 2, 7], "[3]: device 7 does not exist; the topology has devices 0..3"),
        ([0, 1, 2, "n0.gpu1"], "[3]: device 1 (n0.gpu1) is already used by entry 1; every pipeline device of every "
                               "replica needs its own GPU"),
    ],
)
def test_placement_resolution_errors(entries, line):
    with pytest.raises(InputError) as info:
        Placement.parse(entries).resolve(single_node(4), 4, 1)
    assert str(info.value) == line


def test_placement_syntax_errors():
    with pytest.raises(InputError) as info:
        Placement.parse([0, -1], key="placement")
    assert str(info.value) == ("placement[1]: -1 is too small; expected a whole number >= 0, or a topology "
                               "device name")
    with pytest.raises(InputError, match="is not a list; expected one topology device"):
        Placement.parse([])


def test_grad_sync_is_read_once_from_the_scenario_and_reaches_the_simulation():
    from pipesim.scenario import ScenarioError, build, load_scenario

    base = "scenarios/quickstart.yaml"
    assert build(load_scenario(base)).sim_options.grad_sync == "overlap"
    built = build(load_scenario(base, ["network.grad_sync=blocking"]))
    assert built.sim_options.grad_sync == "blocking"
    with pytest.raises(ScenarioError, match=r"^scenario\.network\.grad_sync: .*overlap"):
        load_scenario(base, ["network.grad_sync=lazy"])


@pytest.mark.parametrize("mode", ["overlap", "blocking"])
def test_grad_sync_reaches_the_table_level_too(mode):
    # Chimera on a free network: both levels read the scenario's mode, so they agree in either.
    from pipesim.runner import run_built
    from pipesim.scenario import build, load_scenario

    data = {"name": "sync", "costs": {"F": "1 ms", "B": "2 ms", "message_bytes": "8 MiB"},
            "topology": {"kind": "free"}, "parallel": {"pp": 4, "microbatches": 8},
            "schedule": {"name": "chimera"}, "network": {"grad_sync": mode}}
    built = build(load_scenario(data))
    table, sim = run_built(built, "table"), run_built(built, "sim")
    assert table.metrics["makespan"] == pytest.approx(sim.metrics["makespan"], rel=1e-12)
    assert table.result.grad_end > 0.0 if mode == "overlap" else table.result.grad_end == 0.0
