"""Both failure modes of the similarity report (:mod:`autograder.similarity`), on chapter 1.

Ten answers written independently in different styles (``tests/corpus/independent.py``) must
not be paired: all 45 pairs are checked in one class of ten. Each of the ten also gets a planted
copy (every variable renamed, functions reordered, new comments, reformatted): in a class of
the ten and that copy, the copy must be paired with its original. Both counts are reported at
thresholds from 0.1 to 0.9, with the lowest similarity of a planted copy and the highest of an
independent pair. Target, at the threshold the grader uses: every copy found, no independent
pair reported. Tracked in git (``bench/results/similarity.json``): the README quotes it.
"""

import sys
from itertools import combinations

from autograder import course, similarity
from autograder.spec import grade_id, load_spec
from bench import REPO, save

sys.path.insert(0, str(REPO / "tests" / "corpus"))
import independent  # noqa: E402


def main():
    spec = load_spec(course.source_notebook("01-transformers"))
    given = similarity.templates(spec.cells)
    sources = {grade_id(c): c.source for c in spec.cells if grade_id(c)}
    originals = {s: independent.answers(s, sources) for s in independent.STUDENTS}
    prints = {s: set(similarity.fingerprint(s, a, given).hashes) for s, a in originals.items()}
    independent_scores = [len(prints[a] & prints[b]) / len(prints[a] | prints[b])
                          for a, b in combinations(sorted(prints), 2)]
    copy_scores = {}
    for student, cells in originals.items():
        copy = set(similarity.fingerprint("copy", independent.disguise(cells), given).hashes)
        copy_scores[student] = len(prints[student] & copy) / len(prints[student] | copy)

    sweep = []
    for threshold in [round(0.1 * i, 1) for i in range(1, 10)]:
        reported = similarity.similar_pairs(originals, given, threshold)
        found = 0
        for student, cells in originals.items():
            pairs = similarity.similar_pairs({**originals, "zz-copy": independent.disguise(cells)}, given, threshold)
            found += any({p.first, p.second} == {student, "zz-copy"} for p in pairs)
        sweep.append({"threshold": threshold, "planted_copies_found": found, "independent_pairs_reported": len(reported)})
    at_threshold = next(row for row in sweep if row["threshold"] == similarity.THRESHOLD)
    result = {
        "independent_solutions": len(originals),
        "independent_pairs": len(independent_scores),
        "planted_copies": len(originals),
        "threshold": similarity.THRESHOLD,
        "k_tokens": similarity.K, "window": similarity.W,
        "planted_copies_found": at_threshold["planted_copies_found"],
        "independent_pairs_reported": at_threshold["independent_pairs_reported"],
        "lowest_planted_copy_similarity": round(min(copy_scores.values()), 3),
        "highest_independent_pair_similarity": round(max(independent_scores), 3),
        "sweep": sweep,
    }
    save("similarity", result)
    missed = (result["planted_copies_found"] < result["planted_copies"] or result["independent_pairs_reported"] > 0)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
