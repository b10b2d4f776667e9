"""`pipesim workload`: table and JSON output, flags, errors."""

from __future__ import annotations

import json

from pipesim.cli import main


def _json(capsys, *argv: str) -> dict:
    assert main(["workload", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_keys_and_stage_totals(capsys) -> None:
    data = _json(capsys, "7b", "--gpu", "h200", "-b", "2", "-p", "4")
    for key in ("layer", "head"):
        assert {"forward_s", "backward_s", "activation_bytes"} <= set(data[key])
        assert data[key]["backward_s"] == data[key]["input_grad_s"] + data[key]["weight_grad_s"]
    stages = data["stages"]
    assert [s["layers"] for s in stages] == [8, 8, 8, 8]
    layer, head = data["layer"], data["head"]
    assert abs(stages[0]["forward_s"] - 8 * layer["forward_s"]) < 1e-12
    assert abs(stages[-1]["forward_s"] - 8 * layer["forward_s"] - head["forward_s"]) < 1e-12
    assert stages[-1]["activation_bytes"] == 8 * layer["activation_bytes"] + head["activation_bytes"]


def test_flags_change_the_answer(capsys) -> None:
    flash = _json(capsys, "7b", "--gpu", "h200")["layer"]
    eager = _json(capsys, "7b", "--gpu", "h200", "--attention", "eager")["layer"]
    assert eager["activation_bytes"] > 2 * flash["activation_bytes"]
    full = _json(capsys, "7b", "--gpu", "h200", "--recompute", "full")["layer"]
    assert full["activation_bytes"] == 2 * 4096 * 4096
    short = _json(capsys, "7b", "--gpu", "h200", "--seq-len", "2048")["layer"]
    assert short["forward_s"] < flash["forward_s"]
    closed = _json(capsys, "7b", "--gpu", "h200", "--cost-model", "closed-form")["layer"]
    assert closed["source"] == "closed-form"
    measured = _json(capsys, "7b", "--gpu", "h200", "--profile", "h200-bf16")["layer"]
    assert measured["source"] == "profile h200-bf16"
    assert abs(measured["forward_s"] - 3.40e-3) < 0.01e-3


def test_table_output(capsys) -> None:
    assert main(["workload", "gpt3-1.3b", "--gpu", "a100", "-p", "2"]) == 0
    out = capsys.readouterr().out
    assert "layer" in out and "head" in out and "stage 1" in out and "12 layers" in out


def test_errors_name_the_flag(capsys) -> None:
    assert main(["workload", "7b", "--gpu", "h900"]) == 2
    assert "--gpu: unknown GPU 'h900'" in capsys.readouterr().err
    assert main(["workload", "8b", "--gpu", "h200"]) == 2
    assert "MODEL: unknown model '8b'" in capsys.readouterr().err
    assert main(["workload", "7b", "--gpu", "h200", "-b", "0"]) == 2
    assert "--microbatch-size: 0" in capsys.readouterr().err
