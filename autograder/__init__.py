"""The course's autograder: release exercises, grade submissions in a sandbox, report.

Run ``python -m autograder --help``. Modules: ``course`` (nbgrader course directory and
release), ``spec`` (what an exercise asks), ``checks`` (hidden checks), ``worker`` and
``sandbox`` (isolated execution), ``grading`` (one submission), ``batch`` (many, in parallel),
``gradebook`` (the database), ``feedback`` and ``export`` (instructor outputs).
"""
