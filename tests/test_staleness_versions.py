"""The staleness report's per-microbatch facts that the convergence model replays: the version
each backward saw and the microbatches each update applies."""

from __future__ import annotations

import pipesim
from pipesim.staleness import StageStaleness, staleness


def test_report_has_backward_versions_and_update_groups():
    st = staleness(pipesim.generate("pipedream", 3, 3, iterations=2)).stages[0]
    assert st.update_groups == tuple((k,) for k in range(6))  # one update per microbatch
    assert dict(st.backward_versions) == {k: k for k in range(6)}  # newest = updates so far
    assert dict(st.forward_versions) == {0: 0, 1: 0, 2: 0, 3: 1, 4: 2, 5: 3}  # delay p - s - 1 = 2
    bw = staleness(pipesim.generate("pipedream-2bw", 3, 3, iterations=2)).stages[1]
    assert bw.update_groups == ((0, 1, 2), (3, 4, 5))
    assert dict(bw.backward_versions) == {0: 0, 1: 0, 2: 0, 3: 1, 4: 1, 5: 1}
    sync = staleness(pipesim.generate("zb-h1", 3, 4)).stages[2]
    assert sync.update_groups == ((0, 1, 2, 3),) and set(dict(sync.backward_versions).values()) == {0}


def test_stage_staleness_is_backward_compatible():
    st = StageStaleness(0, 0, 1, ((0, 0),), (0,), 1)  # the six fields it always had
    assert st.backward_versions == () and st.update_groups == () and st.max_delay == 0
