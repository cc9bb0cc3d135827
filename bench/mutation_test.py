"""The test mutmut runs against each mutant of an exercise module (copied to ``mutation/`` of the
benchmark's working folder; see ``bench/mutation.py``).

``parts.json`` beside it maps each graded function of the module to its hidden checks. For every
part, ``test_some_key_accepts`` passes when the module's function matches the part's hidden checks
under at least one of the keys: so it fails, and mutmut counts the mutant killed, only when every
key rejects the mutant, which is what "the same verdict under every key" asks of the checks.
"""

import json
from pathlib import Path

import pytest

import solutions
from autograder import checks, grading

SETUP = json.loads((Path(__file__).parent / "parts.json").read_text(encoding="utf-8"))
KEYS = [f"mutation key {i}".encode() for i in range(SETUP["keys"])]
NOTEBOOK = b"a mutated notebook"  # the seed also hashes the file; any fixed bytes stand for it


def test_packages_load_from_the_mutants_folder():
    assert Path(solutions.__file__).resolve().parent.parent == Path.cwd().resolve()
    assert Path(checks.__file__).resolve().parents[2] == Path.cwd().resolve()


def accepts(function, check_names, key):
    """Whether ``function`` matches every case of the part's checks under ``key``."""
    for name in check_names:
        check_ = checks.get(name)
        for case in checks.draw_cases(check_, grading.seed_for(key, NOTEBOOK)):
            if checks.judge(check_, case, function) is not None:  # a crash fails the part, as in grading
                return False
    return True


@pytest.mark.parametrize("function", sorted(SETUP["parts"]))
def test_some_key_accepts(function):
    module = __import__(SETUP["module"], fromlist=[function])
    assert any(accepts(getattr(module, function), SETUP["parts"][function], key) for key in KEYS)
