"""The sandbox's runner prepares once, before forking, what a job's hidden checks need, and only
that: the first optimizer imports torch._dynamo (a second of CPU), so the runner makes one for the
jobs whose checks watch optimizers and whose code names ``optim`` (``grading.warm_for``), and for
none else: no right answer makes an optimizer.
"""

from autograder import course, grading
from autograder.spec import load_spec
from autograder.worker import Limits, Worker

LIMITS = Limits(cell_seconds=20, notebook_seconds=60)
DYNAMO_IMPORTED = "import sys\nassert 'torch._dynamo' in sys.modules"


def test_only_chapter_4_watches_optimizers_and_only_chapter_5_dtypes():
    naming_one = [("code", "opt = torch.optim.AdamW(params)", "student", None)]  # a prepared submission's plan
    low_precision = tuple(f"dtype torch.{name}" for name in ("bfloat16", "float16", "float8_e4m3fn", "float8_e5m2")
                          ) + ("dtype view",)
    for plan in (naming_one, [("code", "x = 1", "student", None)], None):
        warm = {a: grading.warm_for(load_spec(course.source_notebook(a), a), plan) for a in course.assignments()}
        optimizers = ("optimizers",) if plan is naming_one else ()  # only code that names optim may make one
        assert warm == {a: optimizers if a == "04-gpu-memory" else low_precision if a == "05-quantization" else ()
                        for a in course.assignments()}, plan


def test_the_runner_warms_optimizers_for_the_jobs_that_ask_and_keeps_them_warm():
    worker = Worker(0, LIMITS)
    seen = []
    try:
        for warm in ((), ("optimizers",), ()):
            replies = []
            failure = worker.run_submission(
                lambda w: replies.append(w.request({"op": "cell", "index": 0, "source": DYNAMO_IMPORTED})), warm=warm)
            assert failure is None, failure.reason
            seen.append(replies[0][0]["ok"])
    finally:
        worker.close()
    assert seen == [False, True, True]  # none before the first job that asks; every child after it
