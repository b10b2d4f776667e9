"""pipesim: pipeline-parallel training schedules, from closed forms to contended networks."""

__version__ = "0.1.0"
