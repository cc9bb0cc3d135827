"""Checks of a student's code: no reference solutions, no forbidden shortcuts.

The static checks run in the grader, on the submitted source, before anything executes. They
are a second line: the sandbox cannot import the reference package at all, so an answer that
relies on it fails its checks anyway; these checks name the reason and flag it.

:func:`recording_problem` judges what the sandbox recorded while a hidden check called the
answer (``sandbox/runner.py``, ``Recording``): a forbidden operator that ran however it was
named, or a recording that did not come back as the grader expects it (tampering).
"""

import ast
import functools

PROTECTED_PACKAGES = ("solutions", "autograder")


@functools.lru_cache(maxsize=4096)
def _tree(source):
    """``source`` parsed (once: the scans only read the tree), or ``None`` when it does not parse."""
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


# calls whose string arguments name an attribute or a module to look up: how code reaches a name
# it does not write (``getattr(torch, "softmax")``, ``import_module("torch.ao")``)
LOOKUPS = ("getattr", "hasattr", "setattr", "delattr", "__getattribute__", "__getattr__", "import_module",
           "__import__", "attrgetter", "methodcaller", "resolve_name")
# calls whose result is a namespace a string key looks a name up in (``vars(torch)["softmax"]``)
NAMESPACES = ("vars", "globals", "locals")


def _called(node):
    """The name of the function or method a call ``node`` calls, if it names one."""
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _looked_up(node):
    """The strings that ``node`` looks a name up by: the literal arguments of a :data:`LOOKUPS`
    call, or the literal key of a subscript of a namespace (``vars(m)``, ``m.__dict__``)."""
    if isinstance(node, ast.Call) and _called(node) in LOOKUPS:
        values = [*node.args, *(k.value for k in node.keywords)]
    elif isinstance(node, ast.Subscript) and (
            (isinstance(node.value, ast.Call) and _called(node.value) in NAMESPACES)
            or (isinstance(node.value, ast.Attribute) and node.value.attr == "__dict__")):
        values = [node.slice]
    else:
        return []
    return [v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)]


def forbidden_uses(source, forbid):
    """Forbidden names that ``source``'s code uses: as an attribute (``torch.softmax``), an imported
    name (``from torch import softmax``), or a literal string it looks a name up by
    (``getattr(torch, "softmax")``, ``vars(torch)["softmax"]``, ``import_module("torch.ao")``).

    A name in a comment, a docstring or any other string counts for nothing
    (``check_part("softmax")``, ``fmt == "float16"``). A name assembled at run time is out of
    any scan's reach; the sandbox's recording of the operators an answer runs catches it.
    ``view`` forbids reading bits, not reshaping: a ``.view(...)`` call counts only where it names
    a dtype (:func:`_views_as_dtype`).
    """
    tree = _tree(source)
    if tree is None or not forbid:
        return []
    reshapes = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute) and node.func.attr == "view" and not _views_as_dtype(node)}
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in forbid:
            if id(node) not in reshapes:
                found.add(ast.unparse(node))
        elif isinstance(node, ast.ImportFrom):
            found.update(f"{node.module}.{a.name}" for a in node.names if a.name in forbid)
        elif any(part in forbid for name in _looked_up(node) for part in name.split(".")):
            found.add(ast.unparse(node))
    return sorted(found)


# the modules whose attributes are dtypes (``torch.int32``, ``np.uint32``)
DTYPE_MODULES = ("torch", "np", "numpy")


def _views_as_dtype(call):
    """Whether a ``.view(...)`` call names a dtype, and so reads bits: a dtype of torch or numpy
    (``torch.int32``, ``np.uint32``), a string (``"i4"``), a builtin type (``int``) or ``dtype=``.
    A shape (``-1``, ``n, -1``, ``*x.shape``) reshapes. A dtype held in a variable is out of the scan's
    reach; for a tensor the sandbox's dtype watch sees the view (``dtype view``)."""
    if any(keyword.arg == "dtype" for keyword in call.keywords):
        return True
    for arg in call.args:
        if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) and arg.value.id in DTYPE_MODULES:
            return True
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return True
        if isinstance(arg, ast.Name) and arg.id in ("int", "float", "bool", "complex"):
            return True
    return False


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


