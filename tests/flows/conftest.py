"""Fixtures of the dataflow's tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import cluster_main, run_main

Runner = Callable[[Dataflow], None]


@pytest.fixture(params=["run_main", "cluster_main_2_workers"])
def runner(request: pytest.FixtureRequest) -> Runner:
    """Run a flow in one worker, or in two worker threads of one process."""
    if request.param == "run_main":
        return lambda flow: run_main(flow)  # type: ignore[no-untyped-call]
    return lambda flow: cluster_main(flow, [], 0, worker_count_per_proc=2)  # type: ignore[no-untyped-call]
