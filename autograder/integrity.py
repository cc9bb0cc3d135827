"""Static checks of a student's code: no reference solutions, no forbidden shortcuts.

These run in the grader, on the submitted source, before anything executes. They are a
second line: the sandbox cannot import the reference package at all, so an answer that
relies on it fails its checks anyway; these checks name the reason and flag it.
"""

import ast

PROTECTED_PACKAGES = ("solutions", "autograder")


def _tree(source):
    try:
        return ast.parse(source)
    except SyntaxError:
        return None  # a syntax error is reported when the cell runs


def uses_protected_package(source):
    """The protected package ``source`` imports or names by string (for ``__import__``), if any."""
    tree = _tree(source)
    if tree is None:
        return None
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value]
        for name in names:
            root = name.split(".")[0]
            if root in PROTECTED_PACKAGES:
                return root
    return None


def forbidden_uses(source, forbid):
    """Forbidden names that ``source`` uses as an attribute, an imported name or a string."""
    tree = _tree(source)
    if tree is None or not forbid:
        return []
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in forbid:
            found.add(ast.unparse(node))
        elif isinstance(node, ast.ImportFrom):
            found.update(f"{node.module}.{a.name}" for a in node.names if a.name in forbid)
        elif isinstance(node, ast.Constant) and node.value in forbid:
            found.add(repr(node.value))
    return sorted(found)


def defines(source, name):
    """Whether ``source`` defines ``name`` at top level (a function, class or assignment)."""
    tree = _tree(source)
    if tree is None:
        return False
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
    return False
