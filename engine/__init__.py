"""journeys: property-based journeys walked against a live target.

The public surface for model authors is re-exported here: ``Model`` to declare
a journey model. Everything else lives in modules named after their job.
"""

from __future__ import annotations

__version__ = "0.1.0"

from engine.model.declare import Model  # noqa: E402

__all__ = ["Model", "__version__"]
