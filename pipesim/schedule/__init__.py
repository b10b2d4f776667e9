"""The tabular schedule abstraction: actions, layouts, schedules, validation, generators."""

from pipesim.schedule.action import Action, ActionParseError, Kind, overlap
from pipesim.schedule.layout import Layout, LayoutError, linear_layout
from pipesim.schedule.registry import (
    Generator,
    Option,
    Registry,
    RequirementError,
    ScheduleOptionError,
)
from pipesim.schedule.table import Schedule, render_grid
from pipesim.schedule.validate import DeadlockError, ScheduleError, validate

__all__ = [
    "Action",
    "ActionParseError",
    "DeadlockError",
    "Generator",
    "Kind",
    "Layout",
    "LayoutError",
    "Option",
    "Registry",
    "RequirementError",
    "Schedule",
    "ScheduleError",
    "ScheduleOptionError",
    "linear_layout",
    "overlap",
    "render_grid",
    "validate",
]
