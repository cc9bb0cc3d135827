"""The gradebook: nbgrader's database, plus one table of this grader's results.

Scores go where nbgrader's own tools look for them (``Grade.auto_score`` of each grade cell,
``SubmittedNotebook.flagged``), so the formgrader and ``nbgrader export`` keep working. The
table ``autograder_results`` keeps, per student, assignment and notebook, the file's SHA-256,
the status (graded, flagged, or error when the grader itself failed), the flags and the full result for feedback. That row is
written last, in the same commit as the scores: a submission without it counts as not yet
graded, so an interrupted batch regrades at most the submissions that were in flight.
"""

import json
import os
import secrets
import sys
from datetime import datetime, timezone
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from sqlalchemy import Column, DateTime, Float, MetaData, String, Table, Text, select

COURSE_ID = "llm-course"
_metadata = MetaData()
RESULTS = Table(
    "autograder_results", _metadata,
    Column("student", String(128), primary_key=True),
    Column("assignment", String(128), primary_key=True),
    Column("notebook", String(128), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("score", Float, nullable=False),
    Column("max_score", Float, nullable=False),
    Column("flags", Text, nullable=False),
    Column("result", Text, nullable=False),
    Column("graded_at", DateTime(timezone=True), nullable=False),
)
SETTINGS = Table(
    "autograder_settings", _metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)


def sqlite_url(path):
    return f"sqlite:///{path}"


class GradeStore:
    """Read and write grades in an nbgrader gradebook at SQLAlchemy ``url``."""

    def __init__(self, url):
        # nbgrader runs `alembic` by name when it creates a database: use this interpreter's.
        scripts = str(Path(sys.executable).parent)
        if scripts not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")
        self.gradebook = Gradebook(url, course_id=COURSE_ID)
        _metadata.create_all(self.gradebook.engine)
        self.session = self.gradebook.db

    def close(self):
        self.gradebook.close()
        self.gradebook.engine.dispose()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def seed_key(self):
        """This gradebook's secret for seeding hidden checks (made on first use)."""
        row = self.session.execute(select(SETTINGS.c.value).where(SETTINGS.c.key == "seed_key")).first()
        if row:
            return bytes.fromhex(row[0])
        key = secrets.token_hex(16)
        self.session.execute(SETTINGS.insert().values(key="seed_key", value=key))
        self.session.commit()
        return self.seed_key()

    def sync_assignment(self, spec):
        """Create or update the assignment, notebook and graded cells of ``spec``."""
        gb = self.gradebook
        gb.update_or_create_assignment(spec.assignment)
        gb.update_or_create_notebook(spec.notebook, spec.assignment)
        for part in spec.parts:
            gb.update_or_create_grade_cell(part.grade_id, spec.notebook, spec.assignment,
                                           max_score=part.points, cell_type="markdown" if part.manual else "code")
            if part.manual:
                gb.update_or_create_solution_cell(part.grade_id, spec.notebook, spec.assignment)
        for gid in spec.solution_ids:
            gb.update_or_create_solution_cell(gid, spec.notebook, spec.assignment)

    def done(self, student, assignment, notebook, sha256):
        """Whether this exact file was already graded (so a resumed batch can skip it).

        A file that hit a grader error (status "error") is not done: the next run grades it again.
        """
        row = self.session.execute(select(RESULTS.c.sha256, RESULTS.c.status).where(
            RESULTS.c.student == student, RESULTS.c.assignment == assignment,
            RESULTS.c.notebook == notebook)).first()
        return row is not None and row[0] == sha256 and row[1] != "error"

    def record(self, result, spec=None):
        """Store one result; with its ``spec``, also the per-cell scores in nbgrader's tables."""
        try:
            if spec is not None:
                self._record_nbgrader(result, spec)
            key = dict(student=result["student"], assignment=result["assignment"], notebook=result["notebook"])
            self.session.execute(RESULTS.delete().where(*(RESULTS.c[k] == v for k, v in key.items())))
            self.session.execute(RESULTS.insert().values(
                **key, sha256=result["sha256"], status=result["status"], score=result["score"],
                max_score=result["max_score"], flags=json.dumps(result["flags"]), result=json.dumps(result),
                graded_at=datetime.now(timezone.utc)))
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise

    def _record_nbgrader(self, result, spec):
        gb = self.gradebook
        gb.update_or_create_student(result["student"])
        try:
            gb.find_submission(spec.assignment, result["student"])
        except MissingEntry:
            with self.session.no_autoflush:
                gb.add_submission(spec.assignment, result["student"])
        notebook = gb.find_submission_notebook(spec.notebook, spec.assignment, result["student"])
        notebook.flagged = result["status"] != "graded"
        for part in result["parts"]:  # a part's score is None when the grader failed: no score is final
            grade = gb.find_grade(part["grade_id"], spec.notebook, spec.assignment, result["student"])
            grade.auto_score = part["score"]
            grade.needs_manual_grade = part["manual"]

    def results(self, assignment=None):
        """Every stored result (as dicts), by assignment then student."""
        query = select(RESULTS.c.result).order_by(RESULTS.c.assignment, RESULTS.c.student)
        if assignment:
            query = query.where(RESULTS.c.assignment == assignment)
        return [json.loads(row[0]) for row in self.session.execute(query)]
