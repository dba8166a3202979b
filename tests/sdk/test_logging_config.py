"""Logs survive the application's logging configuration (issue 11 item 1).

Each test runs a subprocess: ``otlp_mmap.configure(logging_handler=True)`` first (as
``opentelemetry-instrument`` does), then the logging set-up of a real framework or of the
stdlib (Django's ``django.setup()``, uvicorn's ``Config(...).configure_logging()``,
gunicorn's ``glogging.Logger`` with a ``logconfig_dict`` or a ``--log-config`` file, plain
``dictConfig``, ``fileConfig`` and ``basicConfig``), then logs. It checks that exactly the
records that reach the root logger arrive in the file (read back with the Reader) and that
the console output the configuration asks for is still printed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from sdk_support import read_all

PRELUDE = """
import logging, logging.config, sys
import otlp_mmap
{before}
telemetry = otlp_mmap.configure(logging_handler=True)
assert telemetry.logging_handler is not None
root = logging.getLogger()
"""

EPILOGUE = """
assert telemetry.logging_handler in logging.getLogger().handlers, logging.getLogger().handlers
print("SCRIPT-DONE", flush=True)
"""


def run(
    tmp_path: Path,
    path: str,
    *parts: str,
    before: str = "",
    extra_env: Optional[Dict[str, str]] = None,
    manual: bool = False,
) -> subprocess.CompletedProcess:
    """Runs PRELUDE, the parts (each dedented) and EPILOGUE in a fresh interpreter."""
    prelude = PRELUDE.format(before=before)
    if manual:
        prelude = manual_prelude(prelude)
        assert MANUAL in prelude
    script = "".join(textwrap.dedent(part) for part in (prelude, *parts, EPILOGUE))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SDK_MMAP", "DJANGO_"))}
    env.update({"SDK_MMAP_EXPORTER_FILE": path, "PYTHONPATH": str(tmp_path), **(extra_env or {})})
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0 and "SCRIPT-DONE" in result.stdout, result.stdout + result.stderr
    return result


MANUAL = """
# The README's way: configure() for the providers, the handler added by the application.
telemetry.logging_handler = otlp_mmap.LoggingHandler()
logging.getLogger().addHandler(telemetry.logging_handler)
"""


def manual_prelude(body: str) -> str:
    return body.replace(
        "telemetry = otlp_mmap.configure(logging_handler=True)\nassert telemetry.logging_handler is not None\n",
        "telemetry = otlp_mmap.configure()\n" + MANUAL,
    )


def bodies(path: str) -> List[str]:
    return [str(e["body"]) for e in read_all(path)["events"]]


def app_lines(n: int, logger: str = "myapp", level: str = "info") -> str:
    return f"""
for i in range({n}):
    logging.getLogger({logger!r}).{level}("{logger} record %d", i)
