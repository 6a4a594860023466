"""The SDK/Python matrix: ``nox`` runs otelsvc's tests against the oldest, a middle and the newest
supported OpenTelemetry SDK minor, and on every CPython that pyproject claims.

    nox                          # every cell
    nox -s full                  # the whole suite, newest SDK, main Python
    nox -s core                  # the core tests in every other cell
    nox -s "core(py3.11-sdk1.39)" -- -x    # one cell; arguments after -- go to pytest

The newest SDK on the main Python runs the whole suite; every other cell runs the core tests (``-m core``:
every place otelsvc meets the SDK). Interpreters are found on PATH, and in a pyenv installation.
"""

from __future__ import annotations

import glob
import os

import nox

nox.options.default_venv_backend = "uv|venv"  # uv (in the test extra) installs in seconds; venv otherwise
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["full", "core"]

# Keep in step with pyproject: the oldest supported minor, one middle one, the newest.
SDK_MINORS = ("1.39", "1.42", "1.45")
NEWEST = SDK_MINORS[-1]
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
MAIN_PYTHON = "3.11"
# The core cells: the newest SDK on each other Python, the older SDKs on the main Python (``full`` is the
# newest SDK on the main Python).
CELLS = [(py, NEWEST) for py in PYTHONS if py != MAIN_PYTHON] + [(MAIN_PYTHON, sdk) for sdk in SDK_MINORS[:-1]]

# uv reads neither pip.conf nor the system trust store by default: point it at the system CA bundle
# (pip's own setting here), so that a TLS-intercepting proxy's certificate is trusted as pip trusts it.
if os.path.exists("/etc/ssl/certs/ca-certificates.crt"):
    os.environ.setdefault("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
os.environ.setdefault("UV_NATIVE_TLS", "1")

_pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
for _bin in sorted(glob.glob(os.path.join(_pyenv, "versions", "3.1[0-9].*", "bin"))):
    os.environ["PATH"] = _bin + os.pathsep + os.environ["PATH"]


def _install(session: nox.Session, sdk: str) -> None:
    """otelsvc with its test extra, the OTel packages held to one SDK minor."""
    pins = [f"{name}=={sdk}.*" for name in ("opentelemetry-api", "opentelemetry-sdk",
                                            "opentelemetry-exporter-otlp-proto-grpc",
                                            "opentelemetry-exporter-otlp-proto-http")]
    session.install("-e", ".[test]", *pins)
    session.run("python", "-c", "import importlib.metadata as m; print('SDK', m.version('opentelemetry-sdk'))")


def _pytest(session: nox.Session, *selection: str) -> None:
    # The rotel collector binary links the running Python's libpython; a pyenv build keeps it in its own LIBDIR.
    libdir = session.run("python", "-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))",
                         silent=True)
    paths = [str(libdir).strip(), os.environ.get("LD_LIBRARY_PATH", "")]
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", "2", *selection, *session.posargs,
                env={"CI": os.environ.get("CI", ""), "LD_LIBRARY_PATH": os.pathsep.join(p for p in paths if p)})


@nox.session
@nox.parametrize("python,sdk", CELLS, ids=[f"py{py}-sdk{sdk}" for py, sdk in CELLS])
def core(session: nox.Session, sdk: str) -> None:
    """The core tests on one (Python, SDK minor) cell."""
    _install(session, sdk)
    _pytest(session, "-m", "core")


@nox.session(python=MAIN_PYTHON)
def full(session: nox.Session) -> None:
    """The whole suite on the newest SDK and the main Python."""
    _install(session, NEWEST)
    _pytest(session)
