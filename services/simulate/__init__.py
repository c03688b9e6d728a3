"""Demo data: a simulated year of the four report streams with five planted threats."""

from services.simulate.cli import simulate_command
from services.simulate.simulator import SimulationSummary, simulate
from services.simulate.stream import StreamItem, arrival_time, iter_stream
from services.simulate.world import SimulationError

__all__ = [
    "SimulationError",
    "SimulationSummary",
    "StreamItem",
    "arrival_time",
    "iter_stream",
    "simulate",
    "simulate_command",
]