def watch_plan(forbid_ops):
    """What the sandbox watches while a hidden check calls an answer whose part forbids ``forbid_ops``
    (``sandbox/runner.py``, ``Recording``): ATen ``operators`` by their kernels, torch's Python
    ``functions`` by wrappers, ``torch.Tensor`` ``methods`` by a function mode, ``optimizers`` by
    their ``step`` and ``dtypes`` by the kernels that make or convert tensors; each watch only where
    the part names one."""
    kinds = {"operators": [], "functions": [], "methods": False, "optimizers": False, "dtypes": False}
    for op in forbid_ops:
        if "::" in op:
            kinds["operators"].append(op)
        elif op.startswith("dtype "):
            kinds["dtypes"] = True
        elif op.startswith("torch.optim."):
            kinds["optimizers"] = True
        elif op.startswith("torch.Tensor."):
            kinds["methods"] = True
        else:
            kinds["functions"].append(op)
    return kinds


def recording_problem(recording, n_cases, answered, forbid_ops, function):
    """Why the recording of one hidden check's calls of ``function`` fails its part, or ``None``.

    ``recording`` is the sandbox's report: ``operators`` (names), ``escapes`` (audit events),
    ``calls`` and ``probes`` (two per call for each watch of :func:`watch_plan`'s plan: ``kernel``
    always, ``function`` for the mode that watches methods, and where it joins the dtype watch,
    ``dtype`` for the dtype watch). The grader sent ``n_cases`` cases, and the
    function was called on each of them, or on none when no case came back answered (the notebook
    defines no such function). Anything else than the report an untouched runner sends means the
    answer tampered with the recording.
    """
    tampered = f"the recording of the operators {function} runs was removed or disabled while it ran"
    if not isinstance(recording, dict):
        return tampered
    calls = recording.get("calls")
    if not (calls == n_cases or (calls == 0 and not answered)):
        return tampered
    plan = watch_plan(forbid_ops)
    watches = ["kernel"] + ["function"] * plan["methods"] + ["dtype"] * plan["dtypes"]
    probes, operators, escapes = recording.get("probes"), recording.get("operators"), recording.get("escapes")
    if plan["dtypes"] and "function" in (probes or {}) and "function" not in watches:
        watches.append("function")  # the mode joined the dtype watch: the notebook made such a tensor before
    if probes != {watch: 2 * calls for watch in watches}:
        return tampered
    if not isinstance(operators, list) or not isinstance(escapes, list):
        return tampered
    if escapes:
        return f"{function} ran code the recording cannot see ({', '.join(map(str, escapes))[:200]})"
    used = [op for op in forbid_ops if op in operators]
    if used:
        return f"{function} ran {', '.join(used)}, which this part asks you to write yourself"
    return None


@functools.lru_cache(maxsize=4096)
def names_used(source):
    """The bare names ``source`` reads or calls (``ast.Name``); none if it does not parse. (Cached: the
    grader asks of the same cells for every submission.)"""
    tree = _tree(source)
    return frozenset() if tree is None else frozenset(node.id for node in ast.walk(tree) if isinstance(node, ast.Name))


@functools.lru_cache(maxsize=4096)
def names_module(source, module):
    """Whether ``source`` reaches the module ``module`` (``"optim"``) by name: an attribute, a bare
    name or an import of it (``torch.optim``, ``from torch import optim``). Strings and comments do
    not count; a source that does not parse does."""
    tree = _tree(source)
    if tree is None:
        return True
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr == module) or (isinstance(node, ast.Name) and node.id == module):
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [alias.name for alias in node.names] + [getattr(node, "module", None) or ""]
            if any(module in name.split(".") for name in modules):
                return True
    return False


@functools.lru_cache(maxsize=4096)
def functions_defined(source):
    """The names of the functions ``source`` defines at its top level; none if it does not parse."""
    tree = _tree(source)
    return frozenset() if tree is None else frozenset(node.name for node in tree.body
                                                      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)))
