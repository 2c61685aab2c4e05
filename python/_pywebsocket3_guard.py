"""Refuses a mixed install of pywebsocket3 instead of running half of each implementation.

pywebsocket-rs is installed as the distribution ``pywebsocket3``. pip can still write the
original pywebsocket3's files over ours (``pip install --ignore-installed pywebsocket3==4.0.2``),
and an environment upgraded from the earlier ``pywebsocket-rs`` distribution may still hold
that distribution's record of the same files, so that uninstalling it deletes ours. The
original's files replace ours one for one, so this check lives in a module the original
does not have: ``pywebsocket3-guard.pth`` imports it when the interpreter starts.

It reads the first KiB of ``pywebsocket3/__init__.py`` for our marker line and lists this
directory once for a second ``pywebsocket3`` or a leftover ``pywebsocket-rs`` record; no
``importlib.metadata``. Only when the install is mixed does it put a finder in front of
``sys.meta_path`` that refuses ``pywebsocket3`` and ``mod_pywebsocket`` with one message
naming the conflict and the repair. It never raises at start-up.
"""

import os
import sys

_MARKER = b"# pywebsocket-rs: native implementation"
_PACKAGES = ("pywebsocket3", "mod_pywebsocket")


def _conflicts(site_dir):
    """What is wrong with pywebsocket3 in ``site_dir``, as short phrases (none: all is well)."""
    try:
        with open(os.path.join(site_dir, "pywebsocket3", "__init__.py"), "rb") as init:
            head = init.read(1024)
    except OSError:
        return []  # not installed here (an editable or --target install): nothing to check
    conflicts = []
    if _MARKER not in head:
        conflicts.append("pywebsocket3/__init__.py is the original pywebsocket3's")
    records = []
    leftovers = []
    for name in os.listdir(site_dir):
        lowered = name.lower()
        if not lowered.endswith((".dist-info", ".egg-info")):
            continue
        if lowered.startswith("pywebsocket3-"):
            records.append(name)
        elif lowered.startswith(("pywebsocket_rs-", "pywebsocket-rs-")):
            leftovers.append(name)
    if len(records) > 1:
        conflicts.append("two distributions claim it (%s)" % ", ".join(sorted(records)))
    if leftovers:
        conflicts.append(
            "the old pywebsocket-rs distribution is still recorded (%s)" % leftovers[0]
        )
    return conflicts


def _message(site_dir, conflicts):
    python = sys.executable or "python"
    return (
        "pywebsocket3 in %s is a mix of pywebsocket-rs and another install: %s. "
        "Repair: %s -m pip uninstall -y pywebsocket-rs pywebsocket3, "
        "then install pywebsocket-rs's pywebsocket3 again "
        "(pip install --force-reinstall <its wheel or source directory>)."
        % (site_dir, "; ".join(conflicts), python)
    )


def _refuse(message):
    """From now on, importing pywebsocket3 or mod_pywebsocket raises MixedInstallError."""

    class MixedInstallError(ImportError):
        """pywebsocket3's files in this environment come from more than one distribution."""

    class MixedInstallFinder:
        """A meta-path finder that refuses every module of the mixed packages."""

        def find_spec(self, fullname, path=None, target=None):
            if fullname.partition(".")[0] in _PACKAGES:
                raise MixedInstallError(message, name=fullname)
            return None

    def excepthook(exc_type, exc, traceback, previous=sys.excepthook):
        # Uncaught, the error prints its message alone: the traceback adds nothing to it.
        if isinstance(exc, MixedInstallError):
            sys.stderr.write("%s\n" % exc)
            return
        previous(exc_type, exc, traceback)

    sys.meta_path.insert(0, MixedInstallFinder())
    sys.excepthook = excepthook


def install():
    """Check the site directory this module is in; refuse pywebsocket3 if it is mixed."""
    site_dir = os.path.dirname(os.path.abspath(__file__))
    conflicts = _conflicts(site_dir)
    if conflicts:
        _refuse(_message(site_dir, conflicts))


try:
    install()
except Exception:  # a broken check must never stop Python from starting
    pass
