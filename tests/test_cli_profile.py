"""`pipesim profile`: the measuring loop with a fake backend and timer, the Kineto import, and
the one-line refusal without a GPU."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from pipesim.cli import main, profile_cmd
from pipesim.workload import WorkloadError, gpu_preset, layer_cost, load_profile, model_preset
from pipesim.workload.measure import from_kineto, measure

DATA = Path(__file__).parent / "data"


class FakeBackend:
    """Pretends to run: each pass 'takes' a time proportional to b, and the stash is known."""

    gpu_name = "H200"
    dtype = "bf16"

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, str]] = []
        self.released = 0

    def prepare(self, kind, model, b):
        return {"kind": kind, "b": b}

    def run(self, handle, pass_):
        self.calls.append((handle["kind"], handle["b"], pass_))
        cost = {"forward": 1.0, "backward": 2.0, "input_grad": 1.25}[pass_] * handle["b"]
        return lambda: cost

    def stash_bytes(self, handle):
        return 1000 * handle["b"]

    def weight_keep_bytes(self, handle):
        return 400 * handle["b"]

    def release(self, handle):
        self.released += 1


def fake_timer():
    """Returns the pass's nominal cost in ms, with a slow first (warm-up) call per pass."""
    seen: set[float] = set()

    def timer(fn):
        cost = fn()
        first = cost not in seen
        seen.add(cost)
        return (cost * 10 if first else cost) * 1e-3

    return timer


def test_loop_medians_and_profile_round_trip(tmp_path) -> None:
    backend = FakeBackend()
    doc = measure(model_preset("7b"), backend, fake_timer(), [1, 2], warmup=1, repeats=3)
    assert backend.released == 4  # layer and head at two sizes
    assert len(backend.calls) == 2 * 2 * 3 * 4  # sizes x kinds x passes x (warm-up + repeats)
    layer1 = next(e for e in doc["entries"] if e["kind"] == "layer" and e["microbatch_size"] == 1)
    assert layer1["forward_s"] == 1e-3 and layer1["backward_s"] == 2e-3 and layer1["input_grad_s"] == 1.25e-3
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    c = layer_cost(model_preset("7b"), gpu_preset("h200"), 2, profile=load_profile(path))
    assert (c.forward_s, c.input_grad_s, c.weight_grad_s) == (2e-3, 2.5e-3, 1.5e-3)
    assert c.activation_bytes == 2000 and c.weight_keep == 0.4
    # b = 4 is outside the measured sizes: scaled in proportion from b = 2
    assert layer_cost(model_preset("7b"), gpu_preset("h200"), 4, profile=load_profile(path)).forward_s == 4e-3


def test_cli_with_fake_backend(tmp_path, capsys) -> None:
    out = tmp_path / "fake.json"
    args = argparse.Namespace(model="13b", out=str(out), microbatch_sizes="1,4", attention="eager", seq_len=None,
                              dtype="bf16", warmup=0, repeats=1, from_trace=None, gpu=None)
    assert profile_cmd.run(args, backend=FakeBackend(), timer=lambda fn: fn() * 1e-3) == 0
    doc = json.loads(out.read_text())
    assert {e["shape"]["attention"] for e in doc["entries"] if e["kind"] == "layer"} == {"eager"}
    assert "4 entries for 13b on H200" in capsys.readouterr().out


def test_no_gpu_one_line_and_exit_2(tmp_path, capsys, monkeypatch) -> None:
    import pipesim.workload.torch_backend as tb

    def no_torch():
        raise WorkloadError("PyTorch is not installed; `pip install pipesim[profile]` on a machine with a GPU")

    monkeypatch.setattr(tb, "load_torch", no_torch)
    assert main(["profile", "7b", "-o", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install pipesim[profile]" in err
    assert not (tmp_path / "x.json").exists()


def test_no_cuda_one_line_and_exit_2(tmp_path, capsys) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["profile", "7b", "-o", str(tmp_path / "x.json")]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


def test_torch_backend_runs_on_cpu_tiny_shape() -> None:
    """The real PyTorch block and head on a tiny shape on the CPU (skipped without torch)."""
    pytest.importorskip("torch")
    from dataclasses import replace

    from pipesim.workload.torch_backend import TorchBackend

    backend = TorchBackend("cpu", "fp32")
    for base, attention in (("7b", "flash"), ("70b", "eager"), ("gpt3-1.3b", "flash")):
        tiny = replace(model_preset(base), hidden=64, heads=4, kv_heads=2 if base == "70b" else None,
                       seq_len=16, vocab=50, ffn_hidden=96, attention=attention)
        doc = measure(tiny, backend, backend.timer, [1], warmup=0, repeats=1)
        assert len(doc["entries"]) == 2
        assert all(e["forward_s"] > 0 for e in doc["entries"])


def test_kineto_import(tmp_path, capsys) -> None:
    trace = json.loads((DATA / "kineto_small.json").read_text())
    doc = from_kineto(trace, model_preset("7b"), 1, "H200", "bf16", "kineto_small.json")
    (layer,) = doc["entries"]
    assert layer["forward_s"] == pytest.approx(3.4e-3)  # GPU spans preferred, median of three
    assert layer["backward_s"] == pytest.approx(6.86e-3)
    assert layer["input_grad_s"] == pytest.approx(4.45e-3)  # only a host span: used
    assert layer["activation_bytes"] == 696778752
    out = tmp_path / "k.json"
    assert main(["profile", "7b", "-o", str(out), "-b", "1", "--from-trace", str(DATA / "kineto_small.json"),
                 "--gpu", "H200"]) == 0
    assert load_profile(out).layer(model_preset("7b"), gpu_preset("h200"), 1, "bf16") is not None
    with pytest.raises(WorkloadError, match="traceEvents"):
        from_kineto({}, model_preset("7b"), 1, "H200", "bf16")
    bad = {"traceEvents": [e for e in trace["traceEvents"] if e["name"] != "layer.backward"]}
    with pytest.raises(WorkloadError, match=r"layer\.backward"):
        from_kineto(bad, model_preset("7b"), 1, "H200", "bf16")
