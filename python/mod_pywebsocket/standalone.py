"""Run the pywebsocket3 standalone server under the old mod_pywebsocket path.

Importing ``mod_pywebsocket.standalone`` gives ``pywebsocket3.standalone`` itself
(see the package's alias finder); this file is what runs when a command line
names it by path, as old launchers do.
"""

import os
import sys

if __name__ == "__main__":
    if not __package__:
        # Run by path: make the directory holding both packages importable.
        _here = os.path.dirname(os.path.abspath(__file__))
        sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
        sys.path.insert(0, os.path.dirname(_here))
    from pywebsocket3.standalone import _main

    _main(sys.argv[1:])
