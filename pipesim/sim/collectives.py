"""Collectives built from point-to-point sends on the same ``Network``, so they contend with
pipeline traffic for the same links."""

from __future__ import annotations

from collections.abc import Sequence

from simpy.events import Event

from pipesim.sim.network import Network


def ring_allreduce(network: Network, group: Sequence[int], nbytes: float, *, label: str = "") -> Event:
    """All-reduce ``nbytes`` over the devices ``group`` with a ring: 2(n-1) steps (n-1 of
    reduce-scatter, n-1 of all-gather); in each step every member sends nbytes/n to its successor
    in ``group`` order and cannot start the next step before its predecessor's piece has arrived
    and its own piece has been delivered (a blocking send-receive, as in NCCL's ring).

    Returns an event (a SimPy process) whose value is ``(start, end)``, for the caller to record
    a collective span. Alone on identical direct links with FIFO this takes exactly
    2(n-1)/n * nbytes / bandwidth + 2(n-1) * latency. A group of one completes at once.
    """
    env = network.env
    members = list(group)
    n = len(members)
    if n == 0:
        raise ValueError("ring_allreduce: group is empty; give at least one device")
    if len(set(members)) != n:
        raise ValueError(f"ring_allreduce: group {members} names a device twice")
    if not nbytes >= 0:
        raise ValueError(f"ring_allreduce: nbytes={nbytes!r}; must be >= 0")
    start = env.now
    if n == 1:
        done = Event(env)
        done.succeed((start, start))
        return done
    piece = nbytes / n
    steps = 2 * (n - 1)
    # received[i][t]: member i holds its predecessor's piece of step t.
    received = [[Event(env) for _ in range(steps)] for _ in range(n)]

    def member(i: int):  # type: ignore[no-untyped-def]
        src, dst = members[i], members[(i + 1) % n]
        inbox, outbox = received[i], received[(i + 1) % n]
        for t in range(steps):
            sent = network.send(src, dst, piece, kind="collective", label=label)
            target = outbox[t]
            if sent.callbacks is None:
                target.succeed()
            else:
                sent.callbacks.append(target.trigger)
            yield sent
            yield inbox[t]

    procs = [env.process(member(i)) for i in range(n)]

    def whole():  # type: ignore[no-untyped-def]
        yield env.all_of(procs)
        return (start, env.now)

    return env.process(whole())
