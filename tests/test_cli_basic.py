import json
from pathlib import Path

import pytest

from pipesim.cli import main


def test_table_json_has_the_documented_shape(capsys):
    assert main(["table", "1f1b", "-p", "4", "-m", "8", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {"schedule", "devices", "microbatches", "actions", "metrics"} <= set(doc)
    assert doc["metrics"]["makespan"] == (8 + 4 - 1) * 3
    assert doc["metrics"]["peak_activations"] == [4, 3, 2, 1]
    assert len(doc["actions"]) == 4 and doc["actions"][3][:2] == ["3F0", "3B0"]


def test_table_text_shows_grid_and_metrics(capsys):
    assert main(["table", "gpipe", "-p", "2", "-m", "2", "--costs", "F=1,B=1"]) == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    # GPipe p=2, m=2, F=B=1: device 1 runs back to back from t=1; device 0 waits for its B0.
    assert ["dev0", "F0", "F1", ".", ".", "B0", "B1"] in lines
    assert ["dev1", ".", "F0", "F1", "B0", "B1", "."] in lines
    assert ["makespan", "6"] in lines


def test_errors_are_one_line_without_traceback(capsys):
    assert main(["table", "zbv2", "-p", "4"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pipesim table: error: unknown schedule 'zbv2'")
    assert "Traceback" not in err
    assert main(["table", "1f1b", "--costs", "F=x"]) == 2
    assert "--costs: 'x' is not a duration" in capsys.readouterr().err
    assert main(["table", "gpipe", "-v", "2"]) == 2
    assert "has no chunk option" in capsys.readouterr().err


def test_validate_command(capsys):
    assert main(["validate", "1f1b", "-p", "3", "-m", "5"]) == 0
    assert capsys.readouterr().out.startswith("ok:")


@pytest.mark.parametrize("flows", sorted((Path(__file__).parent.parent / "scenarios" / "flows").glob("*.yaml")), ids=lambda p: p.stem)
def test_net_gantt_draws_the_link_lanes_of_every_bundled_flows_file(flows, tmp_path):
    from PIL import Image

    out = tmp_path / "net.png"
    assert main(["net", str(flows), "--gantt", str(out)]) == 0
    with Image.open(out) as img:
        assert img.size[0] > 200 and img.size[1] > 100
