"""`pipesim search`: the output folder, JSON, the CSV that `pipesim table --from-csv` re-reads,
and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipesim.cli import main
from pipesim.schedule.layout_file import read_layout
from pipesim.schedule.torch_csv import read_csv

ROOT = Path(__file__).resolve().parents[1]
QUICK = str(ROOT / "scenarios" / "quickstart.yaml")


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_table_form_json_and_csv_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = tmp_path / "best.csv"
    doc = _json(capsys, ["search", "-p", "4", "-m", "8", "--costs", "F=1,B=2", "--space", "order", "--budget", "50",
                         "--save-csv", str(csv_path), "--format", "json"])
    m = doc["metrics"]
    assert {"makespan", "bubble_ratio", "peak_activations"} <= set(m)
    assert m["makespan"] == pytest.approx((8 + 4 - 1) * 3.0)  # 1F1B's optimum: nothing can be faster
    assert doc["schedule"]["devices"] == 4 and doc["schedule"]["microbatches"] == 8
    # The exported order re-evaluates to the reported makespan through `pipesim table --from-csv`.
    table = _json(capsys, ["table", "--from-csv", str(csv_path), "--costs", "F=1,B=2", "--format", "json"])
    assert table["metrics"]["makespan"] == pytest.approx(m["makespan"])
    assert table["actions"] == doc["schedule"]["actions"]


def test_table_form_with_delay_and_split(capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json(capsys, ["search", "zb-h1", "-p", "4", "-m", "8", "--split-backward", "I=1,W=1", "--delay", "0.5",
                         "--space", "order", "--budget", "50", "--format", "json"])
    kinds = {a.rstrip("0123456789").lstrip("0123456789") for row in doc["schedule"]["actions"] for a in row}
    assert {"I", "W"} <= kinds and "B" not in kinds
    assert doc["metrics"]["level"] == "table"


def test_scenario_out_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["search", QUICK, "--set", "model.layers_per_stage=balanced", "--space", "order,layout,backward",
                 "--budget", "40", "--rescore", "2", "--rounds", "1", "--memory-limit", "2p", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "best" in text and "without the network" in text
    for name in ("best.csv", "gantt.png", "ranked.csv", "ranked.md", "result.json"):
        assert (out / name).is_file(), name
    doc = json.loads((out / "result.json").read_text())
    ranked = (out / "ranked.csv").read_text().splitlines()
    # Every named schedule is in the ranked table next to the plans tried.
    for name in ("gpipe", "1f1b", "zb-h1", "chimera", "hanayo"):
        assert any(f",named,generator,{name}," in line for line in ranked), name
    assert any(",search," in line for line in ranked)
    # The answer is no slower on the network than any named schedule the table lists as fitting
    # the limit (the others are marked over it): the space holds every layout and backward at the
    # scenario's m, and the scenario's split is the balanced one the table's named rows run on.
    # The CSV keeps 6 significant digits.
    import csv

    rows = list(csv.DictReader(ranked))
    fitting = [r for r in rows if r["what"] == "named" and r["status"] == "ok" and r["sim_time"]]
    assert fitting and all(doc["metrics"]["makespan"] <= float(r["sim_time"]) * (1 + 1e-5) for r in fitting)
    # The best order reads back (with its layout file where the CSV cannot carry the layout).
    layout = read_layout(out / "layout.json") if (out / "layout.json").exists() else None
    back = read_csv(out / "best.csv", layout=layout)
    assert back.as_strings() == doc["schedule"]["actions"]
    assert doc["metrics"]["level"] == "sim"


def test_chimera_layout_file_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "c"
    assert main(["search", "chimera", "-p", "4", "-m", "8", "--space", "order", "--budget", "30",
                 "--out", str(out)]) == 0
    capsys.readouterr()
    assert (out / "layout.json").is_file()  # two routes, replicated parts: the CSV cannot say so
    doc = json.loads((out / "result.json").read_text())
    back = read_csv(out / "best.csv", layout=read_layout(out / "layout.json"))
    assert back.as_strings() == doc["schedule"]["actions"]
    assert back.layout.routes == tuple(tuple(r) for r in doc["schedule"]["layout"]["routes"])
    # ... and re-evaluates through the table command to the makespan the search reported.
    assert main(["table", "--from-csv", str(out / "best.csv"), "--layout", str(out / "layout.json"),
                 "--format", "json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["metrics"]["makespan"] == pytest.approx(doc["metrics"]["makespan"], rel=1e-12)


@pytest.mark.parametrize(("content", "needle"), [
    ("{", "not JSON"),
    ('{"num_devices": 2}', "missing key(s) stage_device"),
    ('{"num_devices": 2, "stage_device": [0, 5], "stage_part": [0, 1], "routes": [[0, 1]], "mb_route": [0]}',
     "stage 1 placed on device 5"),
    ('{"num_devices": 2, "stage_device": [0, 1], "stage_part": [0, 1], "routes": [[0, "x"]], "mb_route": [0]}',
     "routes[0][1]"),
    ('{"num_devices": 1e9, "stage_device": [0], "stage_part": [0], "routes": [[0]], "mb_route": [0]}', "too large"),
    ("[" * 100000, "layout file"),
])
def test_bad_layout_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str,
                                     needle: str) -> None:
    csv_file = tmp_path / "s.csv"
    assert main(["table", "1f1b", "-p", "2", "-m", "2", "--format", "csv"]) == 0
    csv_file.write_text(capsys.readouterr().out)
    bad = tmp_path / "layout.json"
    bad.write_text(content)
    assert main(["table", "--from-csv", str(csv_file), "--layout", str(bad)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err and "Traceback" not in err, err


def test_layout_needs_a_csv(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["table", "1f1b", "--layout", "x.json"]) != 0
    assert "only used with --from-csv" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "needle"), [
    (["search", QUICK, "--memory-limit", "0.05p", "--space", "order"],
     "--memory-limit: 0.05p is below what any order of 1f1b needs on device 0"),
    (["search", "-p", "4", "-m", "8", "--memory-limit", "0.1p", "--space", "order"], "give at least 0.25p"),
    (["search", "zb-v", "-p", "4", "-m", "8", "--memory-limit", "0.2p", "--space", "order"],
     "below what any order of v-shape needs"),
    (["search", QUICK, "--budget", "0"], "--budget: '0' evaluations; give at least 1"),
    (["search", QUICK, "--budget", "0s"], "--budget: '0s'; a time budget must be > 0"),
    (["search", QUICK, "--space", "order,speed"], "--space: unknown item 'speed'"),
    (["search", "-p", "4", "-m", "8", "--space", "split"], "--space: 'split' cannot be searched here"),
    (["search", "-p", "3", "-m", "6", "--space", "order", "-o"], None),
    (["search", "chimera", "-p", "3", "-m", "6", "--space", "order"], "no plan of the space can run"),
    (["search", QUICK, "--set", "model.layers=4", "--set", "parallel.pp=4", "--set", "schedule.name=interleaved",
      "--set", "schedule.options={v: 2}", "--space", "order"], "cuts the model into 8 parts"),
    (["search", QUICK, "--memory-limit", "40 GQ"], "--memory-limit: '40 GQ' is neither kp"),
    (["search", "-p", "4", "-m", "8", "--memory-limit", "40 GB"], "carry no activation sizes"),
    (["search", "nosuch.yaml"], "scenario: file 'nosuch.yaml' not found"),
    (["search", QUICK, "--jobs", "0"], "--jobs: 0; must be a whole number >= 1"),
    (["search", QUICK, "--space", "order,backward", "--no-split-backward"],
     "--space: 'backward' cannot be searched here: it needs the costs of the backward's halves I and W"),
    (["search", "-p", "4", "-m", "8", "--space", "backward"], "'backward' cannot be searched here"),
])
def test_bad_input_is_one_line(argv: list[str], needle: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    if needle is None:  # an argparse usage error (exit 2 with usage), not ours
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        return
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("pipesim search: error: ") and needle in err, err


def test_table_form_searches_both_backwards_when_i_and_w_have_costs(capsys: pytest.CaptureFixture[str]) -> None:
    # F = I = W = 1 on p = 4, m = 8, no delay. With a whole backward 1F1B's (m + p - 1)(F + B) =
    # 33 is optimal; a split backward can fill the bubbles with W. A lower bound for any order:
    # the last device does m (F + I + W) = 24 of work and cannot start before p - 1 forwards, 3.
    doc = _json(capsys, ["search", "-p", "4", "-m", "8", "--costs", "F=1,I=1,W=1", "--space", "order,backward",
                         "--budget", "60", "--format", "json"])
    assert sorted(t["plan"] for t in doc["tried"]) == ["1f1b m=8", "1f1b m=8 backward=I+W"]
    assert doc["plan"]["backward"] == "split"
    assert 27.0 - 1e-9 <= doc["metrics"]["makespan"] < 33.0
    pinned = _json(capsys, ["search", "-p", "4", "-m", "8", "--costs", "F=1,I=1,W=1", "--space", "order",
                            "--no-split-backward", "--budget", "60", "--format", "json"])
    assert pinned["plan"]["backward"] == "whole"
    assert pinned["metrics"]["makespan"] == pytest.approx(33.0)


def test_same_answer_with_one_worker_or_a_pool(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["search", "-p", "4", "-m", "8", "--costs", "F=1,B=2", "--space", "order,layout", "--budget", "60",
            "--format", "json"]
    one = _json(capsys, [*argv, "--jobs", "1"])
    two = _json(capsys, [*argv, "--jobs", "2"])
    assert json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)
    # Every layout family was tried at equal work; the winner is no slower than any of them.
    tried = {t["plan"].split(" m=")[0] for t in one["tried"]}
    assert {"1f1b", "interleaved v=2", "v-shape", "hanayo W=2", "chimera"} <= tried
    assert one["metrics"]["makespan"] <= min(t["table_time"] for t in one["tried"] if t["status"] == "ok") + 1e-12
