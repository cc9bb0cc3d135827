"""Grades into a learning management system's gradebook: Canvas's CSV, filled in place, and Moodle's import CSV.

**Canvas.** The instructor exports Canvas's gradebook (Grades > Export), and :func:`fill_canvas`
writes each assignment graded here into its column. Canvas's export has a header row (``Student``,
``ID``, ``SIS User ID``, ``SIS Login ID``, ``Section``, then one ``Title (id)`` column per assignment
and read-only totals), an optional ``Manual Posting`` row, a ``    Points Possible`` row, then one row
per student. Only the cells of graded students in the filled columns change: every other byte
(both header rows, the other students, every other column, quoting, line endings, a byte-order
mark) is copied as it was, so Canvas re-imports the file as its own.

**Moodle.** :func:`write_moodle` writes the file that Moodle's "Import > CSV file" takes: a header
row, one column that identifies the user (mapped on import under "Identify user by": username, ID
number or email address), and one column per assignment, mapped to a grade item. An empty cell is
no grade (Moodle reads ``''`` and ``-`` as none).

**Matching students.** A submission's student is its folder name; a roster CSV with columns
``student,lms_id`` maps folder names to the LMS's ids where they differ. For Canvas, the id is looked
up in the ``SIS Login ID``, ``SIS User ID`` and ``ID`` columns. A student in the gradebook with no
submission keeps an empty (unchanged) cell; a submission whose student the gradebook does not have,
a submission the grader could not grade (status ``error``) and one whose written answers are not
graded yet (unless ``partial``) are left out and listed in the returned :class:`Report`.
"""

import csv
import io
import re
from dataclasses import dataclass, field

CANVAS_ID_COLUMNS = ("SIS Login ID", "SIS User ID", "ID")  # where a student's LMS id is looked up, in order
POINTS_POSSIBLE = "Points Possible"
MOODLE_IDENTIFIERS = ("Username", "ID number", "Email address")
_FIELD = re.compile(r'"(?:[^"]|"")*"|[^,\r\n"]*')
_TITLE_WITH_ID = re.compile(r"^(?P<title>.*) \((?P<id>\d+)\)$")


class GradebookError(ValueError):
    """The gradebook file or the instructor's options cannot be used; the message says what to do."""


@dataclass
class Report:
    """What an export did: students filled per assignment, and who was left out and why."""

    filled: dict = field(default_factory=dict)  # assignment -> number of students written
    not_in_gradebook: list = field(default_factory=list)  # (student, assignment): no row for this student
    not_graded: list = field(default_factory=list)  # (student, assignment, why): status error, written answers
    no_submission: dict = field(default_factory=dict)  # assignment -> number of gradebook students left empty

    def lines(self):
        out = [f"{assignment}: {n} students filled, {self.no_submission.get(assignment, 0)} without a "
               f"submission left empty" for assignment, n in self.filled.items()]
        out += [f"not in the gradebook, left out: {student} ({assignment}); map it with --roster"
                for student, assignment in self.not_in_gradebook]
        out += [f"left out: {student} ({assignment}): {why}" for student, assignment, why in self.not_graded]
        return out


def read_roster(path):
    """``{folder name: LMS id}`` from a CSV file with a header row naming ``student`` and ``lms_id``."""
    with open(path, newline="", encoding="utf-8-sig") as stream:
        reader = csv.DictReader(stream)
        if not reader.fieldnames or not {"student", "lms_id"} <= set(reader.fieldnames):
            raise GradebookError(f"{path}: a roster needs a header row with the columns student,lms_id "
                                 f"(found {', '.join(reader.fieldnames or []) or 'no header'})")
        roster = {}
        for line, row in enumerate(reader, start=2):
            student, lms_id = (row["student"] or "").strip(), (row["lms_id"] or "").strip()
            if not student or not lms_id:
                raise GradebookError(f"{path}, line {line}: both student and lms_id are needed")
            if roster.setdefault(student, lms_id) != lms_id:
                raise GradebookError(f"{path}, line {line}: {student} is mapped twice")
        return roster


def format_score(score):
    """Points as Canvas writes them: at most two decimals, no exponent, no trailing zeros."""
    text = f"{score:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _score_or_reason(result, partial):
    """``(score, None)`` for a result ready to publish, else ``(None, why not)``."""
    if result["status"] == "error":
        return None, "the grader could not grade it (status error): run grade again"
    if not partial and any(p["manual"] and p["score"] is None for p in result["parts"]):
        return None, "written answers not graded yet (grade them with `manual`, or pass --partial)"
    return result["score"], None


# --- Canvas ----------------------------------------------------------------------------------------

def split_records(text):
    """``[(raw fields, line ending)]`` of CSV ``text``, each field exactly as written (quotes included)."""
    records, pos, line = [], 0, 1
    while pos < len(text):
        fields = []
        while True:
            match = _FIELD.match(text, pos)
            fields.append(match.group())
            line += match.group().count("\n")
            pos = match.end()
            if text.startswith(",", pos):
                pos += 1
                continue
            ending = re.match(r"\r\n|\n|\r|", text[pos:pos + 2]).group()
            if not ending and pos < len(text):
                raise GradebookError(f"line {line}: not a CSV file as Canvas writes it (a stray quote?)")
            pos += len(ending)
            line += ending.count("\n") + (ending == "\r")
            records.append((fields, ending))
            break
    return records


def field_value(raw):
    return raw[1:-1].replace('""', '"') if raw.startswith('"') else raw


def _as_field(value, like):
    """``value`` written as a field, quoted where CSV needs it or where the cell it replaces was."""
    if like.startswith('"') or re.search(r'[",\r\n]', value):
        return '"' + value.replace('"', '""') + '"'
    return value


