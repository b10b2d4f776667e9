"""The convergence model's parts: staleness patterns from schedules, the stale executor (delay 0
is plain mini-batch training bit for bit), optimisers, remedies, problems and backprop."""

from __future__ import annotations

import numpy as np
import pytest

import pipesim
from pipesim.convergence import (
    Optimizer,
    OptState,
    Training,
    constant_delay,
    error_feedback,
    for_schedule,
    from_report,
    make_problem,
    predict_weights,
    run_stale,
    stage_units,
    synchronous,
    train_minibatch,
)
from pipesim.convergence.layers import forward_backward, forward_loss
from pipesim.staleness import staleness

# --- patterns ---------------------------------------------------------------------------------


def test_2bw_pattern_is_constant_delay_one():
    a, b = for_schedule("pipedream-2bw", 4, 8, 12), constant_delay(4, 8, 12, 1)
    for what in ("forward", "backward", "update"):
        assert np.array_equal(getattr(a, what), getattr(b, what))
    assert a.summary()["max_delay"] == [1, 1, 1, 1]


@pytest.mark.parametrize("p", [2, 4, 6])
def test_pipedream_pattern_steady_state(p):
    pat = for_schedule("pipedream", p, 8, 6)
    d = pat.delays()
    assert [int(d[s, -8:].min()) for s in range(p)] == [p - s - 1 for s in range(p)]  # steady state
    assert pat.summary()["max_delay"] == [p - s - 1 for s in range(p)]
    assert pat.summary()["updates"] == [48] * p  # one update per microbatch
    assert np.all(pat.backward - pat.forward == d)  # without stashing the backward reads the newest


def test_sync_schedules_have_the_same_pattern():
    ref = synchronous("x", 4, 8, 5).fingerprint()
    for name in ("gpipe", "1f1b", "zb-h1", "zb-h2"):
        assert for_schedule(name, 4, 8, 5).fingerprint() == ref, name


def test_from_report_needs_enough_microbatches():
    report = staleness(pipesim.generate("pipedream", 2, 4, iterations=2))
    with pytest.raises(ValueError, match="fewer than iterations=5"):
        from_report(report, 4, 5)


def test_stage_units_split_and_error():
    assert stage_units(8, 3) == [range(0, 3), range(3, 6), range(6, 8)]
    with pytest.raises(ValueError, match="cannot be split into 9 pipeline stages"):
        stage_units(8, 9, "mlp")


# --- delay 0 is plain mini-batch training, bit for bit ---------------------------------------

OPTIMIZERS = [Optimizer("sgd", 0.1), Optimizer("momentum", 0.05), Optimizer("adam", 0.01),
              Optimizer("adamw", 0.01, weight_decay=0.01)]
SMALL_MLP = {"layers": 8, "width": 16, "n": 512}


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=lambda o: o.kind)
@pytest.mark.parametrize("schedule,options", [("gpipe", {}), ("1f1b", {}), ("zb-h1", {}), ("interleaved", {"v": 2}),
                                              ("chimera", {})])
def test_sync_schedule_reproduces_minibatch_training(opt, schedule, options):
    problem = make_problem("mlp", **SMALL_MLP)
    pat = for_schedule(schedule, 4, 4, 6, **options)
    ref = train_minibatch(problem, opt, 4, 6, 4, seed=3)
    for training in (Training(opt, microbatch_size=4), Training(opt, microbatch_size=4, stashing=False),
                     Training(opt, microbatch_size=4, compensation="predict"),
                     Training(opt, microbatch_size=4, compensation="feedback")):
        got = run_stale(problem, pat, training, seed=3)
        assert np.array_equal(got.loss, ref.loss)
        assert all(np.array_equal(a, b) for a, b in zip(got.params, ref.params, strict=True))


@pytest.mark.parametrize("name,opt", [("quadratic", Optimizer("sgd", 0.5)), ("logistic", Optimizer("momentum", 0.2)),
                                      ("charlm", Optimizer("adam", 0.005))])
def test_delay_zero_bit_for_bit_on_every_problem(name, opt):
    problem = make_problem(name, **({"width": 16, "embed": 4, "chars": 2000} if name == "charlm" else {}))
    got = run_stale(problem, constant_delay(4, 2, 4, 0), Training(opt, microbatch_size=4), seed=1)
    ref = train_minibatch(problem, opt, 2, 4, 4, seed=1)
    assert np.array_equal(got.loss, ref.loss)


def test_delay_changes_training_and_stashing_matters():
    problem = make_problem("mlp", **SMALL_MLP)
    opt = Optimizer("sgd", 0.2)
    pat = for_schedule("pipedream", 4, 4, 6)
    stashed = run_stale(problem, pat, Training(opt, microbatch_size=4), seed=0)
    fresh = run_stale(problem, pat, Training(opt, microbatch_size=4, stashing=False), seed=0)
    ref = train_minibatch(problem, opt, 4, 6, 4, seed=0)
    assert not np.array_equal(stashed.loss, ref.loss)
    assert not np.array_equal(stashed.loss, fresh.loss)
    assert np.all(np.isfinite(stashed.loss)) and stashed.loss[-1] < stashed.loss[0]


def test_divergence_is_detected_and_stops_the_run():
    problem = make_problem("quadratic", dim=1, cond=1, blocks=1)
    curve = run_stale(problem, constant_delay(1, 1, 500, 2), Training(Optimizer("sgd", 0.8), microbatch_size=1), 0)
    assert curve.diverged and len(curve.loss) < 501 and curve.iterations_to(1e-6) is None


