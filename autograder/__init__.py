"""The course's autograder: release exercises, grade submissions in a sandbox, report.

Run ``python -m autograder --help``. Modules: ``course`` (nbgrader course directory and
release), ``spec`` (what an exercise asks), ``checks`` (hidden checks), ``worker`` and
``sandbox`` (isolated execution), ``grading`` (one submission), ``batch`` (many, in parallel),
``gradebook`` (the database), ``feedback`` and ``export`` (instructor outputs), ``check``
(students check their own work: ``python -m autograder check``, and :func:`check_part` in a notebook),
``check_cell`` (what the release's "Check your work" cell runs: finds its notebook, warns if unsaved).
"""


def __getattr__(name):
    # check_part is imported on first use, so that `import autograder` (every CLI command) stays
    # free of torch until a command needs it
    if name == "check_part":
        from autograder.check import check_part

        return check_part
    raise AttributeError(f"module 'autograder' has no attribute {name!r}")
