"""`pipesim table --per device`: costs of one device's share divided among each schedule's stages."""

from __future__ import annotations

import json

import pytest

from pipesim.cli import main


def _metrics(capsys, *argv: str) -> dict:
    assert main(["table", *argv, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)["metrics"]


@pytest.mark.parametrize("name,opts", [("1f1b", []), ("interleaved", ["-o", "v=2"]), ("zb-v", []),
                                       ("hanayo", []), ("chimera", []), ("looped-bfs", [])])
def test_per_device_costs_give_every_schedule_the_same_work(capsys, name, opts):
    # Busy time per device = m x (F + B) of one device's share, whatever the cut.
    m = _metrics(capsys, name, "-p", "4", "-m", "8", "--costs", "F=1,B=2", "--per", "device", *opts)
    assert m["busy"] == pytest.approx([8 * 3.0] * 4)


def test_zb_v_beats_zb_h1_at_equal_work(capsys):
    # Per stage, ZB-V's 2p chunks each cost a whole stage and it looked twice as slow (51 vs 27 slots).
    zbv = _metrics(capsys, "zb-v", "-p", "4", "-m", "16", "--costs", "F=1,B=2", "--per", "device")
    zbh1 = _metrics(capsys, "zb-h1", "-p", "4", "-m", "16", "--costs", "F=1,B=2", "--per", "device")
    assert zbv["makespan"] < zbh1["makespan"]


def test_bad_per_is_one_line(capsys):
    with pytest.raises(SystemExit):
        main(["table", "1f1b", "-p", "2", "-m", "2", "--per", "layer"])
    assert "--per" in capsys.readouterr().err
