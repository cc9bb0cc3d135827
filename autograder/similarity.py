"""Pairs of students whose answer code is near-identical, for a person to look at.

Winnowing, as MOSS does it (Schleimer, Wilkerson and Aiken, SIGMOD 2003):

1. Only what the student wrote counts: from each answer cell, every line the released template
   already holds (signature, docstring, ``# YOUR CODE HERE``) is dropped.
2. The code is normalised into tokens: comments, whitespace and string contents vanish, and
   every identifier the student chose becomes ``V`` (keywords, builtins and attribute names
   such as ``.softmax`` stay, since they carry the meaning).
3. Each run of ``K`` tokens is hashed; in each window of ``W`` consecutive hashes the smallest is
   kept. Any match of at least ``K + W - 1`` tokens shares a kept hash, and none shorter than
   ``K`` does. Hashes do not depend on position, so reordered functions still match.
4. Fingerprints that most of the class shares (the natural way to write a three-line function)
   are dropped; a pair's similarity is the Jaccard index of the two sets that remain.

The result is a list of pairs above a threshold with the lines that match on each side. It is
a pointer for a teacher's reading, never a verdict: the grader flags nobody for it.
"""

import builtins
import hashlib
import io
import keyword
import re
import tokenize
from dataclasses import dataclass, field
from itertools import combinations

from autograder.spec import is_grade, is_solution

K = 8  # tokens per hashed run: shorter matches are noise
W = 5  # window: every match of K + W - 1 = 12 tokens or more is found
THRESHOLD = 0.5  # Jaccard index from which a pair is listed (bench/similarity.py measures both failure modes)
MIN_FINGERPRINTS = 5  # answers smaller than this are too short to tell copying from convergence
TEMPLATE_LINES = ("# YOUR CODE HERE",)
STUB_START = "raise NotImplementedError("  # the release's placeholder, which names its part and function
_BUILTINS = set(dir(builtins))


@dataclass
class Fingerprints:
    """One student's fingerprints: hash -> the ``(grade_id, line number)`` lines it covers."""

    student: str
    lines: dict = field(default_factory=dict)  # grade_id -> list of source lines
    hashes: dict = field(default_factory=dict)  # hash -> set of (grade_id, line number), 1-based


@dataclass(frozen=True)
class Pair:
    """Two students whose code is similar, and the matching lines of each, per part."""

    first: str
    second: str
    similarity: float  # Jaccard index of the fingerprints, 0 to 1
    matches: dict  # grade_id -> (first's line numbers, second's line numbers)


def templates(cells):
    """``{grade_id: set of stripped lines}`` a student is given in each code answer cell of a source notebook."""
    found = {}
    for cell in cells:
        if cell.cell_type != "code" or not is_solution(cell) or is_grade(cell):
            continue
        given, inside = set(TEMPLATE_LINES), False
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped == "### BEGIN SOLUTION":
                inside = True
            elif stripped == "### END SOLUTION":
                inside = False
            elif not inside and stripped:
                given.add(stripped)
        found[cell.metadata["nbgrader"]["grade_id"]] = given
    return found


def tokens(source, given=frozenset()):
    """Normalised ``(token, line number)`` pairs of ``source``, without the lines in ``given``."""
    keep = {n for n, line in enumerate(source.splitlines(), 1) if line.strip() and line.strip() not in given
            and not line.strip().startswith(STUB_START)}
    try:
        raw = [(t.type, t.string, t.start[0]) for t in tokenize.generate_tokens(io.StringIO(source).readline)]
    except (tokenize.TokenError, IndentationError, SyntaxError):  # broken code: a rougher tokenizer
        raw = [(_regex_type(m.group()), m.group(), n) for n, line in enumerate(source.splitlines(), 1)
               for m in re.finditer(r"[A-Za-z_]\w*|\d[\w.]*|'[^']*'|\"[^\"]*\"|\S", line.split("#")[0])]
    found, previous = [], ""
    for kind, text, line in raw:
        if line not in keep or kind in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                                        tokenize.DEDENT, tokenize.ENDMARKER):
            continue
        if kind == tokenize.NAME and not (keyword.iskeyword(text) or text in _BUILTINS or previous == "."):
            text = "V"
        elif kind == tokenize.STRING:
            text = "S"
        found.append((text, line))
        previous = text
    return found


def _regex_type(text):
    if text[0].isalpha() or text[0] == "_":
        return tokenize.NAME
    return tokenize.STRING if text[0] in "'\"" else tokenize.OP


def winnow(toks, k=K, w=W):
    """``{hash: (first line, last line)}`` chosen by winnowing the ``(token, line)`` list ``toks``."""
    grams = []
    for i in range(len(toks) - k + 1):
        run = toks[i:i + k]
        digest = hashlib.blake2b(" ".join(t for t, _ in run).encode(), digest_size=8).digest()
        grams.append((int.from_bytes(digest, "big"), run[0][1], run[-1][1]))
    chosen = {}
    for i in range(max(len(grams) - w + 1, 1 if grams else 0)):
        window = grams[i:i + w]
        smallest = min(range(len(window)), key=lambda j: (window[j][0], -j))  # rightmost minimum
        h, first, last = window[smallest]
        chosen[h] = (first, last)
    return chosen


def fingerprint(student, answers, given):
    """The :class:`Fingerprints` of one student's ``answers`` (``{grade_id: code}``) for the code cells in ``given``."""
    prints = Fingerprints(student)
    for gid in sorted(given):
        source = answers.get(gid) or ""
        prints.lines[gid] = source.splitlines()
        for h, (first, last) in winnow(tokens(source, given[gid])).items():
            prints.hashes.setdefault(h, set()).update((gid, n) for n in range(first, last + 1))
    return prints


def similar_pairs(answers_by_student, given, threshold=THRESHOLD):
    """Pairs of students at or above ``threshold``, most similar first.

    ``answers_by_student`` maps each student to ``{grade_id: code}``; ``given`` is
    :func:`templates` of the assignment's source notebook.
    """
    prints = [fingerprint(s, a, given) for s, a in sorted(answers_by_student.items())]
    counts = {}
    for p in prints:
        for h in p.hashes:
            counts[h] = counts.get(h, 0) + 1
    common = {h for h, n in counts.items() if n > max(3, len(prints) / 2)}
    pairs = []
    for a, b in combinations(prints, 2):
        ha, hb = set(a.hashes) - common, set(b.hashes) - common
        if min(len(ha), len(hb)) < MIN_FINGERPRINTS:
            continue
        shared = ha & hb
        score = len(shared) / len(ha | hb)
        if score >= threshold:
            pairs.append(Pair(a.student, b.student, score, _matching_lines(a, b, shared)))
    return sorted(pairs, key=lambda p: -p.similarity)


def _matching_lines(a, b, shared):
    matches = {}
    for h in shared:
        for side, prints in enumerate((a, b)):
            for gid, n in prints.hashes[h]:
                matches.setdefault(gid, (set(), set()))[side].add(n)
    return {gid: (sorted(x), sorted(y)) for gid, (x, y) in sorted(matches.items())}
