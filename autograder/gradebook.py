"""The gradebook: nbgrader's database, plus one table of this grader's results.

Scores go where nbgrader's own tools look for them (``Grade.auto_score`` of each grade cell,
``SubmittedNotebook.flagged``), so the formgrader and ``nbgrader export`` keep working. The
table ``autograder_results`` keeps, per student, assignment and notebook, the file's SHA-256,
the status (graded, flagged, or error when the grader itself failed), the flags and the full result for feedback. That row is
written last, in the same commit as the scores: a submission without it counts as not yet
graded, so an interrupted batch regrades at most the submissions that were in flight.

Several ``grade`` runs may share one gradebook. Writes that could collide (creating the schema,
the assignment, a student) take a lock first: ``flock`` on ``<file>.lock`` beside a SQLite file, an
advisory lock on PostgreSQL. A run *claims* each submission (table ``autograder_claims``) before it
grades it, so another run skips it; a claim ends with its result, when its run stops, or, for a
run killed outright, when its process is gone or its time is up.

Written answers are scored by hand into nbgrader's ``Grade.manual_score`` and
``Comment.manual_comment`` (:mod:`autograder.manual`); :meth:`GradeStore.results` adds them to each
result, and regrading keeps them while the answer's text is unchanged.
"""

import ast
import contextlib
import fcntl
import json
import os
import secrets
import socket
import sys
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import nbgrader.api
from nbgrader.api import Gradebook, MissingEntry
from sqlalchemy import Column, DateTime, Float, MetaData, String, Table, Text, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

COURSE_ID = "llm-course"


def nbgrader_schema_head():
    """The newest revision of nbgrader's database schema, which it stamps on a gradebook it creates,
    read from nbgrader's migrations in this process: the one revision that no other revises.
    nbgrader's own ``get_alembic_version`` starts an ``alembic`` process for it (more than a second of
    every new gradebook), and importing alembic here would cost a quarter of one; the answer is the
    same (``tests/test_gradebook_schema.py``)."""
    revisions = {}  # revision -> the revision it revises
    for migration in (Path(nbgrader.api.__file__).parent / "alembic" / "versions").glob("*.py"):
        names = {}
        for statement in ast.parse(migration.read_text(encoding="utf-8")).body:
            if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant):
                names.update({target.id: statement.value.value for target in statement.targets
                              if isinstance(target, ast.Name)})
        revisions[names["revision"]] = names["down_revision"]
    [head] = set(revisions) - set(revisions.values())
    return head


nbgrader.api.get_alembic_version = nbgrader_schema_head  # what Gradebook() calls on a new database
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


