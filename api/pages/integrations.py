"""The integration file as the pages need it: each integration's mode and reason codes."""

from __future__ import annotations

import logging
import os
import threading

from fastapi import Request

from adapters.config import CONFIG_ENV, ConfigError, IntegrationsConfig, load_config
from adapters.reasons import ReasonCatalogue, catalogue

log = logging.getLogger("floorledger.pages")
_lock = threading.Lock()


class PlantConfig:
    """The integrations ($FLOORLEDGER_CONFIG), read once per app."""

    def __init__(self, config: IntegrationsConfig) -> None:
        self.config = config
        self.reasons: ReasonCatalogue = catalogue(config)

    def mode(self, integration: str) -> str | None:
        """The integration's mode (A-E), None when it is not configured."""
        for integ in self.config.integrations:
            if integ.name == integration:
                return integ.mode
        return None


def plant_config(request: Request) -> PlantConfig:
    """The app's reading of the integration file (empty when none is configured or it is
    unusable; the API's writeback routes report that problem)."""
    with _lock:
        found: PlantConfig | None = getattr(request.app.state, "plant_config", None)
        if found is None:
            config = IntegrationsConfig()
            if os.environ.get(CONFIG_ENV):
                try:
                    config = load_config()
                    found = PlantConfig(config)
                except ConfigError as exc:
                    log.warning("the integration file is unusable: %s", exc)
            found = found or PlantConfig(IntegrationsConfig())
            request.app.state.plant_config = found
        return found
