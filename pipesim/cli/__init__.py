"""The ``pipesim`` command line: one module per subcommand, registered here.

Every user-facing failure (bad schedule, bad option, bad scenario) is a ``ValueError`` (or
``OSError`` for files) with a message that says what to do; ``main`` prints it on one line
(plus the schedule grid where there is one) and exits with status 2 -- never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

# (command, module, one-line help). Modules expose ``add_arguments(parser)`` and ``run(args)``.
COMMANDS = (
    ("schedules", "pipesim.cli.schedules_cmd", "list schedules with their options and requirements"),
    ("table", "pipesim.cli.table_cmd", "evaluate a schedule at the table level (no network)"),
    ("validate", "pipesim.cli.validate_cmd", "check a schedule (by name or PyTorch CSV) and report the first error"),
    ("run", "pipesim.cli.run_cmd", "simulate a scenario: summary, metrics.json, gantt.png (trace.json with --trace)"),
    ("levels", "pipesim.cli.levels_cmd", "formula, table and simulation side by side for one scenario"),
    ("compare", "pipesim.cli.compare_cmd", "every schedule on one scenario at equal work: ranked, feasible or why not"),
    ("search", "pipesim.cli.search_cmd", "the fastest plan and order for a cluster under a memory limit, judged by the simulation"),
    ("sweep", "pipesim.cli.sweep_cmd", "run many scenarios from a sweep file into one results.csv (resumable)"),
    ("net", "pipesim.cli.net_cmd", "replay explicit transfers on a network: the direct way to study contention"),
    ("gantt", "pipesim.cli.gantt_cmd", "redraw a Gantt chart from a saved trace.json"),
    ("workload", "pipesim.cli.workload_cmd", "one layer's and the head's times and stored bytes on a GPU"),
    ("profile", "pipesim.cli.profile_cmd", "measure a preset's layer and head on this GPU into a profile file"),
    ("converge", "pipesim.cli.converge_cmd", "time to a target loss: real training with each schedule's staleness"),
)


def build_parser(commands: Sequence[tuple[str, str, str]] = COMMANDS) -> argparse.ArgumentParser:
    from pipesim import __version__

    parser = argparse.ArgumentParser(
        prog="pipesim",
        description="Simulate pipeline-parallel training schedules: closed forms, tables, and a "
        "communication-aware discrete-event simulation.",
    )
    parser.add_argument("--version", action="version", version=f"pipesim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module, help_text in commands:
        p = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args) or 0)
    except BrokenPipeError:
        # The reader went away (`pipesim schedules | head`): not an error of ours. Point stdout
        # at nothing so that the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, OSError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"pipesim {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"pipesim {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
