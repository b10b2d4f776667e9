import pytest

from pipesim.costs import Costs
from pipesim.ideal import evaluate
from pipesim.schedule import Action, Kind, Layout, Schedule
from pipesim.schedule.generators.gpipe import gpipe
from pipesim.schedule.generators.onef1b import one_f_one_b


def test_costs_defaults_follow_the_literature():
    c = Costs.make(3, F=2.0)
    assert c.backward == (4.0, 4.0, 4.0)
    assert c.backward_input == c.backward_weight == (2.0, 2.0, 2.0)
    c = Costs.make(2, F=1, I=1.5, W=0.5)
    assert c.backward == (2.0, 2.0)


def test_costs_errors_name_the_field():
    with pytest.raises(ValueError, match=r"costs.F: 2 values given for 3 stages"):
        Costs.make(3, F=[1, 2])
    with pytest.raises(ValueError, match=r"costs.B\[1\]: -1.0 is negative"):
        Costs.make(2, B=[1, -1])
    with pytest.raises(ValueError, match=r"costs\.overlap"):
        Costs.make(2, overlap=0)


def test_costs_must_match_the_schedule():
    with pytest.raises(ValueError, match="costs are for 3 stages but schedule '1f1b' has 4 stages"):
        evaluate(one_f_one_b(4, 4), Costs.make(3))


@pytest.mark.parametrize("p", [2, 3, 5, 8])
def test_message_delay_adds_exactly_once_per_hop_on_the_critical_path(p):
    # A single microbatch makes the dependency chain the whole schedule: p forwards, p
    # backwards and 2(p-1) device-to-device hand-overs, each paying the delay once.
    d = 0.25
    base = evaluate(one_f_one_b(p, 1), Costs.make(p, F=1, B=2))
    delayed = evaluate(one_f_one_b(p, 1), Costs.make(p, F=1, B=2), message_delay=d)
    assert delayed.makespan == pytest.approx(base.makespan + 2 * (p - 1) * d)
    assert base.makespan == pytest.approx(3 * p)


def test_span_bubble_is_smaller_than_global_bubble_for_1f1b():
    r = evaluate(one_f_one_b(4, 8))
    # device 0 spans the whole makespan; the last device starts after 3 forwards and ends 3*... early
    assert r.spans[0] == (0.0, r.makespan)
    assert r.span_bubble_ratio < r.bubble_ratio


def test_memory_profile_in_bytes_with_split_backward():
    # One device, one stage: F0 F1 I0 W0 I1 W1 with keep = 0.25 of 8 bytes.
    lay = Layout(1, (0,), (0,), ((0,),), (0, 0))
    rows = [[Action(0, Kind.F, 0), Action(0, Kind.F, 1), Action(0, Kind.I, 0), Action(0, Kind.W, 0),
             Action(0, Kind.I, 1), Action(0, Kind.W, 1)]]
    s = Schedule.build("hand", lay, rows)
    r = evaluate(s, Costs.make(1, activation_bytes=8.0, weight_keep=0.25))
    assert r.peak_inflight == [2]
    assert r.peak_activation_bytes == [16.0]
    tr = r.trace()
    # A sample at time 0 (static memory only), then one per change.
    assert [m.activations for m in tr.memory] == [0.0, 8.0, 16.0, 10.0, 8.0, 2.0, 0.0]


def test_trace_spans_match_result_and_messages_cross_devices():
    r = evaluate(gpipe(3, 2), message_delay=0.5)
    tr = r.trace()
    assert len(tr.spans) == 12
    assert {s.track for s in tr.spans} == {"gpu0", "gpu1", "gpu2"}
    # 2 boundaries x 2 microbatches x (activation + gradient)
    assert len(tr.messages) == 8
    assert all(m.arrived - m.sent == 0.5 for m in tr.messages)
    assert {(m.src, m.dst) for m in tr.messages if m.kind == "act"} == {(0, 1), (1, 2)}
