"""Run upstream unittest modules inside a prepared pywebsocket3 sdist tree; write outcomes.

Usage (cwd = the sdist's test/ directory, as upstream's run_all.py runs them):
    python run_suite.py OUT.json test_msgutil [...]
Outcomes per test id (module.Class.method): ok, fail, error, skipped.
"""

import json
import os
import sys
import time
import unittest


class _RecordingResult(unittest.TextTestResult):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.outcomes = {}
        self.details = {}

    @staticmethod
    def _name(test):
        return test.id()

    def addSuccess(self, test):
        super().addSuccess(test)
        self.outcomes[self._name(test)] = "ok"

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.outcomes[self._name(test)] = "fail"
        self.details[self._name(test)] = self.failures[-1][1]

    def addError(self, test, err):
        super().addError(test, err)
        self.outcomes[self._name(test)] = "error"
        self.details[self._name(test)] = self.errors[-1][1]

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.outcomes[self._name(test)] = "skipped"

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.outcomes[self._name(test)] = "ok"

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.outcomes[self._name(test)] = "fail"


def main(argv):
    out_path, modules = argv[0], argv[1:]
    sys.path.insert(0, os.getcwd())
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    load_errors = {}
    for module in modules:
        try:
            suite.addTests(loader.loadTestsFromName(module))
        except Exception as exc:  # an import error is a result, not a crash of the runner
            load_errors[module] = repr(exc)
    runner = unittest.TextTestRunner(resultclass=_RecordingResult, verbosity=2, stream=sys.stderr)
    started = time.monotonic()
    result = runner.run(suite)
    with open(out_path, "w") as out:
        json.dump(
            {
                "outcomes": result.outcomes,
                "details": result.details,
                "load_errors": load_errors,
                "seconds": time.monotonic() - started,
            },
            out,
            indent=1,
        )


if __name__ == "__main__":
    main(sys.argv[1:])
