"""Logging setup and small helpers shared by the standalone server and embedders."""

import logging
import logging.handlers
import threading
import time

from pywebsocket3 import common, util

_LOG_FORMAT = "[%(asctime)s] [%(levelname)s] %(name)s: %(message)s"
_DEFAULT_LOG_MAX_BYTES = 1024 * 256
_DEFAULT_LOG_BACKUP_COUNT = 5


def _get_logger_from_class(c):
    """The logger named ``<module>.<class>`` for class ``c``."""
    return logging.getLogger("%s.%s" % (c.__module__, c.__name__))


def _level_from_name(name, default=logging.WARNING):
    """A numeric level for a --log-level choice ('warn' and 'fine' included)."""
    if name is None:
        return default
    level = logging.getLevelName(str(name).upper())
    return level if isinstance(level, int) else default


def configure_logging(options, forward_native_logs=True):
    """Configure the root logger from ``options`` the way the standalone server does.

    Registers the FINE level (9), sets the root level from ``log_level``, adds a
    stderr or rotating-file handler with pywebsocket's format, sets the deflate
    loggers' level, and forwards Rust log records at the effective level (unless
    ``forward_native_logs`` is false: the forwarding thread would not survive a fork).
    """
    logging.addLevelName(common.LOGLEVEL_FINE, "FINE")
    level = _level_from_name(getattr(options, "log_level", "warn"))
    root = logging.getLogger()
    root.setLevel(level)
    log_file = getattr(options, "log_file", "")
    if log_file:
        handler = logging.handlers.RotatingFileHandler(
            log_file,
            "a",
            getattr(options, "log_max", _DEFAULT_LOG_MAX_BYTES),
            getattr(options, "log_count", _DEFAULT_LOG_BACKUP_COUNT),
        )
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    root.addHandler(handler)

    deflate_level = _level_from_name(getattr(options, "deflate_log_level", "warn"))
    for name in ("_Deflater", "_Inflater"):
        cls = getattr(util, name, None)
        if cls is not None:
            _get_logger_from_class(cls).setLevel(deflate_level)
    if forward_native_logs:
        _init_native_logging(root.getEffectiveLevel())


def _init_native_logging(level):
    """Forward Rust records at or above ``level``; harmless if the build lacks it."""
    try:
        from pywebsocket3 import _native
    except ImportError:
        return
    init = getattr(_native, "init_logging", None)
    if init is not None:
        init(int(level))


class ThreadMonitor(threading.Thread):
    """A daemon thread that logs the names of all live threads every interval (INFO)."""

    daemon = True

    def __init__(self, interval_in_sec):
        super().__init__(name="ThreadMonitor")
        self._logger = util.get_class_logger(self)
        self._interval_in_sec = interval_in_sec

    def run(self):
        while True:
            names = [thread.name for thread in threading.enumerate()]
            self._logger.info("%d active threads: %s", threading.active_count(), ", ".join(names))
            time.sleep(self._interval_in_sec)


# vi:sts=4 sw=4 et
