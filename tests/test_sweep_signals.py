"""Killing a sweep: no finished row lost or duplicated, no worker left behind, the resumed run
equal to an uninterrupted one; and one sweep per folder at a time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from pipesim.sweep import read_results

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc (Linux)")]

ROOT = Path(__file__).resolve().parents[1]
SWEEP = """\
base: {base}
level: sim
grid:
  parallel.microbatches: [384, 448, 512, 576, 640, 704, 768, 832, 896, 960, 1024, 1088]
"""


def _sweep_file(tmp_path: Path) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(SWEEP.format(base=(ROOT / "scenarios" / "paper_costs.yaml").as_posix()), encoding="utf-8")
    return path


def _start(sweep: Path, out: Path, mark: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PIPESIM_TEST_MARK": mark}
    return subprocess.Popen([sys.executable, "-m", "pipesim", "sweep", str(sweep), "--out", str(out), "--jobs", "2",
                             "--no-progress"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _rows(out: Path) -> list[dict[str, str]]:
    path = out / "results.csv"
    return read_results(path)[1] if path.exists() else []


def _marked_processes(mark: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if f"PIPESIM_TEST_MARK={mark}".encode() in environ:
            found.append(int(entry.name))
    return found


def _wait(predicate, timeout: float = 60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> bytes:
    tmp = tmp_path_factory.mktemp("whole")
    out = tmp / "out"
    proc = _start(_sweep_file(tmp), out, uuid.uuid4().hex)
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode() if proc.stderr else ""
    return (out / "results.csv").read_bytes()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_sweep_loses_nothing_and_leaves_no_process(tmp_path, uninterrupted, sig):
    sweep, out, mark = _sweep_file(tmp_path), tmp_path / "out", uuid.uuid4().hex
    proc = _start(sweep, out, mark)
    # Kill it in the middle: after some rows are written, before all of them are.
    assert _wait(lambda: len(_rows(out)) >= 2)
    proc.send_signal(sig)
    code = proc.wait(timeout=60)
    assert code == (130 if sig == signal.SIGTERM else -signal.SIGKILL)
    # No worker outlives its parent (workers poll for it a few times a second).
    assert _wait(lambda: not _marked_processes(mark), timeout=10), _marked_processes(mark)
    rows = _rows(out)
    ids = [r["run_id"] for r in rows]
    assert len(ids) == len(set(ids)) and 2 <= len(ids) < 12  # interrupted, nothing repeated
    assert all(r["status"] == "ok" for r in rows)
    # Resuming runs only the rest, and the file equals an uninterrupted run's, byte for byte.
    again = _start(sweep, out, mark)
    assert again.wait(timeout=300) == 0
    assert (out / "results.csv").read_bytes() == uninterrupted


def test_two_sweeps_never_share_a_folder(tmp_path):
    # Another sweep holds the folder's lock (taken here, as a running sweep takes it): a second
    # one is refused in one line instead of rewriting the first one's results.csv.
    import fcntl

    sweep, out, mark = _sweep_file(tmp_path), tmp_path / "out", uuid.uuid4().hex
    out.mkdir()
    with (out / ".sweep.lock").open("a+", encoding="utf-8") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242")
        held.flush()
        second = _start(sweep, out, mark)
        assert second.wait(timeout=60) == 2
        err = second.stderr.read().decode() if second.stderr else ""
        assert "another sweep (pid 4242) is writing into" in err and err.count("\n") == 1
        assert not (out / "results.csv").exists()
    # Released (as when its holder exits, however it exits): the folder takes the next sweep.
    third = _start(sweep, out, mark)
    assert third.wait(timeout=300) == 0
    assert len(_rows(out)) == 12
