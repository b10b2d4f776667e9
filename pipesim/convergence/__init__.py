"""A convergence model for pipeline schedules: what staleness costs in iterations, and so in time.

``pipesim.staleness`` says which weight version every stage's forward and backward of every
microbatch used; this package replays exactly that pattern on real (small, numpy) problems
and multiplies the iterations to a target loss by the schedule's simulated time per iteration
(docs/convergence.md)::

    from pipesim.convergence import Optimizer, Training, for_schedule, make_problem, run_stale

    problem = make_problem("charlm")
    curve = run_stale(problem, for_schedule("pipedream-2bw", 4, 8, 100),
                      Training(Optimizer("adam", 0.005)), seed=0)
    print(curve.iterations_to(2.2))
"""

from pipesim.convergence.executor import (
    COMPENSATIONS,
    Curve,
    Training,
    run_stale,
    stage_units,
    train_minibatch,
)
from pipesim.convergence.optim import (
    OPTIMIZERS,
    Optimizer,
    OptState,
    error_feedback,
    predict_weights,
)
from pipesim.convergence.pattern import (
    Pattern,
    constant_delay,
    for_schedule,
    from_report,
    from_schedule,
    synchronous,
)
from pipesim.convergence.problems import PROBLEMS, Problem, make_problem
from pipesim.convergence.theory import delayed_rate, iterations_for, quadratic_rate, stability_limit
from pipesim.convergence.timeto import DEFAULT_SCHEDULES, Outcome, mean_ci, rank, time_to_target

__all__ = [
    "COMPENSATIONS",
    "DEFAULT_SCHEDULES",
    "OPTIMIZERS",
    "PROBLEMS",
    "Curve",
    "OptState",
    "Optimizer",
    "Outcome",
    "Pattern",
    "Problem",
    "Training",
    "constant_delay",
    "delayed_rate",
    "error_feedback",
    "for_schedule",
    "from_report",
    "from_schedule",
    "iterations_for",
    "make_problem",
    "mean_ci",
    "predict_weights",
    "quadratic_rate",
    "rank",
    "run_stale",
    "stability_limit",
    "stage_units",
    "synchronous",
    "time_to_target",
    "train_minibatch",
]
