"""Create the course's virtual environment with pip in it, using nothing but the standard library.

``python -m venv`` needs ensurepip, which some Linux distributions ship as a separate package
(Debian and Ubuntu: ``python3-venv``). Where it is missing, this makes the environment without pip
and installs pip from the public package index (PyPI), so no system package is needed.

Usage: ``python tools/bootstrap_venv.py VENV_DIR`` (``make`` first checks that the interpreter is supported).
"""

import json
import subprocess
import sys
import tempfile
import urllib.request
import venv
from pathlib import Path

PYPI_PIP = "https://pypi.org/pypi/pip/json"


def install_pip_from_pypi(python):
    """Download pip's newest wheel from PyPI and let it install itself into ``python``'s environment."""
    with urllib.request.urlopen(PYPI_PIP, timeout=60) as response:
        files = json.load(response)["urls"]
    wheel = next(f for f in files if f["filename"].endswith(".whl"))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / wheel["filename"]
        with urllib.request.urlopen(wheel["url"], timeout=300) as response:
            path.write_bytes(response.read())
        subprocess.run([python, f"{path}/pip", "install", "--quiet", "--no-index", str(path)], check=True)


def main(target):
    try:
        import ensurepip  # noqa: F401  (only its presence matters)
        with_pip = True
    except ImportError:
        with_pip = False
    venv.EnvBuilder(with_pip=with_pip).create(target)
    if not with_pip:
        print("ensurepip is missing from this Python: installing pip from PyPI instead")
        install_pip_from_pypi(str(Path(target) / "bin" / "python"))


if __name__ == "__main__":
    main(sys.argv[1])
