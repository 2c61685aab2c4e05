"""The classic source workflow, kept for pywebsocket's users: ``python setup.py build`` and
``python setup.py install``. Both hand over to the one real build (maturin, through pip and
pyproject.toml); there is no second build system here.
"""

import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WHEEL_DIR = os.path.join(HERE, "build", "wheel")
USAGE = "usage: python setup.py {build,install} [pip options for install]"


def build():
    """Build the wheel into build/wheel/ (release profile, for this CPython, as pip install .)."""
    for old in glob.glob(os.path.join(WHEEL_DIR, "pywebsocket3-*.whl")):
        os.remove(old)
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", WHEEL_DIR, HERE]
    subprocess.check_call(pip)
    return glob.glob(os.path.join(WHEEL_DIR, "pywebsocket3-*.whl"))[0]


def install(extra_args):
    """Install the wheel that build() made (building it first if there is none)."""
    wheels = glob.glob(os.path.join(WHEEL_DIR, "pywebsocket3-*.whl"))
    wheel = wheels[0] if wheels else build()
    pip = [sys.executable, "-m", "pip", "install", "--force-reinstall", "--no-deps", wheel]
    subprocess.check_call(pip + list(extra_args))


def main(argv):
    if len(argv) < 2 or argv[1] not in ("build", "install"):
        print(USAGE, file=sys.stderr)
        return 2
    if argv[1] == "build":
        print("built", build())
    else:
        install(argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
