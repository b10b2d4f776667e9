"""`pipesim validate`: check a schedule and say exactly what is wrong."""

from __future__ import annotations

import argparse

from pipesim.cli.common import add_schedule_arguments, schedule_from_args
from pipesim.schedule.validate import validate


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_schedule_arguments(p, name_required=False)


def run(args: argparse.Namespace) -> int:
    schedule = schedule_from_args(args)
    validate(schedule)
    print(f"ok: '{schedule.name}' is valid: {schedule.num_devices} devices, {schedule.num_stages} stages, "
          f"{schedule.num_microbatches} microbatches, {schedule.num_actions} actions, no deadlock")
    return 0
