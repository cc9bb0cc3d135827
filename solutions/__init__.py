"""Reference implementations for every exercise of the course, plus its shared models and data.

Each chapter has one module (``solutions.transformers`` for chapter 1, and so on). The
exercise notebooks' solution regions are checked against these functions (see
``tests/test_solution_drift.py``), so this package is the single source of truth for answers.
"""
