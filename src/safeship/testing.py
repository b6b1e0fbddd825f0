"""The test kit: fakes that our tests and users' tests share (STYLE.md 7), re-exported only.

Every fake lives in the product beside what it stands in for; this module only names them,
and product code never imports it (tests/unit/test_architecture.py):
a virtual clock, the simulated fleet and router, a static metrics source, the `none` router,
a free port, and a real demo-service replica to point things at.
"""

from __future__ import annotations

from safeship.core.clock import VirtualClock as FakeClock
from safeship.core.net import free_port
from safeship.demo.replica import start_demo_replica
from safeship.fleet.simulated import FleetModel, SimulatedProvider, VersionBehaviour
from safeship.metrics.sources.static import StaticMetricsSource
from safeship.traffic.nop import NopRouter
from safeship.traffic.simulated import SimulatedRouter

__all__ = [
    "FakeClock",
    "FleetModel",
    "NopRouter",
    "SimulatedProvider",
    "SimulatedRouter",
    "StaticMetricsSource",
    "VersionBehaviour",
    "free_port",
    "start_demo_replica",
]
