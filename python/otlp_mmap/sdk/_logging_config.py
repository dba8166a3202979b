"""Keeps the LoggingHandler that configure() put on the root logger there through the
application's own logging set-up.

Frameworks configure logging after the SDK is set up: Django, uvicorn, gunicorn and celery
call ``logging.config.dictConfig``; some applications call ``fileConfig`` or
``logging.basicConfig``. Without help the handler is lost in three ways:

* ``dictConfig`` and ``fileConfig`` close every handler of the process (their
  ``_clearExistingHandlers``), including those that stay attached. ``LoggingHandler.close()``
  therefore does not switch the handler off (as a stdlib handler keeps working after
  ``close()``); only the provider's shutdown ends it.
* A configuration with a ``root`` section (gunicorn's ``logconfig_dict`` defaults, any
  ``[logger_root]`` of a file) removes root's handlers. The handler is put back on the root
  logger afterwards when it was there before the call.
* ``logging.basicConfig()`` does nothing when the root logger has a handler. While it runs,
  our handler is taken off the root logger, so the application's console handler, format
  and level are set as if the SDK were not there; then it is put back.

How (the official SDK's ``_overwrite_logging_config_fns`` is the model, and this does a
little more): ``logging.config.dictConfigClass`` (the documented way to customise
``dictConfig``) becomes a subclass whose ``configure()`` restores the handler, so it also
covers ``dictConfig`` functions imported before the SDK was configured (gunicorn's
``from logging.config import dictConfig``) and ``logging.config.listen``. For ``fileConfig``
its step that installs the loggers (``logging.config._install_loggers``, looked up at each
call, present in CPython 3.8 to 3.14) is wrapped, for the same reason (gunicorn's
``from logging.config import fileConfig``); where it is missing, ``fileConfig`` itself is.
``logging.basicConfig`` is wrapped (a reference to it taken before ``configure()``, as in
``from logging import basicConfig``, bypasses the wrapper, as with the official SDK).

Every LoggingHandler that is on the root logger when such a call starts is kept (whether
configure() or the application put it there); one the application removed itself
(``root.removeHandler``) stays removed, one that a provider shutdown detached too, and a
handler is never added twice (nor next to another LoggingHandler of the same provider, such
as one listed in the application's own dictConfig). The hooks are installed when the first
LoggingHandler is made.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import weakref
from typing import Any, Callable, List

_kept: "weakref.WeakSet[logging.Handler]" = weakref.WeakSet()
_install_lock = threading.Lock()
_installed = False


def register(handler: logging.Handler) -> None:
    """Every LoggingHandler: kept on the root logger through logging set-ups while it is
    there (however it got there: configure(), or the application's own addHandler)."""
    install()
    _kept.add(handler)


def attach_to_root(handler: logging.Handler) -> None:
    """Adds the handler to the root logger and keeps it there through logging set-ups."""
    register(handler)
    logging.getLogger().addHandler(handler)


def detach_from_root(handler: logging.Handler) -> None:
    """Removes the handler from the root logger for good."""
    _kept.discard(handler)
    logging.getLogger().removeHandler(handler)


def is_kept(handler: logging.Handler) -> bool:
    return handler in _kept


def attached_anywhere(handler: logging.Handler) -> bool:
    """Whether some logger (the root logger included) has the handler."""
    root = logging.getLogger()
    if handler in root.handlers:
        return True
    for logger in list(root.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and handler in logger.handlers:
            return True
    return False


def _ours_on_root() -> List[logging.Handler]:
    return [h for h in logging.getLogger().handlers if h in _kept]


def _same_provider_on_root(handler: logging.Handler, root: logging.Logger) -> bool:
    provider = getattr(handler, "_provider", None)
    return any(
        other is not handler and type(other) is type(handler) and getattr(other, "_provider", None) is provider
        for other in root.handlers
    )


def _restore(handlers: List[logging.Handler]) -> None:
    root = logging.getLogger()
    for handler in handlers:
        if handler in _kept and handler not in root.handlers and not _same_provider_on_root(handler, root):
            root.addHandler(handler)


def _module_lock() -> Any:
    lock = getattr(logging, "_lock", None)  # the RLock every logging.config function takes
    return lock if lock is not None else contextlib.nullcontext()


def _keeping(config_fn: Callable[..., Any]) -> Callable[..., Any]:
    """fileConfig: our handlers on root before the call are on root after it."""

    @functools.wraps(config_fn)
    def keeping_otlp_mmap_handler(*args: Any, **kwargs: Any) -> Any:
        with _module_lock():
            before = _ours_on_root()
            try:
                return config_fn(*args, **kwargs)
            finally:
                _restore(before)

    keeping_otlp_mmap_handler._otlp_mmap_wrapped = config_fn  # type: ignore[attr-defined]
    return keeping_otlp_mmap_handler


def _aside(config_fn: Callable[..., Any]) -> Callable[..., Any]:
    """basicConfig: runs as if our handlers were not on root, then puts them back."""

    @functools.wraps(config_fn)
    def basic_config_beside_otlp_mmap(*args: Any, **kwargs: Any) -> Any:
        root = logging.getLogger()
        with _module_lock():
            ours = _ours_on_root()
            for handler in ours:
                root.removeHandler(handler)
            try:
                return config_fn(*args, **kwargs)
            finally:
                _restore(ours)

    basic_config_beside_otlp_mmap._otlp_mmap_wrapped = config_fn  # type: ignore[attr-defined]
    return basic_config_beside_otlp_mmap


def install() -> None:
    """Installs the hooks (once per process)."""
    global _installed  # pylint: disable=global-statement
    with _install_lock:
        if _installed:
            return
        _installed = True
        import logging.config  # noqa: PLC0415  (only once a LoggingHandler exists)

        base = logging.config.dictConfigClass

        class KeepingDictConfigurator(base):  # type: ignore[valid-type,misc]
            """dictConfig's configurator: our handlers on root before are on root after."""

            def configure(self) -> None:
                with _module_lock():
                    before = _ours_on_root()
                    try:
                        super().configure()
                    finally:
                        _restore(before)

        KeepingDictConfigurator.__qualname__ = f"otlp_mmap.{base.__name__}"
        logging.config.dictConfigClass = KeepingDictConfigurator  # type: ignore[misc]
        if callable(getattr(logging.config, "_install_loggers", None)):
            # fileConfig's step that replaces root's handlers, looked up at each call: this also
            # covers fileConfig functions imported before (gunicorn's glogging).
            logging.config._install_loggers = _keeping(logging.config._install_loggers)  # type: ignore[attr-defined]
        else:  # pragma: no cover  (a Python without it)
            logging.config.fileConfig = _keeping(logging.config.fileConfig)
        logging.basicConfig = _aside(logging.basicConfig)  # type: ignore[assignment]


__all__ = ["attach_to_root", "attached_anywhere", "detach_from_root", "install", "is_kept", "register"]