# --- optimisers and remedies ------------------------------------------------------------------


def test_optimizer_steps_match_their_formulas():
    w, g = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    assert np.allclose(Optimizer("sgd", 0.1).step([w], [g], OptState())[0], w - 0.1 * g)
    opt = Optimizer("momentum", 0.1, momentum=0.5)
    st = opt.init([w])
    w1 = opt.step([w], [g], st)[0]
    w2 = opt.step([w1], [g], st)[0]
    assert np.allclose(w2, w1 - 0.1 * (0.5 * g + g))
    adam = Optimizer("adam", 0.1)
    st = adam.init([w])
    assert np.allclose(adam.step([w], [g], st)[0], w - 0.1 * np.sign(g), atol=1e-6)  # first step: lr * sign
    decayed = Optimizer("adamw", 0.1, weight_decay=0.5)
    assert np.allclose(decayed.step([w], [g], decayed.init([w]))[0], w - 0.1 * 0.5 * w - 0.1 * np.sign(g), atol=1e-6)
    assert w[0] == 1.0  # nothing was written in place


def test_remedies():
    w, inc = np.array([1.0, 2.0]), np.array([0.1, -0.2])
    assert predict_weights(w, inc, 0) is w
    assert np.allclose(predict_weights(w, inc, 3), [1.3, 1.4])  # W(t) + s (W(t) - W(t-1))
    u, prev = np.array([1.0, 1.0]), np.array([0.5, 2.0])
    assert error_feedback(u, prev, 0.0) is u
    assert np.allclose(error_feedback(u, prev, 1.0), [1.5, 0.0])


@pytest.mark.parametrize("kwargs,match", [({"kind": "lion"}, "--optimizer: 'lion'"), ({"lr": -1.0}, "--lr: -1.0"),
                                          ({"momentum": 1.0}, "momentum: 1.0")])
def test_optimizer_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Optimizer(**kwargs)


def test_training_and_problem_errors():
    with pytest.raises(ValueError, match="--compensation: 'magic'"):
        Training(compensation="magic")
    with pytest.raises(ValueError, match="--problem: 'mnist' is not known; valid: quadratic"):
        make_problem("mnist")
    with pytest.raises(ValueError, match="has no option 'depth'; valid: n, dim"):
        make_problem("mlp", depth=3)
    with pytest.raises(ValueError, match=r"layers=2\.5: not a valid int"):
        make_problem("mlp", layers="2.5")


# --- problems and backprop --------------------------------------------------------------------


def test_problems_are_deterministic_and_know_their_optimum():
    q = make_problem("quadratic")
    assert q.loss([np.split(q.xstar, 16)[i] for i in range(16)]) == 0.0
    lg = make_problem("logistic")
    assert lg.loss(np.array_split(lg.wstar, 16)) == pytest.approx(lg.optimum)
    assert lg.loss(np.array_split(lg.wstar + 0.01, 16)) > lg.optimum
    a, b = make_problem("charlm", chars=3000), make_problem("charlm", chars=3000)
    assert np.array_equal(a.inputs, b.inputs) and a.alphabet == b.alphabet
    assert all(np.array_equal(x, y) for x, y in zip(a.init(5), b.init(5), strict=True))
    assert np.array_equal(a.batches(5, 3, 4), b.batches(5, 3, 4))


@pytest.mark.parametrize("name", ["mlp", "charlm"])
def test_backprop_matches_finite_differences(name):
    problem = make_problem(name, **({"width": 6, "embed": 3, "chars": 500} if name == "charlm" else {"width": 6}),
                           layers=4)
    params = problem.init(0)
    idx = np.arange(5)
    x, y = problem.inputs[idx], problem.targets[idx]
    _, grads = forward_backward(problem.layers, params, params, x, y)
    rng = np.random.default_rng(0)
    for unit in range(len(params)):
        for _ in range(3):
            pos = tuple(int(rng.integers(n)) for n in params[unit].shape)
            shifted = [p.copy() for p in params]
            shifted[unit][pos] += 1e-6
            up = forward_loss(problem.layers, shifted, x, y)
            shifted[unit][pos] -= 2e-6
            down = forward_loss(problem.layers, shifted, x, y)
            assert grads[unit][pos] == pytest.approx((up - down) / 2e-6, rel=1e-4, abs=1e-8)


def test_backward_weights_only_change_upstream_gradients():
    problem = make_problem("mlp", layers=4, width=8)
    fwd, other = problem.init(0), problem.init(1)
    x, y = problem.inputs[:16], problem.targets[:16]
    _, same = forward_backward(problem.layers, fwd, fwd, x, y)
    _, mixed = forward_backward(problem.layers, fwd, other, x, y)
    assert np.array_equal(same[-1], mixed[-1])  # the last layer's gradient needs no later weights
    assert not np.allclose(same[0], mixed[0])


def test_depth_does_not_change_training_when_every_stage_has_the_same_delay():
    """The study trains synchronous schedules and 2BW once for all depths: the gradient is the
    whole network's at one version and the updates are elementwise, so the stage split is moot."""
    problem = make_problem("mlp", **SMALL_MLP)
    training = Training(Optimizer("adam", 0.01), microbatch_size=4)
    for make in (lambda p: for_schedule("pipedream-2bw", p, 8, 4), lambda p: synchronous("s", p, 8, 4)):
        a, b = (run_stale(problem, make(p), training, seed=2) for p in (2, 8))
        assert np.array_equal(a.loss, b.loss)
