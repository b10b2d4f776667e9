import math

import pytest

from pipesim.units import (
    UnitError,
    format_rate,
    format_size,
    format_time,
    parse,
    parse_rate,
    parse_size,
    parse_time,
)


@pytest.mark.parametrize(
    ("text", "dim", "expected"),
    [
        ("450 GB/s", "rate", 450e9),
        ("200 Mb/s", "rate", 200e6 / 8),  # bits, not bytes
        ("100 Gbps", "rate", 100e9 / 8),
        ("25 GiB/s", "rate", 25 * 2**30),
        ("50 ms", "time", 0.05),
        ("1.5 us", "time", 1.5e-6),
        ("1.5 µs", "time", 1.5e-6),
        ("2 ns", "time", 2e-9),
        ("32 MiB", "size", 32 * 2**20),
        ("2 GB", "size", 2e9),
        ("8 Gb", "size", 1e9),
        ("1e3", "size", 1000.0),
        ("inf", "rate", math.inf),
    ],
)
def test_parse(text, dim, expected):
    assert parse(text, dim) == pytest.approx(expected, rel=1e-12)


def test_plain_numbers_are_si():
    assert parse_rate(1e9) == 1e9
    assert parse_time(3) == 3.0


def test_size_given_for_rate_says_so():
    with pytest.raises(UnitError, match=r"topology.links\[2\].bandwidth: '40 GB' is a size, expected a rate such as '40 GB/s'"):
        parse_rate("40 GB", key="topology.links[2].bandwidth")


def test_rate_given_for_size_says_so():
    with pytest.raises(UnitError, match="is a rate, expected a size"):
        parse_size("40 GB/s")


def test_time_given_for_size_and_garbage():
    with pytest.raises(UnitError, match="is a time"):
        parse_size("3 ms")
    with pytest.raises(UnitError, match="unknown unit 'parsecs'"):
        parse_time("3 parsecs")
    with pytest.raises(UnitError, match="cannot read"):
        parse_time("fast")
    with pytest.raises(UnitError, match="not a quantity"):
        parse_time(True)


def test_format_round_trips_through_parse():
    for x in (1.5e-6, 0.05, 42.0):
        assert parse_time(format_time(x)) == pytest.approx(x, rel=1e-3)
    for x in (512.0, 32e6, 2e9):
        assert parse_size(format_size(x)) == pytest.approx(x, rel=1e-3)
    for x in (25e6, 450e9, 1e4):
        assert parse_rate(format_rate(x)) == pytest.approx(x, rel=1e-3)


@pytest.mark.parametrize(("nbytes", "text"), [
    (8 * 2**20, "8 MiB"), (2**20, "1 MiB"), (3 * 2**30, "3 GiB"), (512 * 2**10, "512 KiB"),
    (1.879e9, "1.879 GB"), (80e9, "80 GB"), (1000, "1 kB"), (512, "512 B"), (12345678, "12.35 MB"),
])
def test_sizes_read_as_they_were_written(nbytes, text):
    # A boundary tensor of 2048 tokens x 2048 x 2 B is 8 MiB, not "8.389 MB"; decimal sizes
    # (link rates, GPU memory) stay decimal.
    assert format_size(nbytes) == text
    assert parse_size(text) == pytest.approx(nbytes, rel=1e-3)
