"""The instructor's command line: ``python -m autograder {release,grade,feedback,export}``."""

import argparse
import sys
from pathlib import Path

DEFAULT_DB = "sqlite:///gradebook.db"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    release = commands.add_parser("release", help="write student notebooks to release/<assignment>/")
    release.add_argument("assignments", nargs="*", help="e.g. 01-transformers (default: all)")
    release.add_argument("--out", default="release", help="output folder (default: release)")

    check = commands.add_parser("check", help="students: grade your own notebook as the grader would, recording nothing")
    check.add_argument("notebook", type=Path, help="your saved exercise, e.g. release/01-transformers/exercise.ipynb")
    check.add_argument("--part", help="report only this part: its function (softmax) or grade id (test_softmax)")
    check.add_argument("--assignment", help="the exercise, e.g. 01-transformers (default: the notebook's folder, "
                       "else the exercise whose cells it has)")

    grade = commands.add_parser("grade", help="autograde SUBMISSIONS_DIR/<student>/<assignment>/*.ipynb")
    grade.add_argument("submissions", type=Path)
    grade.add_argument("--db", default=DEFAULT_DB, help=f"SQLAlchemy URL of the gradebook (default: {DEFAULT_DB})")
    grade.add_argument("--workers", type=int, default=None, help="parallel workers (default: number of cores)")
    grade.add_argument("--assignment", action="append", help="grade only this assignment (repeatable)")
    grade.add_argument("--force", action="store_true", help="regrade files that were already graded")
    grade.add_argument("--cell-timeout", type=float, default=60.0, help="seconds per cell (default: 60)")
    grade.add_argument("--notebook-timeout", type=float, default=300.0, help="seconds per notebook (default: 300)")
    grade.add_argument("--memory-mb", type=int, default=2048, help="memory per submission in MiB (default: 2048)")
    grade.add_argument("--tmp-mb", type=int, default=256,
                       help="size of each submission's private /tmp in MiB, held in memory (default: 256)")
    grade.add_argument("--no-sandbox", action="store_true",
                       help="run student code WITHOUT isolation (only for trusted notebooks, where bubblewrap is unavailable)")
    grade.add_argument("--dask-scheduler", metavar="ADDRESS", help="distribute over an existing Dask cluster")

    feedback = commands.add_parser("feedback", help="HTML reports per student and assignment, and class summaries")
    feedback.add_argument("--db", default=DEFAULT_DB)
    feedback.add_argument("--out", default="feedback", help="output folder (default: feedback)")

    export = commands.add_parser("export", help="grades as CSV (student, assignment, score, max_score, ...)")
    export.add_argument("--db", default=DEFAULT_DB)
    export.add_argument("--out", default="-", help="CSV file (default: standard output)")

    args = parser.parse_args(argv)
    return globals()[f"_{args.command}"](args)


def _release(args):
    from autograder.course import release

    for path in release(args.assignments or None, out_dir=Path(args.out).resolve()):
        print(f"released {path}")
    return 0


def _check(args):
    from autograder import check

    return check.main(args.notebook, part=args.part, assignment=args.assignment)


def _grade(args):
    from autograder import worker
    from autograder.batch import grade_all
    from autograder.gradebook import GradeStore

    if not args.submissions.is_dir():
        print(f"error: {args.submissions} is not a folder of <student>/<assignment>/ notebooks", file=sys.stderr)
        return 2
    if args.no_sandbox:
        worker.warn_unsandboxed()
    else:
        try:
            worker.check_sandbox()
        except worker.SandboxUnavailable as error:
            print(f"error: {error}\nGrade on Linux with the course's environment (make venv), or pass "
                  "--no-sandbox to grade trusted notebooks without isolation.", file=sys.stderr)
            return 2
    limits = worker.Limits(cell_seconds=args.cell_timeout, notebook_seconds=args.notebook_timeout,
                           memory_bytes=args.memory_mb * 2**20, tmp_bytes=args.tmp_mb * 2**20)
    with GradeStore(args.db) as store:
        try:
            summary = grade_all(args.submissions, store, workers=args.workers, limits=limits,
                                sandbox=not args.no_sandbox, force=args.force, assignments=args.assignment,
                                scheduler=args.dask_scheduler)
        except KeyboardInterrupt:
            print("interrupted: every submission graded so far is saved; run the same command to resume",
                  file=sys.stderr)
            return 130
    print(", ".join(f"{n} {k}" for k, n in summary.items()))
    if summary["error"]:
        print(f"error: the grader failed on {summary['error']} submission(s), twice each; they have no score "
              "(status error in export and feedback). Run the same command again to grade them.", file=sys.stderr)
        return 1
    return 0


def _feedback(args):
    from autograder.feedback import write_reports, write_summaries
    from autograder.gradebook import GradeStore

    with GradeStore(args.db) as store:
        results = store.results()
    reports = write_reports(results, args.out)
    summaries = write_summaries(results, args.out)
    print(f"wrote {len(reports)} reports and {len(summaries)} class summaries to {args.out}/")
    return 0


def _export(args):
    from autograder.export import write_csv
    from autograder.gradebook import GradeStore

    with GradeStore(args.db) as store:
        results = store.results()
    if args.out == "-":
        write_csv(results, sys.stdout)
    else:
        with open(args.out, "w", newline="", encoding="utf-8") as stream:
            write_csv(results, stream)
        print(f"wrote {len(results)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
