"""Validation: each error class, with its message and the grid with the bad cell marked."""

from __future__ import annotations

import pytest

from pipesim.schedule import (
    Action,
    DeadlockError,
    Kind,
    Schedule,
    ScheduleError,
    linear_layout,
    validate,
)


def sched(p: int, m: int, rows: list[str], chunks: int = 1) -> Schedule:
    """A schedule from space-separated action strings, one string per device."""
    return Schedule.build("hand", linear_layout(p, m, chunks), [[Action.parse(t) for t in r.split()] for r in rows])


def error(s: Schedule, cls: type[Exception] = ScheduleError) -> ScheduleError:
    with pytest.raises(cls) as info:
        validate(s)
    return info.value  # type: ignore[return-value]


def test_a_correct_hand_schedule_validates():
    # 1F1B by hand for p = 2, m = 2.
    prog = validate(sched(2, 2, ["0F0 0F1 0B0 0B1", "1F0 1B0 1F1 1B1"]))
    assert len(prog.order or []) == 8


def test_wrong_device():
    e = error(sched(2, 1, ["0F0 1F0 0B0", "1B0"]))
    assert "device 0, step 1, action 1F0: stage 1 lives on device 1, not on device 0" in str(e)
    assert (e.device, e.step) == (0, 1)
    assert ">1F0<" in str(e)


def test_unknown_stage():
    e = error(sched(2, 1, ["0F0 0B0", "1F0 5F0 1B0"]))
    assert "device 1, step 1, action 5F0: stage 5 does not exist; stages are 0..1" in str(e)
    assert ">5F0<" in str(e)


def test_bad_microbatch():
    e = error(sched(2, 2, ["0F0 0F1 0F2 0B0 0B1", "1F0 1B0 1F1 1B1"]))
    assert "action 0F2: microbatch 2 does not exist; microbatches are 0..1" in str(e)


def test_duplicate():
    e = error(sched(1, 2, ["0F0 0F1 0F0 0B0 0B1"]))
    assert "device 0, step 2, action 0F0: 0F0 appears twice (first at device 0, step 0)" in str(e)


def test_missing_forward():
    e = error(sched(2, 2, ["0F0 0F1 0B0 0B1", "1F0 1B0 1B1"]))
    assert "device 1: missing action 1F1 (stage 1 is on device 1)" in str(e)


def test_missing_backward():
    e = error(sched(2, 1, ["0F0", "1F0 1B0"]))
    assert "device 0: missing backward for stage 0, microbatch 0: add 0B0, or 0I0 and 0W0" in str(e)


def test_w_without_i():
    e = error(sched(1, 1, ["0F0 0W0"]))
    assert "device 0, step 1, action 0W0: 0W0 has no matching 0I0" in str(e)


def test_i_without_w():
    e = error(sched(1, 1, ["0F0 0I0"]))
    assert "0I0 has no matching 0W0" in str(e)


def test_both_full_and_split_backward():
    e = error(sched(1, 1, ["0F0 0B0 0I0 0W0"]))
    assert "microbatch 0 of stage 0 has both a full backward and a split one" in str(e)
    assert e.action == Action(0, Kind.B, 0)


def test_local_order():
    e = error(sched(1, 1, ["0B0 0F0"]), DeadlockError)
    assert "device 0, step 0, action 0B0: needs 0F0, which comes later on the same device (step 1); " \
           "move 0F0 before 0B0" in str(e)
    assert ">0B0<" in str(e)


def test_cross_device_deadlock_names_both_waiting_devices():
    # Device 0 runs microbatch 1's backward before microbatch 0's forward; device 1 runs
    # microbatch 0 first. Device 0 waits for 1B1 (after 1F1 on device 1), device 1 waits for 0F0.
    s = sched(2, 2, ["0F1 0B1 0F0 0B0", "1F0 1B0 1F1 1B1"])
    e = error(s, DeadlockError)
    text = str(e)
    assert "deadlock: 2 device(s) blocked, none can proceed" in text
    assert "device 0, step 1, action 0B1 waits for 1B1 (device 1, step 3)" in text
    assert "device 1, step 0, action 1F0 waits for 0F0 (device 0, step 2)" in text
    assert ">0B1<" in text  # the grid marks the first blocked device's cell
    grid = text.splitlines()
    assert any(line.strip().startswith("dev0") for line in grid)
    assert any(line.strip().startswith("dev1") for line in grid)


def test_long_rows_are_cut_around_the_marked_cell():
    m = 40
    rows = [" ".join(f"0F{j}" for j in range(m)) + " " + " ".join(f"0B{j}" for j in range(m))]
    rows[0] = rows[0].replace("0F30", "0F30 0F30", 1)
    e = error(sched(1, m, rows))
    assert ">0F30<" in str(e)
    assert "(steps" in str(e)  # a window, not all 81 columns


def test_cross_device_deadlock_in_a_csv_is_named_a_deadlock(tmp_path, capsys):
    # Device 0 runs 0B0 (needs 1B0, device 1's last action) before 0F1; device 1 starts with
    # 1F1, which needs 0F1. Each waits for the other: a cycle across devices, not a local order.
    from pipesim.cli import main

    path = tmp_path / "dead.csv"
    path.write_text("0F0,0B0,0F1,0B1\n1F1,1B1,1F0,1B0\n", encoding="utf-8")
    assert main(["validate", "--from-csv", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pipesim validate: error: deadlock: 2 device(s) blocked, none can proceed")
    assert "device 0, step 1, action 0B0 waits for 1B0 (device 1, step 3)" in err
    assert "device 1, step 0, action 1F1 waits for 0F1 (device 0, step 2)" in err
    assert "later on the same device" not in err