def canvas_column(header, assignment, columns):
    """The index of ``assignment``'s column: ``columns[assignment]`` (a header, or its title without
    the ``(id)``) if given, else the header whose title is the assignment's name."""
    wanted = columns.get(assignment, assignment)
    matches = [i for i, name in enumerate(header)
               if name == wanted or (m := _TITLE_WITH_ID.match(name)) and m["title"] == wanted]
    if len(matches) != 1:
        titles = [name for name in header if _TITLE_WITH_ID.match(name)]
        found = "two columns" if matches else "no column"
        raise GradebookError(f"the Canvas gradebook has {found} for {assignment!r} (looked for {wanted!r}); "
                             f"name it with --column {assignment}=\"<Canvas column>\"; its assignment columns: "
                             + (", ".join(titles) or "none"))
    return matches[0]


def fill_canvas(text, results, roster=None, columns=None, rescale=False, partial=False):
    """``(new text, Report)``: Canvas's exported gradebook ``text`` with each graded assignment's
    column filled from ``results`` (:meth:`GradeStore.results`), every other byte kept."""
    roster, columns = roster or {}, columns or {}
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    records = split_records(text[len(bom):])
    if not records:
        raise GradebookError("the Canvas gradebook file is empty: export it again from Canvas (Grades > Export)")
    header = [field_value(raw) for raw in records[0][0]]
    missing = [name for name in ("Student", "ID") if name not in header]
    if missing:
        raise GradebookError(f"not a Canvas gradebook export: no {' or '.join(missing)} column in its first row")
    id_columns = [header.index(name) for name in CANVAS_ID_COLUMNS if name in header]
    rows, points_row = {}, None
    for r, (fields, _) in enumerate(records[1:], start=1):
        values = [field_value(raw) for raw in fields]
        if values == [""]:  # a blank line
            continue
        if len(values) != len(header):
            raise GradebookError(f"row {r + 1} of the Canvas gradebook has {len(values)} cells, its header {len(header)}")
        if values[0].strip() == POINTS_POSSIBLE:
            points_row = values
            continue
        for c in id_columns:
            if values[c] and rows.setdefault(values[c], r) != r:
                raise GradebookError(f"the id {values[c]!r} names two rows of the Canvas gradebook")

    report = Report()
    by_assignment = {}
    for result in results:
        by_assignment.setdefault(result["assignment"], []).append(result)
    for assignment, graded in by_assignment.items():
        column = canvas_column(header, assignment, columns)
        possible = graded[0]["max_score"]
        scale = 1.0
        if points_row is not None and points_row[column].strip():
            canvas_points = float(points_row[column])
            if canvas_points != possible:
                if not rescale:
                    raise GradebookError(
                        f"{header[column]} is worth {format_score(canvas_points)} points in Canvas but "
                        f"{format_score(possible)} here: set its points in Canvas to {format_score(possible)}, "
                        f"or pass --rescale to scale every score to Canvas's points")
                scale = canvas_points / possible
        filled = {}
        for result in graded:
            row = rows.get(roster.get(result["student"], result["student"]))
            if row is None:
                report.not_in_gradebook.append((result["student"], assignment))
                continue
            score, why = _score_or_reason(result, partial)
            if row in filled:
                why = f"{filled[row]}'s submission names the same gradebook row; fix the roster"
            if why:
                report.not_graded.append((result["student"], assignment, why))
                continue
            fields = records[row][0]
            fields[column] = _as_field(format_score(score * scale), fields[column])
            filled[row] = result["student"]
        report.filled[assignment] = len(filled)
        report.no_submission[assignment] = len(set(rows.values()) - set(filled))
    body = "".join(",".join(fields) + ending for fields, ending in records)
    return bom + body, report


# --- Moodle ----------------------------------------------------------------------------------------

def write_moodle(results, stream, roster=None, identifier="Username", columns=None, partial=False):
    """Moodle's grade import CSV on a text ``stream``: ``identifier`` then one column per assignment.

    With a ``roster``, its students are the rows (a student with no submission gets empty cells) and
    a submission whose student it lacks is left out and reported; without one, every graded
    student is a row, identified by the folder name. Returns a :class:`Report`."""
    if identifier not in MOODLE_IDENTIFIERS:
        raise GradebookError(f"--moodle-identifier must be one of {', '.join(MOODLE_IDENTIFIERS)}")
    columns, report = columns or {}, Report()
    assignments = list(dict.fromkeys(r["assignment"] for r in results))
    lms_ids = list(dict.fromkeys(roster.values())) if roster else []
    scores = {}
    for result in results:
        lms_id = roster.get(result["student"]) if roster else result["student"]
        if lms_id is None:
            report.not_in_gradebook.append((result["student"], result["assignment"]))
            continue
        score, why = _score_or_reason(result, partial)
        if why:
            report.not_graded.append((result["student"], result["assignment"], why))
            continue
        scores[lms_id, result["assignment"]] = score
        if not roster and lms_id not in lms_ids:
            lms_ids.append(lms_id)
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([identifier] + [columns.get(a, a) for a in assignments])
    for lms_id in lms_ids:
        writer.writerow([lms_id] + ["" if (lms_id, a) not in scores else format_score(scores[lms_id, a])
                                    for a in assignments])
    for a in assignments:
        report.filled[a] = sum((i, a) in scores for i in lms_ids)
        report.no_submission[a] = len(lms_ids) - report.filled[a]
    return report


def moodle_text(results, **options):
    """:func:`write_moodle` into a string: ``(text, Report)``."""
    stream = io.StringIO()
    report = write_moodle(results, stream, **options)
    return stream.getvalue(), report