"""


def expected(n: int, logger: str = "myapp") -> List[str]:
    return [f"{logger} record {i}" for i in range(n)]


# ---------------------------------------------------------------------------- the stdlib


def test_close_by_dictconfig_keeps_the_handler_working(tmp_path: Path, path: str) -> None:
    """A dictConfig that does not touch root still closes every handler (as Django's does)."""
    result = run(
        tmp_path,
        path,
        """
        logging.config.dictConfig({
            "version": 1, "disable_existing_loggers": False,
            "handlers": {"out": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}},
            "loggers": {"myapp": {"handlers": ["out"], "level": "INFO"}},
        })
        """,
        app_lines(7),
    )
    assert bodies(path) == expected(7)
    assert result.stdout.count("myapp record") == 7


@pytest.mark.parametrize("manual", [False, True], ids=["configure", "addHandler"])
@pytest.mark.parametrize("disable_existing", [True, False])
def test_dictconfig_that_replaces_root_handlers(
    tmp_path: Path, path: str, disable_existing: bool, manual: bool
) -> None:
    result = run(
        tmp_path,
        path,
        f"""
        early = logging.getLogger("early")  # exists before the configuration
        logging.config.dictConfig({{
            "version": 1, "disable_existing_loggers": {disable_existing},
            "formatters": {{"f": {{"format": "CONSOLE %(name)s %(message)s"}}}},
            "handlers": {{"out": {{"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "f"}}}},
            "root": {{"handlers": ["out"], "level": "INFO"}},
        }})
        assert root.handlers[0].__class__ is logging.StreamHandler and len(root.handlers) == 2
        early.info("from early")
        """,
        app_lines(5),
        manual=manual,
    )
    from_early = [] if disable_existing else ["from early"]  # a disabled logger logs nowhere, as in stdlib
    assert bodies(path) == from_early + expected(5)
    assert result.stdout.count("CONSOLE myapp myapp record") == 5
    assert result.stdout.count("CONSOLE early from early") == len(from_early)


def test_incremental_dictconfig(tmp_path: Path, path: str) -> None:
    run(
        tmp_path,
        path,
        """
        logging.config.dictConfig({"version": 1, "incremental": True, "root": {"level": "DEBUG"}})
        """,
        app_lines(3, level="debug"),
    )
    assert bodies(path) == expected(3)


def test_repeated_configurations_never_add_the_handler_twice(tmp_path: Path, path: str) -> None:
    run(
        tmp_path,
        path,
        """
        config = {
            "version": 1,
            "handlers": {"out": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}},
            "root": {"handlers": ["out"], "level": "INFO"},
        }
        for _ in range(3):
            logging.config.dictConfig(config)
            logging.basicConfig(level=logging.INFO)
        ours = [h for h in root.handlers if isinstance(h, otlp_mmap.LoggingHandler)]
        assert ours == [telemetry.logging_handler], root.handlers
        """,
        app_lines(4),
    )
    assert bodies(path) == expected(4)


def test_dictconfig_listing_our_handler_class_gives_one_handler(tmp_path: Path, path: str) -> None:
    """An application that names otlp_mmap's handler in its own LOGGING: one copy on root."""
    run(
        tmp_path,
        path,
        """
        logging.config.dictConfig({
            "version": 1,
            "handlers": {"otel": {"()": "otlp_mmap.sdk.LoggingHandler"}},
            "root": {"handlers": ["otel"], "level": "INFO"},
        })
        ours = [h for h in root.handlers if isinstance(h, otlp_mmap.LoggingHandler)]
        assert len(ours) == 1, root.handlers
        telemetry.logging_handler = ours[0]  # for the epilogue
        """,
        app_lines(3),
    )
    assert bodies(path) == expected(3)


def test_handler_removed_by_the_application_stays_removed(tmp_path: Path, path: str) -> None:
    body = """
        root.removeHandler(telemetry.logging_handler)
        logging.config.dictConfig({"version": 1, "root": {"level": "INFO"}})
        logging.basicConfig()
        assert telemetry.logging_handler not in root.handlers
        logging.getLogger("myapp").warning("not written")
        root.addHandler(telemetry.logging_handler)
        """
    run(tmp_path, path, body, app_lines(2))
    assert bodies(path) == expected(2)


def test_fileconfig(tmp_path: Path, path: str) -> None:
    (tmp_path / "logging.ini").write_text(
        textwrap.dedent(
            """
            [loggers]
            keys=root,myapp
            [handlers]
            keys=console
            [formatters]
            keys=plain
            [logger_root]
            level=INFO
            handlers=console
            [logger_myapp]
            level=DEBUG
            handlers=
            qualname=myapp
            [handler_console]
            class=StreamHandler
            args=(sys.stdout,)
            formatter=plain
            [formatter_plain]
            format=FILECONFIG %(message)s
            """
        )
    )
    result = run(tmp_path, path, 'logging.config.fileConfig("logging.ini")\n', app_lines(6, level="debug"))
    assert bodies(path) == expected(6)
    assert result.stdout.count("FILECONFIG myapp record") == 6


@pytest.mark.parametrize("manual", [False, True], ids=["configure", "addHandler"])
@pytest.mark.parametrize("force", [False, True])
def test_basicconfig_still_configures_the_console_and_level(
    tmp_path: Path, path: str, force: bool, manual: bool
) -> None:
    result = run(
        tmp_path,
        path,
        f"""
        logging.basicConfig(level=logging.INFO, format="BASIC %(levelname)s %(message)s", stream=sys.stdout,
                            force={force})
        assert root.level == logging.INFO
        """,
        app_lines(5),
        app_lines(2, level="debug", logger="quiet"),
        manual=manual,
    )
    assert bodies(path) == expected(5)
    assert result.stdout.count("BASIC INFO myapp record") == 5


# ---------------------------------------------------------------------------- frameworks


def test_django_logging(tmp_path: Path, path: str) -> None:
    """django.setup() runs configure_logging(): dictConfig(DEFAULT_LOGGING), then the
    project's LOGGING (here with a root console handler). A request for a missing page logs
    django.request's 'Not Found' warning; the application's own records follow."""
    pytest.importorskip("django")
    (tmp_path / "djsettings.py").write_text(
        textwrap.dedent(
            """
            SECRET_KEY = "test"
            DEBUG = False
            ALLOWED_HOSTS = ["testserver"]
            ROOT_URLCONF = "djurls"
            INSTALLED_APPS = []
            MIDDLEWARE = []
            DATABASES = {}
            LOGGING = {
                "version": 1,
                "disable_existing_loggers": False,
                "formatters": {"f": {"format": "DJANGO-CONSOLE %(name)s %(message)s"}},
                "handlers": {"console": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout",
                                         "formatter": "f"}},
                "root": {"handlers": ["console"], "level": "INFO"},
            }
            """
        )
    )
    (tmp_path / "djurls.py").write_text("urlpatterns = []\n")
    result = run(
        tmp_path,
        path,
        """
        import django
        django.setup()
        from django.test import Client
        for i in range(3):
            assert Client().get(f"/missing/{i}").status_code == 404
        """,
        app_lines(4),
        extra_env={"DJANGO_SETTINGS_MODULE": "djsettings"},
    )
    # django.request passes the request object as an extra field: kept as its str(), as the
    # official SDK (1.45) keeps it, so no record is lost and nothing is warned about.
    events = read_all(path)["events"]  # reading consumes them
    assert [str(e["body"]) for e in events] == [f"Not Found: /missing/{i}" for i in range(3)] + expected(4)
    not_found = [e for e in events if str(e["body"]).startswith("Not Found")]
    assert [e["attributes"]["request"] for e in not_found] == [
        f"<WSGIRequest: GET '/missing/{i}'>" for i in range(3)
    ]
    assert result.stdout.count("DJANGO-CONSOLE django.request Not Found") == 3
    assert result.stdout.count("DJANGO-CONSOLE myapp myapp record") == 4


def test_django_default_logging(tmp_path: Path, path: str) -> None:
    """Without LOGGING: only DEFAULT_LOGGING (which does not touch root, but closes handlers)."""
    pytest.importorskip("django")
    (tmp_path / "djdefault.py").write_text('SECRET_KEY = "t"\nINSTALLED_APPS = []\nDATABASES = {}\n')
    run(
        tmp_path,
        path,
        """
        import django
        django.setup()
        root.setLevel(logging.INFO)
        """,
        app_lines(5),
        app_lines(2, logger="django.db", level="warning"),
        extra_env={"DJANGO_SETTINGS_MODULE": "djdefault"},
    )
    assert bodies(path) == expected(5) + expected(2, "django.db")


def test_uvicorn_logging(tmp_path: Path, path: str) -> None:
    """uvicorn.Config(...) runs configure_logging() with its LOGGING_CONFIG (dictConfig).
    uvicorn's own loggers do not propagate to root (its config says so): they reach the
    console only, with the official SDK's root handler too; the application's records reach
    both."""
    pytest.importorskip("uvicorn")
    result = run(
        tmp_path,
        path,
        """
        import uvicorn
        from uvicorn.config import LOGGING_CONFIG
        async def app(scope, receive, send):
            pass
        config = uvicorn.Config(app, log_config=LOGGING_CONFIG, log_level="info", use_colors=False)
        logging.getLogger("uvicorn.error").info("uvicorn says hello")
        root.setLevel(logging.INFO)
        """,
        app_lines(6),
    )
    assert bodies(path) == expected(6)
    assert "uvicorn says hello" in result.stderr  # uvicorn's console handler still prints


@pytest.mark.parametrize("manual", [False, True], ids=["configure", "addHandler"])
@pytest.mark.parametrize("import_first", [False, True])
def test_gunicorn_logconfig_dict(tmp_path: Path, path: str, import_first: bool, manual: bool) -> None:
    """gunicorn's glogging.Logger with a logconfig_dict: dictConfig of its CONFIG_DEFAULTS,
    whose root section replaces root's handlers. With import_first, gunicorn.glogging (and
    its `from logging.config import dictConfig`) is imported before the SDK is configured."""
    pytest.importorskip("gunicorn")
    result = run(
        tmp_path,
        path,
        """
        from gunicorn import glogging
        from gunicorn.config import Config
        cfg = Config()
        cfg.set("logconfig_dict", {"root": {"level": "INFO", "handlers": ["console"]}})
        log = glogging.Logger(cfg)
        for i in range(3):
            log.info("gunicorn record %d", i)
        """,
        app_lines(5),
        before="from gunicorn import glogging" if import_first else "",
        manual=manual,
    )
    assert bodies(path) == expected(3, "gunicorn") + expected(5)
    assert result.stdout.count("myapp record") == 5  # root's console handler of gunicorn's config
    assert result.stderr.count("gunicorn record") == 3  # gunicorn.error's error_console


def test_gunicorn_log_config_file(tmp_path: Path, path: str) -> None:
    """gunicorn --log-config FILE: glogging calls fileConfig (imported before the SDK here)."""
    pytest.importorskip("gunicorn")
    (tmp_path / "gunicorn-logging.ini").write_text(
        textwrap.dedent(
            """
            [loggers]
            keys=root,gunicorn.error
            [handlers]
            keys=console
            [formatters]
            keys=generic
            [logger_root]
            level=INFO
            handlers=console
            [logger_gunicorn.error]
            level=INFO
            handlers=
            propagate=1
            qualname=gunicorn.error
            [handler_console]
            class=StreamHandler
            formatter=generic
            args=(sys.stdout,)
            [formatter_generic]
            format=GUNICORN-FILE %(name)s %(message)s
            """
        )
    )
    result = run(
        tmp_path,
        path,
        """
        from gunicorn import glogging
        from gunicorn.config import Config
        cfg = Config()
        cfg.set("logconfig", "gunicorn-logging.ini")
        log = glogging.Logger(cfg)
        log.info("gunicorn record 0")
        """,
        app_lines(4),
        before="from gunicorn import glogging",
    )
    assert bodies(path) == expected(1, "gunicorn") + expected(4)
    assert result.stdout.count("GUNICORN-FILE myapp myapp record") == 4


def test_uvicorn_server_requests(tmp_path: Path, path: str) -> None:
    """A real uvicorn server (its Config/Server, LOGGING_CONFIG applied at start) serving an
    ASGI app that logs one record per request: every record arrives, uvicorn's access log
    still prints."""
    pytest.importorskip("uvicorn")
    result = run(
        tmp_path,
        path,
        """
        import socket, threading, time, urllib.request
        import uvicorn

        async def app(scope, receive, send):
            if scope["type"] != "http":
                return
            logging.getLogger("asgi.app").warning("handled %s", scope["path"])
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"ok"})

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", use_colors=False))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        for i in range(5):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/r{i}", timeout=10) as response:
                assert response.read() == b"ok"
        server.should_exit = True
        thread.join(timeout=30)
        """,
    )
    assert bodies(path) == [f"handled /r{i}" for i in range(5)]
    assert result.stdout.count('"GET /r') == 5  # uvicorn's access log (stdout)
