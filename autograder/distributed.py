"""Grading on a Dask distributed cluster, for classes that outgrow one machine.

The client sends each submission's bytes and its exercise's source notebook to the cluster;
a Dask worker grades it in its own sandboxed grading workers (one per Dask thread, kept warm
between tasks) and returns the result, which the client alone writes to the gradebook.
Every Dask worker needs this package installed and, for the sandbox, bubblewrap.
"""

import itertools
import threading

from autograder.grading import grade_submission
from autograder.spec import parse_spec
from autograder.worker import Worker

_local = threading.local()
_worker_numbers = itertools.count(100)  # distinct from a local batch's workers 0, 1, ...


def grade_task(data, spec_text, assignment, notebook, student, seed_key, limits, sandbox):
    """Runs on a Dask worker: grade one submission with this thread's warm grading worker."""
    specs = _local.__dict__.setdefault("specs", {})
    key = (assignment, notebook, spec_text)
    if key not in specs:
        specs[key] = parse_spec(spec_text, assignment, notebook)
    worker = getattr(_local, "worker", None)
    if worker is None or worker.limits != limits or worker.sandbox != sandbox:
        worker = _local.worker = Worker(next(_worker_numbers), limits, sandbox)
    return grade_submission(data, specs[key], worker, student, seed_key)


def grade_on_cluster(todo, address, seed_key, limits, sandbox):
    """Yield ``(submission, spec, result)`` as the cluster at ``address`` finishes each job."""
    from dask.distributed import Client, as_completed

    with Client(address) as client:
        futures = {}
        for sub, spec, data in todo:
            future = client.submit(grade_task, data, spec.text, spec.assignment, spec.notebook, sub.student,
                                   seed_key, limits, sandbox, pure=False)
            futures[future] = (sub, spec)
        try:
            for future in as_completed(futures):
                sub, spec = futures[future]
                yield sub, spec, future.result()
        finally:
            client.cancel(list(futures))
