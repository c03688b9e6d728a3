"""`ews api`: the HTTP API alone, over the configured transport, store and index."""

from __future__ import annotations

import uvicorn

from services.api.app import create_app
from services.pipeline import EmbeddedSystem
from services.settings import Settings


def run_api(settings: Settings) -> int:
    """Serve until Ctrl-C or SIGTERM; the pipeline runs elsewhere (`ews pipeline`, workers)."""
    # One process writes a tantivy folder (the pipeline); Elasticsearch takes writes from all.
    writable = bool(settings.index) and not settings.index.startswith("tantivy")
    system = EmbeddedSystem(settings, index_writable=writable)
    try:
        # log_config=None: uvicorn's records go to the handler the CLI configured (text or JSON).
        uvicorn.run(create_app(system), host=settings.host, port=settings.port, log_level="info",
                    lifespan="off", log_config=None)
    except KeyboardInterrupt:
        pass
    finally:
        system.close()
    return 0
