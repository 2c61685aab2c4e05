"""A file wrapper that remembers the lines read through readline() (the request head)."""

import sys


class MemorizingFile:
    """Wraps a file; lines returned by readline() are kept, up to ``max_memorized_lines``.

    Everything other than readline() and get_memorized_lines() goes to the wrapped file.
    """

    _OWN_ATTRIBUTES = frozenset(
        (
            "_file",
            "_memorized_lines",
            "_max_memorized_lines",
            "_buffered",
            "_buffered_line",
            "readline",
            "get_memorized_lines",
        )
    )

    def __init__(self, file_, max_memorized_lines=sys.maxsize):
        self._file = file_
        self._memorized_lines = []
        self._max_memorized_lines = max_memorized_lines
        self._buffered = False
        self._buffered_line = None

    def __getattribute__(self, name):
        if name in MemorizingFile._OWN_ATTRIBUTES or name.startswith("__"):
            return object.__getattribute__(self, name)
        return getattr(object.__getattribute__(self, "_file"), name)

    def readline(self, size=-1):
        """Like file.readline, but the whole line is memorized even when ``size`` cuts it;
        the rest of a cut line is returned by the next call."""
        if self._buffered:
            line = self._buffered_line
            self._buffered = False
        else:
            line = self._file.readline()
            if line and len(self._memorized_lines) < self._max_memorized_lines:
                self._memorized_lines.append(line)
        if 0 <= size < len(line):
            self._buffered = True
            self._buffered_line = line[size:]
            return line[:size]
        return line

    def get_memorized_lines(self):
        return self._memorized_lines
