"""The notebook's time limit counts the student's work only, and is judged against the course's answers.

These drive ``grading.run`` with a scripted worker (no sandbox): every cell succeeds, every hidden
check's call answers that it raised, and one chosen call runs out of time. The grader's own work
after that failure (timing the course's answer, replaying cells) is made slow on purpose, so a
budget that counted it would run out. ``tests/test_timeouts.py`` holds the same rules in the sandbox.
"""

import time
from pathlib import Path

from autograder import course, grading
from autograder.spec import load_spec
from autograder.worker import Failure, Limits

ASSIGNMENT = "01-transformers"
HANGS = "sinusoidal_positions"  # its part comes fifth of six: the parts after it must still run
CELL_TIMEOUT = "timeout: a cell or check ran longer than 1 s"


class ScriptedWorker:
    """The part of :class:`worker.Worker` that ``grading.run`` uses, with the sandbox's replies scripted.

    A call of ``hangs`` fails as a cell timeout the first time; a submission that outlives its
    notebook deadline fails as the real worker's does. Each cell takes ``cell_seconds``, and each
    cell the grader replays after that timeout (one before the hanging part's) ``replay_seconds``."""

    def __init__(self, limits, hangs=None, cell_seconds=0.0, replay_seconds=0.0):
        self.limits = limits
        self.hangs = hangs
        self.cell_seconds = cell_seconds
        self.replay_seconds = replay_seconds
        self.requests = []  # every request's header, in order
        self.deadline = None
        self.hung_at = None  # the index of the hanging part's tests, once it hung

    def run_submission(self, drive, seconds=None, warm=()):
        self.deadline = time.monotonic() + min(seconds or self.limits.notebook_seconds, self.limits.notebook_seconds)
        try:
            drive(self)
        except Failure as failure:
            return failure
        return None

    def request(self, header, arrays=()):
        self.requests.append(header)
        if header["op"] == "cell":
            replayed = self.hung_at is not None and header["index"] < self.hung_at
            time.sleep(self.replay_seconds if replayed else self.cell_seconds)
        if time.monotonic() > self.deadline:
            raise Failure(grading.NOTEBOOK_TIMEOUT.format(limit=self.limits.notebook_seconds))
        if header["op"] == "call":
            if header["function"] == self.hangs and self.hung_at is None:
                self.hung_at = max(h["index"] for h in self.requests if h["op"] == "cell")
                raise Failure(CELL_TIMEOUT)
            return {"op": "call_done", "results": [{"ok": False, "error": "scripted"}] * len(header["cases"]),
                    "recording": None}, []
        return {"op": "cell_done", "ok": True}, []

    def grant(self, seconds):
        self.deadline += seconds

    def kill(self):
        pass


def prepared():
    spec = load_spec(course.source_notebook(ASSIGNMENT), ASSIGNMENT)
    return grading.prepare(Path(course.source_notebook(ASSIGNMENT)).read_bytes(), spec, "student")


def test_the_graders_work_after_a_timeout_does_not_use_the_students_notebook_time(monkeypatch):
    """Timing the course's answer takes as long as the whole notebook limit, and the replayed cells
    longer still: counted against the student, either would stop the parts after the timeout."""
    limits = Limits(cell_seconds=1, notebook_seconds=1)

    def slow_reference(prepared, worker, index, every_part=False):
        time.sleep(limits.notebook_seconds)
        return {index: 0.01}

    monkeypatch.setattr(grading, "reference_seconds", slow_reference)
    result = grading.run(prepared(), ScriptedWorker(limits, hangs=HANGS, replay_seconds=0.2))
    parts = {p["grade_id"]: p for p in result["parts"]}
    assert parts[f"test_{HANGS}"]["error"].startswith(f"timeout: the hidden check transformers.{HANGS} "
                                                      f"(calling {HANGS}) ran longer than the limit of 1 s")
    assert not any(flag.startswith("stopped early") for flag in result["flags"]), result["flags"]
    for later in ("test_rope", "test_transformer_block"):
        checks = parts[later]["checks"]
        assert checks and all("raised scripted" in c["message"] for c in checks), f"{later} did not run: {parts[later]}"


