"""The landing page's time estimate per chapter is recomputed from the chapters themselves.

Each row of the course map in ``intro.md`` states a chapter's reading time (its words of prose at a
cited reading rate), the run time of its explanatory notebooks, its exercise parts and the time they
add up to. This test counts them again
and fails when a stated number is further from the count than its rounding allows (reading and
total: to the nearest 5 minutes, so at most 2.5 away; run time: rounded up, so the next whole
minute; parts: exact), so an edited chapter cannot leave the landing page out of date. On failure
it prints the row to paste.
"""

import json
import math
import re
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORDS_PER_MINUTE = 238  # silent reading of English non-fiction, Brysbaert (2019)
MINUTES_PER_PART = 15  # exercise allowance per graded part: the landing page states it as an assumption
# a role shows only its text: {term}`tokens <token>` reads "tokens"; a glued number or a citation is one word
ROLE = re.compile(r"\{term\}`([^`<]+?)(?:\s*<[^>]*>)?`|\{[\w:]+\}`[^`]*`")
ROW = re.compile(r"^\| \[(\d)\. [^\]]+\]\(chapters/([\w-]+)/index\.md\) \|.*\| (\d+) min \| (\d+) min \| (\d+) parts \| (\d+) min \|$",
                 re.MULTILINE)


def prose_words(markdown):
    return len(ROLE.sub(lambda m: m.group(1) or "x", markdown).split())


def run_seconds(notebook):
    """Seconds from the first cell's start to the last cell's end when the committed outputs were made."""
    times = []
    for cell in notebook["cells"]:
        execution = cell.get("metadata", {}).get("execution", {})
        for key in ("iopub.execute_input", "shell.execute_reply"):
            if key in execution:
                times.append(datetime.fromisoformat(execution[key].replace("Z", "+00:00")))
    return (max(times) - min(times)).total_seconds()


def chapter_numbers(chapter):
    """(reading minutes, notebook run time in minutes, exercise parts, estimated minutes) of a chapter."""
    folder = REPO / "chapters" / chapter
    words, seconds, parts = prose_words((folder / "index.md").read_text(encoding="utf-8")), 0.0, 0
    for path in sorted(folder.glob("*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        words += sum(prose_words("".join(c["source"])) for c in notebook["cells"] if c["cell_type"] == "markdown")
        if path.name == "exercise.ipynb":
            parts += sum(1 for c in notebook["cells"] if c["metadata"].get("nbgrader", {}).get("grade"))
        else:
            seconds += run_seconds(notebook)
    reading = words / WORDS_PER_MINUTE
    return reading, seconds / 60, parts, reading + seconds / 60 + parts * MINUTES_PER_PART


def stated_rows():
    return {m.group(2): tuple(int(m.group(i)) for i in (1, 3, 4, 5, 6))
            for m in ROW.finditer((REPO / "intro.md").read_text(encoding="utf-8"))}


def test_the_course_map_lists_every_chapter():
    chapters = sorted(p.parent.name for p in (REPO / "chapters").glob("*/index.md"))
    assert sorted(stated_rows()) == chapters


def test_each_chapter_time_estimate_is_up_to_date():
    stale = []
    for chapter, (_, reading, run, parts, total) in sorted(stated_rows().items()):
        counted = chapter_numbers(chapter)
        fresh = (5 * round(counted[0] / 5), math.ceil(counted[1]), counted[2], 5 * round(counted[3] / 5))
        # each stated time may be off by its rounding only: half of 5 minutes, or up to 1 above the run time
        if (abs(reading - counted[0]) > 2.5 or not counted[1] <= run <= counted[1] + 1 or parts != counted[2]
                or abs(total - counted[3]) > 2.5):
            stale.append(f"{chapter}: page says {reading} min | {run} min | {parts} parts | {total} min; "
                         f"now {fresh[0]} min | {fresh[1]} min | {fresh[2]} parts | {fresh[3]} min")
    assert not stale, "update the course map in intro.md:\n" + "\n".join(stale)


def test_prose_words_counts_a_role_by_its_text():
    assert prose_words("the {term}`context window <context window>` of {glue:text}`n` tokens {cite}`a,b`") == 7
