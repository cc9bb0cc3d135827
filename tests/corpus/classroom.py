"""A class of submissions for load tests: every exercise present, each submission with the exact
result it must get.

For each assignment, students cycle through these kinds of submission:

- ``right``: every answer of the source exercise;
- ``blank``: the released notebook as it is;
- ``partial``: the answers of the first k parts only;
- ``wrong``: every answer, but one function is subtly wrong: its outputs are nudged (a float
  scaled by 1.05, an integer plus one, a flipped boolean), as a slip in the last line would do.
  Only functions that no other answer or visible test uses are nudged, so exactly the part that
  checks one loses its points.

The expected score of a part follows from the exercise's own structure, not from grading: a part
earns its points when every function it checks holds the right answer (a part is judged on its own
code: an answer of another part that it calls and that fails is replaced by the reference's). Chapter 1 also gets hostile submissions from the
hostile corpus (``hostile.py``), with their stated outcomes. Each kind keeps the status "graded"
and no flag, except the hostile ones, whose ``Expect`` says.
"""

import ast
import copy
import json
from dataclasses import dataclass
from pathlib import Path

from autograder import course
from autograder.spec import load_spec

import hostile
import mistakes

KINDS = ("right", "blank", "partial", "wrong")
# hostile entries that end quickly (no timeout or memory bomb) and need no host resources
HOSTILE = ("sys_exit", "os_exit", "segfault", "import_reference", "dynamic_import", "hard_coded",
           "patched_comparisons", "deleted_tests", "malformed_json", "empty_file", "forged_outputs")
NUDGE = '''

def _nudged(value):
    import torch
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.bool:
            return ~value
        return value * 1.05 + 0.01 if value.is_floating_point() else value + 1
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1 if isinstance(value, int) else value * 1.05 + 0.01
    if isinstance(value, (tuple, list)) and value:
        return type(value)([_nudged(value[0]), *value[1:]])
    if isinstance(value, dict) and value:
        first = next(iter(value))
        return dict(value, **{first: _nudged(value[first])})
    return value + " " if isinstance(value, str) else value


_right_{name} = {name}


def {name}(*args, **kwargs):
    return _nudged(_right_{name}(*args, **kwargs))
'''


@dataclass(frozen=True)
class Submission:
    student: str
    assignment: str
    data: bytes
    status: str
    score: float
    part_scores: tuple  # (grade_id, score) of every autograded part, for "graded" kinds; () otherwise


def _gid(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


class Exercise:
    """One assignment's release, answers, parts and the answer functions each part relies on."""

    def __init__(self, assignment, release_nb, source_path):
        self.assignment = assignment
        self.release_nb = release_nb
        self.source_nb = json.loads(source_path.read_text(encoding="utf-8"))
        spec = load_spec(source_path, assignment)
        self.answers = {gid: source for gid, source in
                        ((_gid(c), "".join(c["source"])) for c in self.source_nb["cells"]) if gid in spec.solution_ids}
        self.parts = [p for p in spec.parts if not p.manual]
        defined = {gid: _top_level_functions(src) for gid, src in self.answers.items()}
        self.cell_of = {name: gid for gid, names in defined.items() for name in names}
        self.functions = {gid: names for gid, names in defined.items()}

    def needs(self, part):
        """The answer cells a part is judged on: those defining the functions it checks. A part that
        uses another part's answer is judged with the reference's in its place when that answer fails
        its own part (one mistake costs one part), so the cells it calls do not count."""
        return {self.cell_of[f] for _, f in part.checks if f in self.cell_of}

    def nudgeable(self):
        """``(cell, function)`` pairs whose function no other answer and no other part's visible test
        uses: nudging one can only fail the part that checks it. (A caller might not notice a nudge:
        an extra space in a prompt leaves its word count alone.)"""
        pairs = []
        for gid, names in self.functions.items():
            for name in names:
                others = [src for other, src in self.answers.items() if other != gid]
                others += [p.visible_source for p in self.parts if name not in {f for _, f in p.checks}]
                if not any(name in _names_used(src) for src in others):
                    pairs.append((gid, name))
        return pairs

    def notebook(self, answered, nudged=None):
        """The release with the answers of cells ``answered``; function ``nudged`` made subtly wrong."""
        nb = copy.deepcopy(self.release_nb)
        for cell in nb["cells"]:
            gid = _gid(cell)
            if gid in answered:
                source = self.answers[gid]
                if nudged in self.functions[gid]:
                    source += NUDGE.replace("{name}", nudged)
                cell["source"] = source
        return nb

    def expected(self, answered, broken=()):
        """``(score, part_scores)`` when cells ``answered`` hold right answers but cells ``broken``."""
        part_scores = []
        for part in self.parts:
            needed = self.needs(part)
            ok = needed <= set(answered) and not needed & set(broken)
            part_scores.append((part.grade_id, part.points if ok else 0.0))
        return sum(s for _, s in part_scores), tuple(part_scores)


def _top_level_functions(source):
    return [n.name for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)]


