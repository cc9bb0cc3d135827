"""Mutation testing of the hidden checks: ``python -m bench.mutation [MODULE ...]`` (default: every
exercise module), from the repository root.

For each exercise module of ``solutions/`` (``transformers``, ``icl``, ``scaling``, ``memory``,
``quantization``), mutmut makes every small change it knows (an operator, a constant, a comparison,
an argument dropped) to the functions the exercise notebook defines, and runs the hidden checks of
every part against each mutant under several keys (``bench/mutation_test.py``). A mutant is
*killed* when every key rejects it (a timeout counts: grading gives it no points either). A
survivor is either a gap in the checks, to close with an edge case, or an *equivalent* mutant (the
same outputs on every valid input), listed with a one-line reason in
``bench/mutation_equivalent/<module>.json`` as ``{"function", "removed", "added", "reason"}``: the
diff's removed and added lines, stripped of indentation. The goal is 0 survivors.

It runs in a temporary copy (``solutions/``, ``autograder/`` and the test), so mutmut's cache never
holds stale verdicts, and writes ``bench/results/mutation.json``: per module its time, and per
function the mutants, how many were killed, how many are equivalent, and each survivor's diff.
The exit status is 1 when any survivor is left. Not part of ``make test``: it takes minutes.
"""

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder import course
from autograder.spec import load_spec
from bench import REPO, RESULTS

MODULES = ("transformers", "icl", "scaling", "memory", "quantization")
KEYS = 10
EQUIVALENT = REPO / "bench" / "mutation_equivalent"
RESULT = RESULTS / "mutation.json"

CONFIG = """\
[tool.mutmut]
source_paths = ["solutions"]
only_mutate = ["solutions/{module}.py"]
also_copy = ["autograder", "mutation"]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]
pytest_add_cli_args_test_selection = ["mutation/test_mutants.py"]
"""

# run inside the working folder after mutmut: every mutant's exit code and diff, as JSON
READ_RESULTS = """
import json, sys
from pathlib import Path
from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code
found = {}
for meta in Path("mutants").rglob("*.py.meta"):
    path = Path(*meta.relative_to("mutants").parts)
    path = path.with_name(path.name.removesuffix(".meta"))
    for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
        found[name] = {"status": status_by_exit_code[code], "diff": get_diff_for_mutant(name, path=path)}
json.dump(found, sys.stdout)
"""


def exercise_of(module):
    """The assignment whose exercise is backed by ``solutions.<module>``."""
    for assignment in course.assignments():
        notebook = json.loads(course.source_notebook(assignment).read_text(encoding="utf-8"))
        if notebook["metadata"]["course"]["solutions_module"] == f"solutions.{module}":
            return assignment, notebook
    raise SystemExit(f"no exercise is backed by solutions.{module}")


def exercise_functions(notebook):
    """Names of the functions a part's answer depends on: those its answer cells define, and the
    given functions (of locked cells) that they call, directly or not. A given helper that no answer
    calls (one only the visible tests use) is left out: no hidden check could see its mutants."""
    defined, calls, answers = {}, {}, set()
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        try:
            tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("!", "%"))))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                defined[node.name] = node
                calls[node.name] = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                if cell["metadata"].get("nbgrader", {}).get("solution"):
                    answers.add(node.name)
    scope, todo = set(), list(answers)
    while todo:
        name = todo.pop()
        if name in scope:
            continue
        scope.add(name)
        todo += [called for called in calls[name] if called in defined]
    return scope


def function_of(mutant_name):
    """``solutions.scaling.x_training_flops__mutmut_3`` -> ``training_flops``."""
    return mutant_name.partition("__mutmut_")[0].rpartition(".")[2].removeprefix("x_")


def changed_lines(diff):
    """The diff's removed and added lines, stripped, each joined by newlines."""
    lines = diff.splitlines()[2:]  # past the --- and +++ headers
    removed = [line[1:].strip() for line in lines if line.startswith("-")]
    added = [line[1:].strip() for line in lines if line.startswith("+")]
    return "\n".join(removed), "\n".join(added)


