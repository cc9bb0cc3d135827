"""Correct answers that are slow the way plain-Python answers are: many small torch operations.

:func:`loop_heavy` puts a Python loop of ``iterations`` tiny torch operations at the start of each
top-level function of an answer cell. The answer stays correct; only its speed changes. Used by
``tests/test_timeouts.py`` (a busy machine must cost such answers nothing) and
``bench/recording.py`` (what the grader's recording of operators costs them).
"""

import ast


def loop_heavy(source, iterations=200):
    """``source`` with a loop of ``iterations`` small torch operations at the start of each
    top-level function (after its docstring)."""
    tree = ast.parse(source)
    busy = ast.parse(f"__t = torch.zeros(1)\nfor __i in range({iterations}):\n    __t = __t + 1\n").body
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            docstring = ast.get_docstring(node) is not None
            node.body[docstring:docstring] = busy
    return "import torch\n" + ast.unparse(ast.fix_missing_locations(tree)) + "\n"
