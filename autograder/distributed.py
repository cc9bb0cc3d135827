"""Grading on a Dask distributed cluster, for classes that outgrow one machine.

The client prepares each submission (reads, plans and scans it: the parsing stays in one thread)
and sends it to the cluster; a Dask worker runs it in its own sandboxed grading workers (one per
Dask thread, kept warm between tasks), retrying a grader fault once, and returns the result,
which the client alone writes to the gradebook.
Every Dask worker needs this package installed and, for the sandbox, bubblewrap.
"""

import itertools
import threading

from autograder.grading import run_with_retry
from autograder.worker import Worker

_local = threading.local()
_worker_numbers = itertools.count(100)  # distinct from a local batch's workers 0, 1, ...


def grade_task(prepared, limits, sandbox):
    """Runs on a Dask worker: run one prepared submission with this thread's warm grading worker."""
    worker = getattr(_local, "worker", None)
    if worker is None or worker.limits != limits or worker.sandbox != sandbox:
        if worker is not None:
            worker.close()  # else its runner idles until this Dask thread ends
        worker = _local.worker = Worker(next(_worker_numbers), limits, sandbox)
    return run_with_retry(prepared, worker)


def grade_on_cluster(todo, address, limits, sandbox):
    """Yield ``(submission, spec, result)`` as the cluster at ``address`` finishes each prepared job."""
    from dask.distributed import Client, as_completed

    with Client(address) as client:
        futures = {}
        for sub, spec, prepared in todo:
            future = client.submit(grade_task, prepared, limits, sandbox, pure=False)
            futures[future] = (sub, spec)
        try:
            for future in as_completed(futures):
                sub, spec = futures[future]
                yield sub, spec, future.result()
        finally:
            client.cancel(list(futures))
