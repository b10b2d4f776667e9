"""Weight staleness of asynchronous pipelines, derived from a schedule's timeline.

Semantics (docs/reference.md#asynchronous-pipelines-and-staleness):

* ``pipedream`` — each stage keeps a version counter that its own backwards advance: a backward
  (B, or W when the backward is split) applies its gradient and creates the next version. A
  forward uses the newest version at its start; its backward uses the same, stashed version.
  The delay of an applied gradient is (version when applied) - (version it was computed on),
  in local updates of that stage. Steady state: stage s keeps S-s versions, delay S-s-1.
* ``2bw`` — a stage applies one accumulated gradient after every m backwards (m microbatches per
  iteration); microbatch k (1-indexed) uses version max(floor((k-1)/m) - 1, 0), i.e. the update
  W(t+1) = W(t) - lr * grad f(W(t-1)): delay exactly 1 after the first update, two versions.
* ``sync`` — every other schedule: one version, one update per iteration, delay 0.

Per microbatch the report also gives the version its backward saw (what a stage without weight
stashing computes with) and, per update, the microbatches whose gradients it applies: with the
forward versions that is the whole staleness pattern ``pipesim.convergence`` replays.

The order of a stage's actions is the evaluated timeline order on its device when a
``TableResult`` is given (start time, then list position), otherwise the device's list order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipesim.schedule.action import Action, Kind, compute_parts
from pipesim.schedule.table import Schedule


@dataclass(frozen=True)
class StageStaleness:
    stage: int
    device: int
    versions_kept: int  # most weight versions held at once (newest + those stashed by in-flight microbatches)
    forward_versions: tuple[tuple[int, int], ...]  # (microbatch, version its forward used)
    delays: tuple[int, ...]  # delay of each applied gradient, in application order
    updates: int
    # Added for the convergence model (pipesim.convergence), defaulted so older constructions
    # still work. The newest version when the microbatch's backward ran (B, or I of a split
    # backward): what a stage without weight stashing computes its backward with.
    backward_versions: tuple[tuple[int, int], ...] = ()
    # The microbatches whose gradients each update applies, in application order (one per
    # update: a single microbatch for PipeDream, a batch of m for 2BW, every one for sync).
    update_groups: tuple[tuple[int, ...], ...] = ()

    @property
    def max_delay(self) -> int:
        return max(self.delays, default=0)

    @property
    def mean_delay(self) -> float:
        return sum(self.delays) / len(self.delays) if self.delays else 0.0


@dataclass(frozen=True)
class StalenessReport:
    schedule: str
    mode: str  # "pipedream" | "2bw" | "sync"
    stages: tuple[StageStaleness, ...]

    def summary(self) -> list[dict[str, Any]]:
        return [{"stage": s.stage, "device": s.device, "versions": s.versions_kept, "max_delay": s.max_delay,
                 "mean_delay": s.mean_delay, "updates": s.updates} for s in self.stages]


def _mode(schedule: Schedule) -> str:
    mode = schedule.options.get("weight_update", schedule.layout.notes.get("weight_update", "sync"))
    if mode not in ("pipedream", "2bw", "sync"):
        raise ValueError(f"schedule '{schedule.name}': weight_update={mode!r}; expected 'pipedream', '2bw' or 'sync'")
    return str(mode)


def _device_orders(schedule: Schedule, timing: Any) -> list[list[Action]]:
    if timing is None:
        return [list(row) for row in schedule.actions]
    if not hasattr(timing, "start") or not hasattr(timing, "program"):
        raise TypeError("staleness: pass a TableResult (pipesim.ideal.evaluate) or None for list order")
    prog = timing.program
    out = []
    for f, c in zip(prog.first, prog.count, strict=True):
        gids = sorted(range(f, f + c), key=lambda g: (timing.start[g], g))
        out.append([prog.actions[g] for g in gids])
    return out


def staleness(schedule: Schedule, timing: Any = None) -> StalenessReport:
    """Versions and gradient delays per stage of ``schedule`` (see the module docstring).

    ``timing`` is a ``TableResult`` of this schedule (its start times order each device's
    actions) or None (the device lists' order).
    """
    mode = _mode(schedule)
    lay = schedule.layout
    per_iter = int(schedule.options.get("microbatches_per_iteration", lay.num_microbatches) or 1)  # type: ignore[call-overload]
    orders = _device_orders(schedule, timing)
    stages: list[StageStaleness] = []
    for s in range(lay.num_stages):
        d = lay.stage_device[s]
        acts = [x for a in orders[d] for x in compute_parts(a) if x.stage == s and x.microbatch is not None]
        v = 0
        used: dict[int, int] = {}
        inflight: dict[int, int] = {}
        fwd: list[tuple[int, int]] = []
        bwd: list[tuple[int, int]] = []
        delays: list[int] = []
        groups: list[tuple[int, ...]] = []
        kept = 1
        done_in_batch: dict[int, list[int]] = {}
        for a in acts:
            mb = a.microbatch
            assert mb is not None
            if a.kind is Kind.F:
                if mode == "pipedream":
                    ver = v
                elif mode == "2bw":
                    ver = max(mb // per_iter - 1, 0)
                    if ver > v:
                        raise ValueError(
                            f"stage {s}: microbatch {mb} needs weight version {ver} but only {v} exists at its "
                            f"forward; PipeDream-2BW needs m >= p (m={per_iter})")
                else:
                    ver = 0
                used[mb] = ver
                inflight[mb] = ver
                fwd.append((mb, ver))
                kept = max(kept, len(set(inflight.values()) | {v}))
                continue
            if a.kind is Kind.I:  # the input gradient uses the weights held now; the update comes with W
                bwd.append((mb, 0 if mode == "sync" else v))
                continue
            if a.kind is Kind.B:
                bwd.append((mb, 0 if mode == "sync" else v))
            # B (or W of a split backward): the gradient of ``mb`` is complete
            inflight.pop(mb, None)
            if mode == "pipedream":
                delays.append(v - used[mb])
                groups.append((mb,))
                v += 1
            elif mode == "2bw":
                batch = mb // per_iter
                done_in_batch.setdefault(batch, []).append(mb)
                if len(done_in_batch[batch]) == per_iter:  # accumulated gradient of the batch is applied
                    delays.append(v - max(batch - 1, 0))
                    groups.append(tuple(done_in_batch.pop(batch)))
                    v += 1
        if mode == "sync":
            delays, v = [0], 1
            groups = [tuple(sorted(mb for mb, _ in fwd))]
        stages.append(StageStaleness(s, d, kept, tuple(fwd), tuple(delays), v, tuple(bwd), tuple(groups)))
    return StalenessReport(schedule.name, mode, tuple(stages))


def format_staleness(report: StalenessReport) -> str:
    """A plain-text table for the CLI: one line per stage."""
    head = f"staleness of '{report.schedule}' (weight update: {report.mode}; delays in local updates)"
    cols = ("stage", "device", "versions", "max delay", "mean delay", "updates")
    lines = [head, "  ".join(f"{c:>10}" for c in cols)]
    for st in report.stages:
        row = (st.stage, st.device, st.versions_kept, st.max_delay, f"{st.mean_delay:.3f}", st.updates)
        lines.append("  ".join(f"{x!s:>10}" for x in row))
    return "\n".join(lines)
