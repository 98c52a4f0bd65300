"""Every example in the package's docstrings runs, and prints what it says, on the backend under test.

The same check as ``pytest --doctest-modules keras_optkit``, collected by the normal ``python -m pytest`` (whose
``testpaths`` is ``tests``), one test per docstring, so a broken example is named in the report like any other
failing test.
"""

import doctest
import importlib
import io
import pkgutil

import keras
import pytest

import keras_optkit
from keras_optkit._registry import KINDS, list_entries

OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


# A module that fails to import is reported by a test below, not as a collection error that would stop the
# whole suite.
IMPORT_ERRORS = {}


def _modules():
    names = [keras_optkit.__name__]
    names += [info.name for info in pkgutil.walk_packages(keras_optkit.__path__, prefix="keras_optkit.",
                                                          onerror=lambda name: None)]
    modules = []
    for name in sorted(names):
        try:
            modules.append(importlib.import_module(name))
        except Exception as error:  # noqa: BLE001 - any import failure is the test's finding
            IMPORT_ERRORS[name] = f"{type(error).__name__}: {error}"
    return modules


def _examples():
    finder = doctest.DocTestFinder(exclude_empty=True)
    found = {}
    for module in _modules():
        for test in finder.find(module):
            # The finder only looks at objects defined in the module, so a re-exported object is found once.
            if test.examples:
                found.setdefault(test.name, test)
    return [found[name] for name in sorted(found)]


EXAMPLES = _examples()


@pytest.mark.parametrize("example", EXAMPLES, ids=[test.name for test in EXAMPLES])
def test_docstring_example_runs(example):
    keras.utils.set_random_seed(0)
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    # A copy of the module's globals, as doctest gives each docstring: one example cannot leak into the next.
    example.globs = dict(example.globs)
    try:
        result = runner.run(example, out=report.write, clear_globs=True)
    finally:
        keras.backend.clear_session()
    if result.failed:
        pytest.fail(f"{result.failed} of {result.attempted} lines of the example failed:\n{report.getvalue()}",
                    pytrace=False)
    assert result.attempted == len(example.examples)


def test_every_module_imports():
    assert not IMPORT_ERRORS, f"modules whose examples could not be collected: {IMPORT_ERRORS}"


def test_every_registered_object_has_an_example_that_runs():
    """A registered optimizer, schedule, regularizer or callback without an example would silently escape the
    test above."""
    with_examples = {test.name for test in EXAMPLES}
    missing = [f"{entry.cls.__module__}.{entry.name}" for kind in KINDS for entry in list_entries(kind)
               if f"{entry.cls.__module__}.{entry.cls.__qualname__}" not in with_examples]
    assert not missing, f"registered objects whose docstring has no example: {missing}"


def test_no_example_is_skipped():
    """``# doctest: +SKIP`` would turn an example into text that is never run."""
    skipped = [f"{test.name} (line {line.lineno + 1})" for test in EXAMPLES for line in test.examples
               if line.options.get(doctest.SKIP)]
    assert not skipped, f"examples marked +SKIP: {skipped}"