def _names_used(source):
    return {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}


def build_class(exercises, per_assignment, hostile_context=None):
    """``per_assignment`` submissions of each :class:`Exercise`, cycling through :data:`KINDS`; with a
    ``hostile_context`` (a ``hostile.Context`` of chapter 1), the quick hostile entries are added."""
    submissions = []
    for exercise in exercises:
        cells = list(exercise.answers)
        nudgeable = exercise.nudgeable()
        for i in range(per_assignment):
            kind = KINDS[i % len(KINDS)]
            student = f"s{i:04d}-{kind}"
            if kind == "right":
                answered, broken, nb = cells, (), exercise.notebook(cells)
            elif kind == "blank":
                answered, broken, nb = (), (), exercise.notebook(())
            elif kind == "partial":
                answered = cells[: (i // len(KINDS)) % len(cells)]
                broken, nb = (), exercise.notebook(answered)
            else:
                gid, name = nudgeable[(i // len(KINDS)) % len(nudgeable)]
                answered, broken, nb = cells, (gid,), exercise.notebook(cells, nudged=name)
            score, part_scores = exercise.expected(answered, broken)
            submissions.append(Submission(student, exercise.assignment, json.dumps(nb).encode(), "graded",
                                          score, part_scores))
    if hostile_context is not None:
        for name in HOSTILE:
            data, expect = hostile.CASES[name](hostile_context)
            submissions.append(Submission(f"hostile-{name}", "01-transformers", data, expect.status,
                                          expect.score, ()))
    return submissions


def catalogue(exercise):
    """Notebooks of the catalogue of mistakes (``corpus/mistakes/``): one whose every autograded part
    holds the catalogue's independent right answer, which must earn every point, and, for each k,
    one whose every part holds its k-th mistake, which must earn none."""
    module = next(m for m in mistakes.catalogues() if m.ASSIGNMENT == exercise.assignment)

    def notebook(sources):
        nb = exercise.notebook(exercise.answers)
        for function, source in sources.items():
            gid = exercise.cell_of[function]
            next(c for c in nb["cells"] if _gid(c) == gid)["source"] = source
        return json.dumps(nb).encode()

    score, part_scores = exercise.expected(exercise.answers)
    found = [Submission("catalogue-independent", exercise.assignment, notebook(module.RIGHT),
                        "graded", score, part_scores)]
    zero = tuple((gid, 0.0) for gid, _ in part_scores)
    for k in range(max(len(wrong) for wrong in module.MISTAKES.values())):
        sources = {function: list(wrong.values())[k % len(wrong)] for function, wrong in module.MISTAKES.items()}
        found.append(Submission(f"catalogue-mistakes{k}", exercise.assignment, notebook(sources),
                                "graded", 0.0, zero))
    return found


def exercises_and_context(released_dir):
    """An :class:`Exercise` for every assignment released under ``released_dir``, and the hostile
    corpus's context for chapter 1 (the quick entries need no host resources)."""
    exercises = [Exercise(a, json.loads((Path(released_dir) / a / course.EXERCISE).read_text(encoding="utf-8")),
                          course.source_notebook(a)) for a in course.assignments()]
    first = exercises[0]
    context = hostile.Context(first.release_nb, first.source_nb, other_nb={"cells": [], "nbformat": 4},
                              secret_paths=(), gradebook=Path("/nonexistent"), port=0)
    return exercises, context
