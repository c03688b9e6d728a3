"""Stream workers of the scaled deployment: the flow's handlers as faust agents on Kafka."""

from services.workers.run import WorkerError, run_worker
from services.workers.settings import ROLES, SINGLE_ROLES, STREAM_ROLES, Role, WorkerSettings
from services.workers.table_state import TableState

__all__ = ["ROLES", "SINGLE_ROLES", "STREAM_ROLES", "Role", "TableState", "WorkerError",
           "WorkerSettings", "run_worker"]
