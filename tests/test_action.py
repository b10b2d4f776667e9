"""Actions: every kind prints in PyTorch's form and parses back; malformed strings are refused."""

from __future__ import annotations

import pytest

from pipesim.schedule.action import Action, ActionParseError, Kind, overlap


@pytest.mark.parametrize(
    ("action", "text"),
    [
        (Action(0, Kind.F, 3), "0F3"),
        (Action(4, Kind.B, 0), "4B0"),
        (Action(4, Kind.I, 0), "4I0"),
        (Action(2, Kind.W, 7), "2W7"),
        (Action(1, Kind.SEND_F, 0), "1SEND_F0"),
        (Action(12, Kind.RECV_F, 5), "12RECV_F5"),
        (Action(3, Kind.SEND_B, 11), "3SEND_B11"),
        (Action(0, Kind.RECV_B, 2), "0RECV_B2"),
        (Action(3, Kind.REDUCE_GRAD), "3REDUCE_GRAD"),
        (overlap(Action(0, Kind.F, 3), Action(1, Kind.B, 2)), "(0F3;1B2)OVERLAP_F_B"),
        (overlap(Action(5, Kind.F, 10), Action(2, Kind.I, 9)), "(5F10;2I9)OVERLAP_F_B"),
    ],
)
def test_round_trip(action, text):
    assert str(action) == text
    assert Action.parse(text) == action
    assert Action.parse(f"  {text} ") == action  # CSV cells may carry spaces


def test_every_kind_is_covered():
    # The table above must grow with Kind: this fails if a kind is added without a round trip.
    covered = {Kind.F, Kind.B, Kind.I, Kind.W, Kind.SEND_F, Kind.RECV_F, Kind.SEND_B, Kind.RECV_B,
               Kind.REDUCE_GRAD, Kind.OVERLAP_F_B}
    assert covered == set(Kind)


def test_overlap_keeps_its_parts_and_the_forward_stage():
    a = Action.parse("(6F1;0B4)OVERLAP_F_B")
    assert a.kind is Kind.OVERLAP_F_B and a.stage == 6 and a.microbatch is None
    assert a.sub == (Action(6, Kind.F, 1), Action(0, Kind.B, 4))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "cannot read action ''"),
        ("F3", "cannot read action 'F3'"),
        ("0X3", "cannot read action '0X3'"),
        ("0F", "F needs a microbatch number, e.g. '0F0'"),
        ("2SEND_F", "SEND_F needs a microbatch number"),
        ("3REDUCE_GRAD1", "REDUCE_GRAD takes no microbatch number"),
        ("0F-1", "cannot read action '0F-1'"),
        ("(0F3;1B2;2B1)OVERLAP_F_B", "exactly two sub-actions, got 3"),
        ("(1B2;0F3)OVERLAP_F_B", "OVERLAP_F_B needs a forward then a backward (B or I), got 1B2 and 0F3"),
        ("(0F3;1W2)OVERLAP_F_B", "needs a forward then a backward"),
        ("0OVERLAP_F_B", "cannot read action '0OVERLAP_F_B'"),
    ],
)
def test_malformed_strings_are_rejected_with_the_reason(text, message):
    with pytest.raises(ActionParseError) as info:
        Action.parse(text)
    assert message in str(info.value)


def test_one_part_overlap_is_a_parse_error():
    with pytest.raises(ActionParseError, match="exactly two sub-actions"):
        Action.parse("(0F3)OVERLAP_F_B")
