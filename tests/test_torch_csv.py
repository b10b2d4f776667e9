"""PyTorch pipeline CSV: round trips, hand-written files, inference of placement, errors."""

from __future__ import annotations

import pytest

from pipesim.costs import Costs
from pipesim.ideal import evaluate
from pipesim.schedule import Action, Kind, Registry, RequirementError, validate
from pipesim.schedule.generators.interleaved import interleaved
from pipesim.schedule.generators.onef1b import one_f_one_b
from pipesim.schedule.lowering import add_send_recv
from pipesim.schedule.torch_csv import CsvScheduleError, read_csv, write_csv

REGISTRY = Registry.default()


@pytest.mark.parametrize("name", REGISTRY.names())
@pytest.mark.parametrize(("p", "m"), [(2, 4), (4, 8), (3, 6)])
def test_round_trip_every_registered_schedule(name, p, m):
    try:
        s = REGISTRY.generate(name, p, m)
    except RequirementError:
        pytest.skip(f"{name} rejects p={p}, m={m}")
    text = write_csv(s)
    assert len(text.splitlines()) == s.num_devices
    back = read_csv(text, layout=s.layout, name=s.name)
    assert back.actions == s.actions
    assert read_csv(write_csv(add_send_recv(s)), layout=s.layout).actions == add_send_recv(s).actions
    # single-route layouts numbered along the route are recovered without help
    lay = s.layout
    if len(lay.routes) == 1 and lay.routes[0] == tuple(range(lay.num_stages)) and lay.num_parts == lay.num_stages:
        inferred = read_csv(text)
        assert inferred.layout.stage_device == lay.stage_device
        assert inferred.layout.routes == lay.routes
        assert inferred.actions == s.actions
        c = Costs.make(s.num_stages)
        assert evaluate(inferred, c).makespan == evaluate(s, c).makespan


def test_hand_written_compute_only_csv(tmp_path):
    # 1F1B, p = 2, m = 2, with idle cells (empty) and spaces, as PyTorch's dump looks.
    text = "0F0, 0F1,,0B0,0B1\n,1F0,1B0,1F1,1B1\n"
    path = tmp_path / "one_f_one_b.csv"
    path.write_text(text)
    s = read_csv(path)
    assert s.name == "one_f_one_b"
    assert s.layout.stage_device == (0, 1)
    assert s.num_microbatches == 2
    assert s.actions == one_f_one_b(2, 2).actions
    validate(s)
    assert evaluate(s, Costs.make(2, F=1, B=2)).makespan == pytest.approx(9.0)
    assert read_csv(str(path)).actions == s.actions  # a path given as a string


def test_csv_with_send_recv_is_kept_as_is():
    text = ("0F0,0SEND_F0,0RECV_B0,0B0\n"
            "1RECV_F0,1F0,1B0,1SEND_B0\n")
    s = read_csv(text)
    assert [str(a) for a in s.actions[1]] == ["1RECV_F0", "1F0", "1B0", "1SEND_B0"]
    assert s.actions == add_send_recv(one_f_one_b(2, 1)).actions
    assert evaluate(s, Costs.make(2, F=1, B=2)).makespan == pytest.approx(6.0)


def test_inferred_interleaved_placement():
    s = interleaved(2, 4, v=2)
    back = read_csv(write_csv(s))
    assert back.layout.stage_device == (0, 1, 0, 1)
    assert back.num_stages == 4


def test_explicit_stage_to_device_and_num_microbatches():
    # Stage 1 only appears in a RECV, so it cannot be inferred; an explicit map places it.
    text = "0F0,0B0\n"
    with pytest.raises(CsvScheduleError, match="no compute action"):
        read_csv("0F0,1RECV_F0,0B0\n")
    s = read_csv(text, stage_to_device=[0], num_microbatches=3)
    assert s.num_microbatches == 3
    s = read_csv("0F0,1F0,1B0,0B0\n", stage_to_device={0: 0, 1: 0})
    validate(s)


def test_split_backward_and_overlap_cells():
    s = read_csv("0F0,0F1,0I0,0W0,(0F2;0I1)OVERLAP_F_B,0W1,0I2,0W2\n")
    assert s.actions[0][4].kind is Kind.OVERLAP_F_B
    validate(s)


def test_errors_name_row_column_and_cell():
    with pytest.raises(CsvScheduleError, match=r"row 1 \(rank 1\), column 2, cell '1X0': cannot read action"):
        read_csv("0F0,0B0\n1F0,1B0,1X0\n")
    with pytest.raises(CsvScheduleError,
                       match=r"stage 1 is computed in row 0 \(column 1, cell '1F0'\) and in row 1 \(column 0, cell '1B0'\)"):
        read_csv("0F0,1F0,0B0\n1B0\n")
    with pytest.raises(CsvScheduleError, match="holds no actions"):
        read_csv("\n,,\n")
    with pytest.raises(CsvScheduleError, match="num_microbatches=1 but the CSV names microbatch 1"):
        read_csv("0F0,0F1,0B0,0B1\n", num_microbatches=1)
    with pytest.raises(CsvScheduleError, match="3 rows but the layout has 2 devices"):
        read_csv("0F0\n1F0\n2F0\n", layout=one_f_one_b(2, 1).layout)


def test_placement_errors_surface_in_validation():
    # An explicit map that contradicts the rows is read, then validation names the cell.
    s = read_csv("0F0,1F0,1B0,0B0\n", stage_to_device=[0, 1])
    with pytest.raises(ValueError, match=r"device 0, step 1, action 1F0: stage 1 lives on device 1"):
        validate(s)


def test_write_to_a_file(tmp_path):
    s = one_f_one_b(3, 3)
    path = tmp_path / "s.csv"
    text = write_csv(s, path)
    assert path.read_text() == text
    assert text.splitlines()[2] == ",".join(str(a) for a in s.actions[2])
    assert Action.parse(text.split(",")[0]) == Action(0, Kind.F, 0)


def test_pytorch_sharding_actions_are_read_and_left_out():
    # PyTorch writes <stage>UNSHARD / <stage>RESHARD around a stage's work when its weights are
    # FSDP-sharded; pipesim models no sharding, so the order is the same schedule without them.
    from pipesim.ideal import evaluate
    from pipesim.schedule.registry import Registry
    from pipesim.schedule.torch_csv import read_csv, write_csv

    plain = write_csv(Registry.default().generate("1f1b", 3, 4)).strip().splitlines()
    sharded = "\n".join(f"{r}UNSHARD,{row},{r}RESHARD" for r, row in enumerate(plain)) + "\n"
    a, b = read_csv("\n".join(plain) + "\n"), read_csv(sharded)
    assert a.as_strings() == b.as_strings()
    assert evaluate(a).makespan == evaluate(b).makespan
    with pytest.raises(ValueError, match="cell 'xUNSHARD'"):
        read_csv("0F0,xUNSHARD\n")
