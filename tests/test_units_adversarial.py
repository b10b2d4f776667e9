"""Quantity parsing on hostile strings: bounded input, linear work, and the same values as a
hand-written table of SI prefixes."""

from __future__ import annotations

import itertools

import pytest

import pipesim.units as units
from pipesim.units import MAX_QUANTITY_CHARS, UnitError, parse, parse_size
from pipesim.workload.hardware import parse_flops

# Independent reference: the SI prefixes as printed in any data sheet.
PREFIXES = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}


@pytest.mark.parametrize(("number", "prefix", "suffix", "space"), list(itertools.product(
    ("1", "312", "1.98", "2.5e3", "0.5"), PREFIXES, ("FLOP/s", "FLOPS", "flops", "Flop/s"), ("", " ", "  "))))
def test_flops_strings_equal_number_times_prefix(number, prefix, suffix, space):
    text = f" {number}{space}{prefix}{suffix} "
    assert parse_flops(text) == pytest.approx(float(number) * PREFIXES[prefix], rel=1e-12)


class _NoMatch:
    """Stands in for a compiled pattern that must never be reached."""

    def match(self, _text: str) -> None:
        raise AssertionError("a pattern was run on an over-long string")


@pytest.mark.parametrize("text", [
    " " * 2000 + "a",                      # the string that took 36 s in the FLOP/s parser
    " " * 4000 + "1 TFLOP/s",
    "1 " + "a " * 3000 + "b",
    "9" * 50_000,
    "1" + " " * 10_000 + "MiB",
])
def test_long_strings_are_refused_before_any_pattern_runs(monkeypatch, text):
    monkeypatch.setattr(units, "_QUANTITY", _NoMatch())
    with pytest.raises(UnitError, match=rf"hardware.peak_flops: a {len(text)}-character string is not a compute rate"):
        parse_flops(text, key="hardware.peak_flops")
    with pytest.raises(UnitError, match=rf"x: a {len(text)}-character string is not a size; a quantity is at most {MAX_QUANTITY_CHARS}"):
        parse_size(text, key="x")


# Shapes that make a backtracking pattern explode, at the longest length that is still read.
ADVERSARIAL = [
    " " * (MAX_QUANTITY_CHARS - 1) + "a",
    "1" + " " * (MAX_QUANTITY_CHARS - 3) + "ab",
    "1 a" + " " * (MAX_QUANTITY_CHARS - 4) + "b",
    "1" + "e" * (MAX_QUANTITY_CHARS - 1),
    "1" + "T" * (MAX_QUANTITY_CHARS - 7) + "FLOP/s",
    "1." + "1" * (MAX_QUANTITY_CHARS - 3) + " ",
]


@pytest.mark.parametrize("text", ADVERSARIAL)
@pytest.mark.parametrize("kind", ["size", "rate", "time", "number", "flops"])
def test_longest_readable_strings_give_a_value_or_a_unit_error(text, kind):
    assert len(text) <= MAX_QUANTITY_CHARS
    try:
        value = parse_flops(text) if kind == "flops" else parse(text, kind)
    except UnitError as exc:
        assert "\n" not in str(exc)
    else:
        assert value == float(text.strip())  # only the all-digits shape is a plain number


def test_flops_errors_name_the_key_and_the_expected_form():
    with pytest.raises(UnitError, match=r"hardware.peak_flops: cannot read 'x TFLOPS'; expected a compute rate"):
        parse_flops("x TFLOPS", key="hardware.peak_flops")
    with pytest.raises(UnitError, match="cannot read 'TFLOPS'"):
        parse_flops("TFLOPS")
