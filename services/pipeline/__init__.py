"""The flow's stages bound together: handlers for any transport, and the embedded runner."""

from services.pipeline.embedded import EmbeddedSystem, Pipeline

__all__ = ["EmbeddedSystem", "Pipeline"]