def test_a_notebook_timeout_is_the_graders_fault_when_the_course_would_not_fit(monkeypatch):
    limits = Limits(cell_seconds=1, notebook_seconds=0.5)
    worker = ScriptedWorker(limits, cell_seconds=0.1)  # every cell slow: the notebook runs out early
    reached = {}

    def reference(seconds_per_step):
        def timed(prepared, worker, index, every_part=False):
            reached.update(index=index, every_part=every_part)
            return {i: seconds_per_step for i in range(index + 1)}
        return timed

    monkeypatch.setattr(grading, "reference_seconds", reference(limits.notebook_seconds))
    result = grading.run_with_retry(prepared(), worker)
    assert result["status"] == "error" and all(p["score"] is None for p in result["parts"]), result["flags"]
    assert "the machine is too slow, not the answer" in result["grader_faults"][-1]
    assert reached["every_part"], "the course's answers must be timed through every part before that step"

    monkeypatch.setattr(grading, "reference_seconds", reference(0.0))  # the course's answers are instant
    result = grading.run_with_retry(prepared(), ScriptedWorker(limits, cell_seconds=0.1))
    assert result["status"] == "flagged" and result["grader_faults"] == []
    assert any(flag.startswith("stopped early: " + grading.NOTEBOOK_TIMEOUT.format(limit=0.5))
               for flag in result["flags"]), result["flags"]


def test_the_course_answer_is_timed_with_the_recording_the_students_answer_had():
    """A check that forbids operators runs recorded for the student; the course's answer, timed to
    judge a timeout, must run under the same recording, or it would look faster than it is."""
    ready = prepared()
    index = next(i for i, step in enumerate(ready.plan) if step[0] == "test" and step[1].grade_id == "test_softmax")
    worker = ScriptedWorker(Limits(cell_seconds=5, notebook_seconds=30))
    timed = grading.reference_seconds(ready, worker, index)
    assert set(timed) == {i for i, step in enumerate(ready.plan[:index + 1]) if step[0] == "code"} | {index}
    calls = [header for header in worker.requests if header["op"] == "call"]
    assert [(c["function"], bool(c["watch"])) for c in calls] == [("softmax", True)]


def test_reports_name_the_failed_check_its_time_and_the_limits():
    """check's report and the feedback page show each part's time and the limits; a part that used
    more than a fifth of the per-check limit is called slow; a crash names the check and its part's time."""
    from autograder import check
    from autograder.feedback import student_report

    limits = Limits(cell_seconds=1, notebook_seconds=30)
    crash = ScriptedWorker(limits)
    request = crash.request

    def crashing(header, arrays=()):
        if header["op"] == "call" and header["function"] == "rope":
            time.sleep(0.3)
            raise Failure("the submission's process exited (code 3)")
        return request(header, arrays)

    crash.request = crashing
    result = grading.run(prepared(), crash)
    rope = next(p for p in result["parts"] if p["grade_id"] == "test_rope")
    assert rope["error"] == ("the hidden check transformers.rope (calling rope) stopped the notebook: "
                             "the submission's process exited (code 3)"), rope["error"]
    assert rope["seconds"] >= 0.3
    spec = load_spec(course.source_notebook(ASSIGNMENT), ASSIGNMENT)
    report = " ".join(check.report(spec, result)[0].split())
    assert f"({rope['seconds']:.1f} s) slow: this part took {rope['seconds']:.1f} s here, and the grader allows 1 s" in report
    assert "Time limits: 1 s per cell or hidden check, 30 s for the notebook; this run took" in report
    assert report.count("slow:") == 1, report  # every other part took no time
    page = student_report(result | {"student": "ann"})
    assert f"this part ran {rope['seconds']:.1f} s" in page and "Time limits: 1 s per cell or hidden check, 30 s" in page
