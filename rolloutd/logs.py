"""Structured logging: JSON lines when not on a terminal, readable colours when on one.

Everything (our structlog loggers and stdlib logging from aiohttp or kubernetes-asyncio) goes
through one structlog pipeline; context bound with `structlog.contextvars` (namespace and
rollout during a reconcile) is merged into every line.
"""

from __future__ import annotations

import logging
import sys

import structlog

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


KEYS = ("rolloutd", "argo")
"""JSON key sets: rolloutd's (`event`, `timestamp`) or Argo's (`msg`, `time`, as logrus writes
them), for log pipelines and alerts written against Argo Rollouts' controller."""


def configure(level: str = "info", fmt: str = "auto", keys: str = "rolloutd") -> None:
    """Set up logging once per process; `fmt` is json, console (or text) or auto (console on a
    TTY, json otherwise); `keys` names the JSON keys (see KEYS)."""
    if level.lower() not in LEVELS:
        raise ValueError(f"log level {level!r} is not one of {', '.join(LEVELS)}")
    if keys not in KEYS:
        raise ValueError(f"log keys {keys!r} is not one of {', '.join(KEYS)}")
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    argo = keys == "argo" and use_json
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="time" if argo else "timestamp"),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    finish: list[structlog.types.Processor] = (
        [structlog.processors.EventRenamer("msg")] if argo else []
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                *finish,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    set_level(level)


def set_level(level: str) -> None:
    """Change the level at run time (the ConfigMap's logLevel)."""
    logging.getLogger().setLevel(LEVELS[level.lower()])
    # aiohttp's access-level chatter is never useful at info.
    logging.getLogger("aiohttp").setLevel(max(LEVELS[level.lower()], logging.WARNING))
