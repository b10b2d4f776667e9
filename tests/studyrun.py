"""Running a study script the way its tests do: the quick grid, one worker, into a folder."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

STUDIES = Path(__file__).resolve().parents[1] / "scenarios" / "studies"


def run_study(script: Path, out: Path) -> Path:
    """Run ``script --quick --jobs 1`` into ``out`` (a failure shows the script's stderr)."""
    proc = subprocess.run([sys.executable, str(script), "--quick", "--out", str(out), "--jobs", "1"],
                          timeout=300, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{script.name} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return out


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