def run_module(module, workers):
    """Mutate ``solutions.<module>`` in a temporary copy; return its summary for the results file."""
    assignment, notebook = exercise_of(module)
    spec = load_spec(course.source_notebook(assignment), assignment)
    parts = {}
    for part in spec.parts:
        for check_name, function in part.checks:
            parts.setdefault(function, []).append(check_name)
    scope = exercise_functions(notebook)
    equivalent_path = EQUIVALENT / f"{module}.json"
    equivalent = json.loads(equivalent_path.read_text(encoding="utf-8")) if equivalent_path.exists() else []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"mutation-{module}-") as folder:
        work = Path(folder)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(REPO / "solutions", work / "solutions", ignore=ignore)
        shutil.copytree(REPO / "autograder", work / "autograder", ignore=ignore)
        (work / "mutation").mkdir()
        shutil.copy(REPO / "bench" / "mutation_test.py", work / "mutation" / "test_mutants.py")
        (work / "mutation" / "parts.json").write_text(json.dumps(
            {"module": f"solutions.{module}", "keys": KEYS, "parts": parts}), encoding="utf-8")
        (work / "pyproject.toml").write_text(CONFIG.format(module=module), encoding="utf-8")
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(work)}
        run = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(workers)],
                             cwd=work, env=env, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"mutmut failed on {module} (exit {run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
        read = subprocess.run([sys.executable, "-c", READ_RESULTS], cwd=work, env=env,
                              capture_output=True, text=True, check=True)
        mutants = json.loads(read.stdout)
    seconds = time.perf_counter() - started
    functions, used = {}, set()
    for name, found in sorted(mutants.items()):
        function = function_of(name)
        if function not in scope:
            continue
        summary = functions.setdefault(function, {"graded": function in parts, "mutants": 0, "killed": 0,
                                                  "equivalent": 0, "survivors": []})
        summary["mutants"] += 1
        if found["status"] in ("killed", "timeout", "segfault"):
            summary["killed"] += 1
            continue
        removed, added = changed_lines(found["diff"])
        match = next((i for i, entry in enumerate(equivalent) if (entry["function"], entry["removed"], entry["added"])
                      == (function, removed, added)), None)
        if match is not None:
            summary["equivalent"] += 1
            used.add(match)
        else:
            summary["survivors"].append({"name": name, "status": found["status"], "diff": found["diff"]})
    stale = [equivalent[i] for i in range(len(equivalent)) if i not in used]
    return {"assignment": assignment, "seconds": round(seconds, 1), "keys": KEYS, "functions": functions,
            "stale_equivalents": stale}


def report(module, summary):
    """Print one line per function, then each survivor with the entry that would list it as equivalent."""
    print(f"== {module} ({summary['assignment']}): {summary['seconds']} s, {summary['keys']} keys")
    for function, found in sorted(summary["functions"].items()):
        print(f"  {function:<28} {found['mutants']:>4} mutants, {found['killed']:>4} killed, "
              f"{found['equivalent']:>3} equivalent, {len(found['survivors']):>3} survivors")
    for function, found in sorted(summary["functions"].items()):
        for survivor in found["survivors"]:
            removed, added = changed_lines(survivor["diff"])
            print(f"\n-- survivor {survivor['name']} ({survivor['status']})\n{survivor['diff']}")
            print("   if it is equivalent, list it as:",
                  json.dumps({"function": function, "removed": removed, "added": added, "reason": "..."}))
    for entry in summary["stale_equivalents"]:
        print(f"  stale entry in bench/mutation_equivalent/{module}.json (no such mutant survives): {entry}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE", help=f"any of {', '.join(MODULES)} (default: all)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.modules) - set(MODULES))
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; choose from: {' '.join(MODULES)}")
    previous = json.loads(RESULT.read_text(encoding="utf-8")) if RESULT.exists() else {}
    results = previous.get("modules", {})
    left = 0
    for module in args.modules or MODULES:
        summary = run_module(module, args.workers)
        results[module] = summary
        report(module, summary)
        left += sum(len(f["survivors"]) for f in summary["functions"].values()) + len(summary["stale_equivalents"])
    survivors = sum(len(f["survivors"]) for m in results.values() for f in m["functions"].values())
    RESULTS.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps({"target": "0 survivors under every key", "survivors": survivors,
                                  "cpu_count": os.cpu_count(), "modules": results}, indent=2) + "\n")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