CLAIMS = Table(
    "autograder_claims", _metadata,
    Column("student", String(128), primary_key=True),
    Column("assignment", String(128), primary_key=True),
    Column("notebook", String(128), primary_key=True),
    Column("owner", String(255), nullable=False),  # "<host>:<pid>:<random>" of the claiming run
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
SQLITE_BUSY_SECONDS = 30  # how long a SQLite write waits for another run's (``?timeout=N`` in the URL overrides)


class GradebookUnavailable(Exception):
    """The gradebook cannot be opened or written (corrupt, locked, unreachable); the message says what to do."""


def sqlite_url(path):
    return f"sqlite:///{path}"


def _with_busy_timeout(url):
    """``url`` with SQLite's busy timeout set, so concurrent runs wait for each other's writes."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and "timeout" not in parsed.query:
        parsed = parsed.update_query_dict({"timeout": str(SQLITE_BUSY_SECONDS)})
    return parsed.render_as_string(hide_password=False)


def describe_failure(url, error):
    """One line saying why the gradebook at ``url`` failed and what to do about it."""
    shown = make_url(url).render_as_string(hide_password=True)
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    lowered = reason.lower()
    if "not a database" in lowered or "malformed" in lowered:
        hint = "the file is not a usable SQLite database: restore it from a backup, or pass --db with another file"
    elif "locked" in lowered or "busy" in lowered:
        hint = "another program holds it locked: wait for it to finish (or stop it) and run the command again"
    elif "unable to open" in lowered or isinstance(error, OSError):
        hint = "check that the folder exists and is writable, or pass --db with another path"
    else:
        hint = "check that the database server is running and reachable and that the URL is right (--db)"
    return f"error: cannot use the gradebook {shown} ({reason.rstrip('.')}): {hint}."


class GradeStore:
    """Read and write grades in an nbgrader gradebook at SQLAlchemy ``url``."""

    def __init__(self, url):
        """Open (and on first use create) the gradebook; raise :class:`GradebookUnavailable` if it cannot be used."""
        # nbgrader runs `alembic` by name when it creates a database: use this interpreter's.
        scripts = str(Path(sys.executable).parent)
        if scripts not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")
        self.url = _with_busy_timeout(url)
        self.gradebook = None
        self._lock_engine = None
        try:
            with self.lock():  # two runs on a new gradebook: only one creates the schema
                self.gradebook = Gradebook(self.url, course_id=COURSE_ID)
                _metadata.create_all(self.gradebook.engine)
        except (SQLAlchemyError, OSError) as error:
            self.close()
            raise GradebookUnavailable(describe_failure(url, error)) from None
        self.session = self.gradebook.db

    def close(self):
        if self.gradebook is not None:
            self.gradebook.close()
            self.gradebook.engine.dispose()
        if self._lock_engine is not None:
            self._lock_engine.dispose()

    @contextlib.contextmanager
    def lock(self):
        """Hold the gradebook's lock across processes (a no-op for an in-memory database)."""
        parsed = make_url(self.url)
        backend = parsed.get_backend_name()
        if backend == "sqlite" and parsed.database not in (None, "", ":memory:"):
            with open(f"{parsed.database}.lock", "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
        elif backend == "postgresql":
            if self._lock_engine is None:
                self._lock_engine = create_engine(self.url, future=True)
            key = zlib.crc32(f"autograder:{COURSE_ID}".encode())
            with self._lock_engine.connect() as connection:
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
                try:
                    yield
                finally:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                    connection.commit()
        else:
            yield

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def seed_key(self):
        """This gradebook's secret for seeding hidden checks (made on first use)."""
        row = self.session.execute(select(SETTINGS.c.value).where(SETTINGS.c.key == "seed_key")).first()
        if row:
            return bytes.fromhex(row[0])
        with self.lock():
            if not self.session.execute(select(SETTINGS.c.value).where(SETTINGS.c.key == "seed_key")).first():
                self.session.execute(SETTINGS.insert().values(key="seed_key", value=secrets.token_hex(16)))
                self.session.commit()
        return self.seed_key()

    def sync_assignment(self, spec):
        """Create or update the assignment, notebook and graded cells of ``spec``."""
        gb = self.gradebook
        with self.lock():
            gb.update_or_create_assignment(spec.assignment)
            gb.update_or_create_notebook(spec.notebook, spec.assignment)
            for part in spec.parts:
                gb.update_or_create_grade_cell(part.grade_id, spec.notebook, spec.assignment,
                                               max_score=part.points, cell_type="markdown" if part.manual else "code")
                if part.manual:
                    gb.update_or_create_solution_cell(part.grade_id, spec.notebook, spec.assignment)
            for gid in spec.solution_ids:
                gb.update_or_create_solution_cell(gid, spec.notebook, spec.assignment)

    def claim(self, student, assignment, notebook, owner, seconds):
        """Claim one submission for run ``owner`` for ``seconds``; False when another live run holds it.

        A claim is taken over when it has expired, or when its run was on this host and its
        process is gone (a run killed outright).
        """
        key = (CLAIMS.c.student == student, CLAIMS.c.assignment == assignment, CLAIMS.c.notebook == notebook)
        now = datetime.now(timezone.utc)
        with self.lock():
            try:
                row = self.session.execute(select(CLAIMS.c.owner, CLAIMS.c.expires_at).where(*key)).first()
                if row is not None and row[0] != owner and not _stale(row[0], row[1], now):
                    return False
                self.session.execute(CLAIMS.delete().where(*key))
                self.session.execute(CLAIMS.insert().values(student=student, assignment=assignment, notebook=notebook,
                                                            owner=owner, expires_at=now + timedelta(seconds=seconds)))
                self.session.commit()
            except BaseException:
                self.session.rollback()
                raise
        return True

    def release_claims(self, owner):
        """End every claim of run ``owner`` (when it stops, finished or not)."""
        with self.lock():
            self.session.execute(CLAIMS.delete().where(CLAIMS.c.owner == owner))
            self.session.commit()

    def done(self, student, assignment, notebook, sha256):
        """Whether this exact file was already graded (so a resumed batch can skip it).

        A file that hit a grader error (status "error") is not done: the next run grades it again.
        """
        row = self.session.execute(select(RESULTS.c.sha256, RESULTS.c.status).where(
            RESULTS.c.student == student, RESULTS.c.assignment == assignment,
            RESULTS.c.notebook == notebook)).first()
        return row is not None and row[0] == sha256 and row[1] != "error"

    def record(self, result, spec=None):
        """Store one result; with its ``spec``, also the per-cell scores in nbgrader's tables.

        The submission's claim ends in the same commit. Returns the grade ids of written answers
        whose text changed since they were scored by hand: their manual scores are cleared.
        """
        key = dict(student=result["student"], assignment=result["assignment"], notebook=result["notebook"])
        where = [RESULTS.c[k] == v for k, v in key.items()]
        with self.lock():
            try:
                previous = self.session.execute(select(RESULTS.c.result).where(*where)).first()
                answers = json.loads(previous[0]).get("answers", {}) if previous else {}
                if previous and result["status"] == "error":  # not graded: manual scores still refer to the old answers
                    result = {**result, "answers": answers}
                cleared = self._record_nbgrader(result, spec, answers) if spec is not None else []
                self.session.execute(RESULTS.delete().where(*where))
                self.session.execute(RESULTS.insert().values(
                    **key, sha256=result["sha256"], status=result["status"], score=result["score"],
                    max_score=result["max_score"], flags=json.dumps(result["flags"]), result=json.dumps(result),
                    graded_at=datetime.now(timezone.utc)))
                self.session.execute(CLAIMS.delete().where(*(CLAIMS.c[k] == v for k, v in key.items())))
                self.session.commit()
            except BaseException:
                self.session.rollback()
                raise
        return cleared

    def _record_nbgrader(self, result, spec, previous_answers):
        gb = self.gradebook
        gb.update_or_create_student(result["student"])
        try:
            gb.find_submission(spec.assignment, result["student"])
        except MissingEntry:
            with self.session.no_autoflush:
                gb.add_submission(spec.assignment, result["student"])
        notebook = gb.find_submission_notebook(spec.notebook, spec.assignment, result["student"])
        notebook.flagged = result["status"] != "graded"
        cleared = []
        for part in result["parts"]:  # a part's score is None when the grader failed: no score is final
            grade = gb.find_grade(part["grade_id"], spec.notebook, spec.assignment, result["student"])
            if not part["manual"]:
                grade.auto_score = part["score"]
                grade.needs_manual_grade = False
                continue
            gid = part["grade_id"]
            answer = result.get("answers", {}).get(gid)
            if grade.manual_score is not None and answer != previous_answers.get(gid) and result["status"] != "error":
                grade.manual_score = None
                gb.find_comment(gid, spec.notebook, spec.assignment, result["student"]).manual_comment = None
                cleared.append(gid)
            grade.needs_manual_grade = grade.manual_score is None
        return cleared

    def manual_grades(self, assignment=None):
        """``{(student, assignment, grade_id): (manual_score, manual_comment)}`` of every written answer."""
        from nbgrader.api import Assignment, BaseCell, Comment, Grade, SubmittedAssignment, SubmittedNotebook

        scores = (select(SubmittedAssignment.student_id, Assignment.name, BaseCell.name, Grade.manual_score)
                  .join(SubmittedNotebook, Grade.notebook_id == SubmittedNotebook.id)
                  .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
                  .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
                  .join(BaseCell, Grade.cell_id == BaseCell.id))
        comments = (select(SubmittedAssignment.student_id, Assignment.name, BaseCell.name, Comment.manual_comment)
                    .join(SubmittedNotebook, Comment.notebook_id == SubmittedNotebook.id)
                    .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
                    .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
                    .join(BaseCell, Comment.cell_id == BaseCell.id))
        if assignment:
            scores, comments = scores.where(Assignment.name == assignment), comments.where(Assignment.name == assignment)
        found = {tuple(row[:3]): (row[3], None) for row in self.session.execute(scores)}
        for *key, comment in self.session.execute(comments):
            if tuple(key) in found:
                found[tuple(key)] = (found[tuple(key)][0], comment)
        return found

    def set_manual_grades(self, rows):
        """Write ``(student, assignment, notebook, grade_id, score, comment)`` rows in one commit (all or none)."""
        gb = self.gradebook
        with self.lock():
            try:
                for student, assignment, notebook, gid, score, comment in rows:
                    grade = gb.find_grade(gid, notebook, assignment, student)
                    grade.manual_score = score
                    grade.needs_manual_grade = score is None
                    gb.find_comment(gid, notebook, assignment, student).manual_comment = comment or None
                self.session.commit()
            except BaseException:
                self.session.rollback()
                raise

    def results(self, assignment=None):
        """Every stored result (as dicts), by assignment then student, with the hand-graded scores.

        A written part's ``score`` is its manual score (``None`` until graded by hand) and its
        ``comment`` the grader's comment; a result's ``score`` is then the autograded and manual
        points together, less the late penalty.
        """
        query = select(RESULTS.c.result).order_by(RESULTS.c.assignment, RESULTS.c.student)
        if assignment:
            query = query.where(RESULTS.c.assignment == assignment)
        results = [json.loads(row[0]) for row in self.session.execute(query)]
        manual = self.manual_grades(assignment)
        for result in results:
            for part in result["parts"]:
                if part["manual"]:
                    score, comment = manual.get((result["student"], result["assignment"], part["grade_id"]), (None, None))
                    part.update(score=score if result["status"] != "error" else None, comment=comment)
            if result["status"] != "error":
                penalty = (result.get("lateness") or {}).get("penalty", 0.0)
                result["score"] = max(0.0, sum(p["score"] or 0.0 for p in result["parts"]) - penalty)
        return results


def _stale(owner, expires_at, now):
    """Whether a claim no longer holds: its time is up, or its run was here and has exited."""
    if expires_at.tzinfo is None:  # SQLite hands back naive datetimes
        expires_at = expires_at.replace(tzinfo=timezone.utc)
    if expires_at < now:
        return True
    host, pid, _ = owner.split(":", 2)
    if host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def run_owner():
    """A name for this grading run, unique across hosts and processes."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
