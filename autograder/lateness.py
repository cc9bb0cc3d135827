"""When a submission came in, and how many minutes after the due date.

The time of submission is nbgrader's ``timestamp.txt`` in the submission's folder when there is
one (``nbgrader collect`` writes it), else the notebook file's modification time; the result
says which. The due date is one for every assignment (``--due``) or one per assignment from a
course file (``--due-dates``, a CSV file with columns ``assignment, due``). Late minutes are never negative. There is no penalty unless ``penalty_per_day`` is
set: then each day or part of a day late costs that many points (never below a score of 0).
"""

import csv
import math
import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import parser as dateparser

TIMESTAMP_FILE = "timestamp.txt"
MINUTES_PER_DAY = 24 * 60


def parse_due(text):
    """A timezone-aware datetime from ``"2026-12-01 23:59 Europe/Berlin"`` or an ISO time with an offset.

    Raises ValueError, saying what to write, for a time without a zone or an unknown zone.
    """
    match = re.fullmatch(r"\s*(.+?)\s+([A-Za-z_]+/[A-Za-z_/+-]+|UTC)\s*", text)
    try:
        if match:
            return dateparser.parse(match.group(1)).replace(tzinfo=ZoneInfo(match.group(2)))
        due = dateparser.parse(text)
    except (ValueError, OverflowError, ZoneInfoNotFoundError) as error:
        raise ValueError(f"cannot read the due date {text!r} ({error}); write it as "
                         "\"2026-12-01 23:59 Europe/Berlin\" or \"2026-12-01T23:59+01:00\"") from None
    if due.tzinfo is None:
        raise ValueError(f"the due date {text!r} has no time zone; add one, as in \"{text} Europe/Berlin\" or \"{text} UTC\"")
    return due


def read_due_dates(path):
    """``{assignment: due}`` from the CSV file at ``path`` (columns ``assignment, due``); ValueError naming the bad row."""
    with open(path, newline="", encoding="utf-8-sig") as stream:
        reader = csv.DictReader(stream)
        if not {"assignment", "due"} <= set(reader.fieldnames or []):
            raise ValueError(f"{path}: expected the columns assignment,due, as in the row "
                             "01-transformers,2026-12-01 23:59 Europe/Berlin")
        dates = {}
        for number, row in enumerate(reader, 1):
            assignment = (row["assignment"] or "").strip()
            if not assignment or assignment in dates:
                problem = f"{assignment} appears twice" if assignment else "no assignment"
                raise ValueError(f"{path}, row {number}: {problem}")
            try:
                dates[assignment] = parse_due(row["due"] or "")
            except ValueError as error:
                raise ValueError(f"{path}, row {number}: {error}") from None
    return dates


def submitted_at(notebook_path):
    """``(time, source)``: when the notebook at ``notebook_path`` was submitted (UTC) and how that is known."""
    stamp = notebook_path.parent / TIMESTAMP_FILE
    if stamp.is_file():
        try:
            when = dateparser.parse(stamp.read_text(encoding="utf-8").strip())
            if when.tzinfo is None:  # nbgrader writes UTC
                when = when.replace(tzinfo=timezone.utc)
            return when.astimezone(timezone.utc), TIMESTAMP_FILE
        except (ValueError, OverflowError, UnicodeDecodeError):
            pass  # unreadable: fall back to the file's time, and the source says so
    mtime = datetime.fromtimestamp(notebook_path.stat().st_mtime, timezone.utc)
    return mtime, "file modification time" + (f" ({TIMESTAMP_FILE} unreadable)" if stamp.is_file() else "")


def lateness(notebook_path, due=None, penalty_per_day=0.0):
    """The ``lateness`` record of a result: submission time and its source, minutes late and penalty points."""
    when, source = submitted_at(notebook_path)
    record = {"submitted_at": when.isoformat(), "source": source, "late_minutes": None, "penalty": 0.0}
    if due is not None:
        minutes = max(0.0, round((when - due).total_seconds() / 60, 1))
        record["late_minutes"] = minutes
        record["penalty"] = penalty_per_day * math.ceil(minutes / MINUTES_PER_DAY)
    return record
