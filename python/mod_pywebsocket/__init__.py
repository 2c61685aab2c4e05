"""mod_pywebsocket: the old name of pywebsocket3, kept for handlers and programs that use it.

Every submodule is the very module object of pywebsocket3 (``mod_pywebsocket.msgutil
is pywebsocket3.msgutil``), so state, classes and exceptions are shared whichever name
a handler imports. Old module names map to their new homes (``handshake._base`` to
``handshake.base``, ``_stream_base`` to ``_stream_exceptions``, ``_stream_hybi`` to
``stream``). ``python -m mod_pywebsocket.standalone`` runs the pywebsocket3 server.
"""

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys

import pywebsocket3
from pywebsocket3 import __version__  # noqa: F401

_ALIAS = __name__
_TARGET = "pywebsocket3"
# Old module names whose code moved elsewhere in pywebsocket3.
_RENAMED = {
    "handshake._base": "handshake.base",
    "_stream_base": "_stream_exceptions",
    "_stream_hybi": "stream",
}


def _find_target(fullname):
    """The name and spec of the pywebsocket3 module behind ``mod_pywebsocket.<rest>``."""
    rest = fullname[len(_ALIAS) + 1 :]
    for candidate in (rest, _RENAMED.get(rest)):
        if candidate is None:
            continue
        try:
            spec = importlib.util.find_spec(_TARGET + "." + candidate)
        except (ImportError, ValueError):
            spec = None
        if spec is not None:
            return _TARGET + "." + candidate, spec
    return None, None


class _AliasLoader(importlib.abc.Loader):
    """Hands out the pywebsocket3 module itself instead of loading a copy."""

    def __init__(self, target):
        self._target = target

    def create_module(self, spec):
        module = importlib.import_module(self._target)
        self._real_spec = module.__spec__
        return module

    def exec_module(self, module):
        # Already executed under its pywebsocket3 name; the import machinery has just
        # replaced its __spec__ with the alias spec, so put the real one back.
        module.__spec__ = self._real_spec

    def get_code(self, fullname):
        # For 'python -m mod_pywebsocket.X': run pywebsocket3.X as __main__.
        source = "import runpy\nrunpy.run_module(%r, run_name='__main__', alter_sys=True)\n" % (
            self._target,
        )
        return compile(source, "<mod_pywebsocket alias of %s>" % self._target, "exec")

    def is_package(self, fullname):
        return False


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Finds ``mod_pywebsocket.X`` as an alias of ``pywebsocket3.X``."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith(_ALIAS + "."):
            return None
        target_name, target_spec = _find_target(fullname)
        if target_spec is None:
            return None
        is_package = target_spec.submodule_search_locations is not None
        spec = importlib.machinery.ModuleSpec(
            fullname, _AliasLoader(target_name), is_package=is_package
        )
        if is_package:
            # Submodules of an aliased package are found by this finder, not by path.
            spec.submodule_search_locations = []
        return spec


if not any(isinstance(finder, _AliasFinder) for finder in sys.meta_path):
    sys.meta_path.insert(0, _AliasFinder())

__all__ = ["__version__"]
del pywebsocket3
