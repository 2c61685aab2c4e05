"""Options changed on the options object reach the server before the assignment returns.

pywebsocket read its options object on every request, so ``options.use_basic_auth = True``
applied to the next connection. The native server keeps its own copy of the options it
needs; to keep that copy exact without a Python call per request, ``watch`` gives the
options object a subclass of its own class (same name, module and behaviour) whose
``__setattr__`` and ``__delattr__`` tell the watching servers once the change is made.

An object whose class cannot be swapped (a C type such as ``types.SimpleNamespace``, a
class whose metaclass refuses) is left alone: the server then sees changes at its
``serve_forever`` poll, as before.
"""

import copyreg
import logging
import threading
import weakref

# Class attribute of the swapped-in subclass: weak references to the watchers' callbacks.
_WATCHERS = "_pywebsocket3_option_watchers"
_lock = threading.Lock()
_logger = logging.getLogger(__name__)


def _notify(options):
    for ref in list(getattr(type(options), _WATCHERS, ())):
        callback = ref()
        if callback is None:
            continue
        try:
            callback()
        except Exception:
            # A bad value set on the options object must not fail the assignment.
            _logger.exception("Ignoring changed options")


def _live_subclass(base):
    """A subclass of ``base`` that tells its watchers after every attribute change."""

    def __setattr__(self, name, value):
        base.__setattr__(self, name, value)
        _notify(self)

    def __delattr__(self, name):
        base.__delattr__(self, name)
        _notify(self)

    def __reduce_ex__(self, protocol):
        # Copies and pickles are of the embedder's class (pickle finds it by name; they are
        # not watched).
        reduced = base.__reduce_ex__(self, protocol)
        if not isinstance(reduced, tuple) or len(reduced) < 2:
            return reduced
        func, args = reduced[0], reduced[1]
        if func is copyreg.__newobj__ and args == (live,) and base.__new__ is object.__new__:
            # pickle insists that __newobj__'s class is the object's own.
            return (copyreg._reconstructor, (base, object, None), *reduced[2:])
        if func is copyreg._reconstructor:
            return (func, tuple(base if arg is live else arg for arg in args), *reduced[2:])
        return reduced

    namespace = {
        "__slots__": (),
        "__module__": base.__module__,
        "__qualname__": base.__qualname__,
        "__doc__": base.__doc__,
        "__setattr__": __setattr__,
        "__delattr__": __delattr__,
        "__reduce_ex__": __reduce_ex__,
        _WATCHERS: [],
    }
    live = type(base)(base.__name__, (base,), namespace)
    return live


def _is_live(cls):
    return _WATCHERS in cls.__dict__


def watch(options, callback):
    """Call ``callback()`` after every later attribute assignment or deletion on ``options``.

    ``callback`` is held weakly (a bound method of the server, which may be dropped).
    Returns False when the object's class cannot be swapped."""
    with _lock:
        cls = type(options)
        if not _is_live(cls):
            try:
                live = _live_subclass(cls)
                options.__class__ = live
            except Exception as e:
                _logger.debug("Options of type %r are polled: %s", cls, e)
                return False
            cls = live
        cls.__dict__[_WATCHERS].append(weakref.WeakMethod(callback))
        return True


def unwatch(options, callback):
    """Stop calling ``callback``; the last one gone gives ``options`` its own class back."""
    with _lock:
        cls = type(options)
        if not _is_live(cls):
            return
        watchers = cls.__dict__[_WATCHERS]
        watchers[:] = [ref for ref in watchers if ref() not in (None, callback)]
        if not watchers:
            try:
                options.__class__ = cls.__bases__[0]
            except Exception:
                return


# vi:sts=4 sw=4 et
