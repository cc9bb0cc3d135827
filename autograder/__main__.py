"""The instructor's command line: ``python -m autograder {release,check,grade,manual,feedback,export,gradescope}``."""

import argparse
import gc
import os
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
    check.add_argument("--no-sandbox", action="store_true", help="run without the grader's sandbox, as on macOS "
                       "and Windows, where it cannot run (the same verdicts; on Linux, to test that path)")

    grade = commands.add_parser("grade", help="autograde SUBMISSIONS_DIR/<student>/<assignment>/*.ipynb")
    grade.add_argument("submissions", type=Path)
    grade.add_argument("--db", default=DEFAULT_DB, help=f"SQLAlchemy URL of the gradebook (default: {DEFAULT_DB})")
    grade.add_argument("--workers", type=int, default=None, help="parallel workers (default: number of cores)")
    grade.add_argument("--assignment", action="append", help="grade only this assignment (repeatable)")
    grade.add_argument("--force", action="store_true", help="regrade files that were already graded")
    grade.add_argument("--cell-timeout", type=float, default=60.0,
                       help="seconds per cell or hidden check (default: 60; a timeout is the student's only when "
                            "the course's answer takes at most a tenth of it there)")
    grade.add_argument("--notebook-timeout", type=float, default=300.0, help="seconds per notebook (default: 300)")
    grade.add_argument("--memory-mb", type=int, default=2048, help="memory per submission in MiB (default: 2048)")
    grade.add_argument("--tmp-mb", type=int, default=256,
                       help="size of each submission's private /tmp in MiB, held in memory (default: 256)")
    grade.add_argument("--no-sandbox", action="store_true",
                       help="run student code WITHOUT isolation (only for trusted notebooks, where bubblewrap is unavailable)")
    grade.add_argument("--dask-scheduler", metavar="ADDRESS", help="distribute over an existing Dask cluster")
    grade.add_argument("--due", metavar="TIME", help='due date with its zone, e.g. "2026-12-01 23:59 Europe/Berlin": '
                       "records each submission's minutes late (from nbgrader's timestamp.txt, else the file's time)")
    grade.add_argument("--due-dates", type=Path, metavar="FILE",
                       help="a CSV file with columns assignment,due: one due date per assignment (overrides --due)")
    grade.add_argument("--late-penalty-per-day", type=float, default=0.0, metavar="POINTS",
                       help="points taken off per started day late (default: 0, no penalty; needs a due date)")

    feedback = commands.add_parser("feedback", help="HTML reports per student and assignment, and class summaries")
    feedback.add_argument("--db", default=DEFAULT_DB)
    feedback.add_argument("--out", default="feedback", help="output folder (default: feedback)")

    export = commands.add_parser("export", help="grades as CSV (student, assignment, score, max_score, ...)")
    export.add_argument("--db", default=DEFAULT_DB)
    export.add_argument("--out", default="-", help="CSV file (default: standard output)")
    export.add_argument("--parts", action="store_true", help="add one column per part: the points earned")
    export.add_argument("--assignment", help="export only this assignment")
    lms = export.add_mutually_exclusive_group()
    lms.add_argument("--canvas", type=Path, metavar="GRADEBOOK.csv",
                     help="Canvas's gradebook export: write it to --out with each graded assignment's column filled")
    lms.add_argument("--moodle", action="store_true", help="write Moodle's grade import CSV to --out")
    export.add_argument("--roster", type=Path, metavar="FILE.csv",
                        help="columns student,lms_id: the LMS id of each submission folder's student")
    export.add_argument("--column", action="append", default=[], metavar="ASSIGNMENT=COLUMN",
                        help="the LMS column of an assignment (default: the column titled as the assignment)")
    export.add_argument("--moodle-identifier", default="Username", help="Moodle: the user column's name "
                        "(Username, ID number or Email address; map it under 'Identify user by')")
    export.add_argument("--rescale", action="store_true",
                        help="Canvas: scale scores to Canvas's points possible where they differ")
    export.add_argument("--partial", action="store_true",
                        help="Canvas, Moodle: publish scores whose written answers are not graded yet")

    gradescope = commands.add_parser("gradescope", help="Gradescope: build the zipped autograder; run it there")
    gradescope_commands = gradescope.add_subparsers(dest="gradescope_command", required=True)
    gradescope_build = gradescope_commands.add_parser("build", help="write the zip for an assignment's Zipped autograder")
    gradescope_build.add_argument("assignment", help="e.g. 01-transformers")
    gradescope_build.add_argument("--out", default="autograder.zip", help="zip file (default: autograder.zip)")
    gradescope_build.add_argument("--cell-timeout", type=float, default=60.0,
                                  help="seconds per cell or hidden check (default: 60)")
    gradescope_build.add_argument("--notebook-timeout", type=float, default=300.0,
                                  help="seconds per notebook (default: 300)")
    gradescope_run = gradescope_commands.add_parser("run", help="inside Gradescope: grade submission/, write results/")
    gradescope_run.add_argument("--root", type=Path, default=Path("/autograder"), help="default: /autograder")

    manual = commands.add_parser("manual", help="grade written answers by hand: export them, import the scores")
    manual_commands = manual.add_subparsers(dest="manual_command", required=True)
    manual_export = manual_commands.add_parser("export", help="written answers as CSV to fill in, and an HTML page to read them")
    manual_export.add_argument("--db", default=DEFAULT_DB)
    manual_export.add_argument("--out", required=True, help="CSV file to write; the review page goes beside it (.html)")
    manual_export.add_argument("--assignment", help="export only this assignment")
    manual_export.add_argument("--blind", action="store_true", help="name no student on the review page (rows keyed by CSV line)")
    manual_import = manual_commands.add_parser("import", help="store the scores and comments of a filled-in CSV file")
    manual_import.add_argument("scores", type=Path, help="the CSV file written by manual export, scores filled in")
    manual_import.add_argument("--db", default=DEFAULT_DB)

    args = parser.parse_args(argv)
    try:
        return globals()[f"_{args.command}"](args)
    except Exception as error:
        message = _gradebook_failure(args, error)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return 2


def _gradebook_failure(args, error):
    """One line on a gradebook that cannot be used (corrupt, locked, unreachable), or None for other errors."""
    if not hasattr(args, "db"):
        return None
    from sqlalchemy.exc import SQLAlchemyError

    from autograder.gradebook import GradebookUnavailable, describe_failure

    if isinstance(error, GradebookUnavailable):
        return str(error)
    if isinstance(error, SQLAlchemyError):
        return describe_failure(args.db, error)
    return None


def _release(args):
    from autograder.course import release

    for path in release(args.assignments or None, out_dir=Path(args.out).resolve()):
        print(f"released {path}")
    return 0


def _check(args):
    from autograder import check

    return check.main(args.notebook, part=args.part, assignment=args.assignment, sandbox=not args.no_sandbox)


def _grade(args):
    from autograder import worker

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
    from autograder.lateness import parse_due, read_due_dates

    try:
        due = parse_due(args.due) if args.due else None
        due_dates = read_due_dates(args.due_dates) if args.due_dates else {}
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.late_penalty_per_day and not (due or due_dates):
        print("error: --late-penalty-per-day needs --due or --due-dates", file=sys.stderr)
        return 2
    limits = worker.Limits(cell_seconds=args.cell_timeout, notebook_seconds=args.notebook_timeout,
                           memory_bytes=args.memory_mb * 2**20, tmp_bytes=args.tmp_mb * 2**20)
    # the runners start now, from this thread, and load torch while this process imports the grader;
    # no more of them than there are <student>/<assignment> folders
    folders = sum(1 for folder in args.submissions.glob("*/*") if folder.is_dir())
    count = min(args.workers or os.cpu_count() or 1, folders)
    runners = [] if args.dask_scheduler or not count else worker.launch_runners(count, limits, not args.no_sandbox)
    try:
        from autograder.batch import grade_all
        from autograder.gradebook import GradeStore

        store = GradeStore(args.db)
    except BaseException:
        for runner in runners:
            runner.close()
        raise
    with store:
        try:
            summary = grade_all(args.submissions, store, workers=args.workers, limits=limits,
                                sandbox=not args.no_sandbox, force=args.force, assignments=args.assignment,
                                scheduler=args.dask_scheduler, due=due, due_dates=due_dates,
                                penalty_per_day=args.late_penalty_per_day, runners=runners)
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
        results = store.results(args.assignment)
    if args.canvas or args.moodle:
        return _export_lms(args, results)
    if args.out == "-":
        write_csv(results, sys.stdout, parts=args.parts)
    else:
        with open(args.out, "w", newline="", encoding="utf-8") as stream:
            write_csv(results, stream, parts=args.parts)
        print(f"wrote {len(results)} rows to {args.out}")
    return 0


def _export_lms(args, results):
    from autograder import lms

    try:
        columns = dict(item.split("=", 1) for item in args.column)
    except ValueError:
        print("error: --column takes ASSIGNMENT=COLUMN, for example --column 01-transformers=\"Exercise 1 (4242)\"",
              file=sys.stderr)
        return 2
    try:
        roster = lms.read_roster(args.roster) if args.roster else None
        if args.canvas:
            if not args.canvas.is_file():
                raise lms.GradebookError(f"no file {args.canvas}: export the gradebook from Canvas (Grades > Export)")
            text = args.canvas.read_bytes().decode("utf-8")
            out, report = lms.fill_canvas(text, results, roster, columns, rescale=args.rescale, partial=args.partial)
        else:
            out, report = lms.moodle_text(results, roster=roster, identifier=args.moodle_identifier,
                                          columns=columns, partial=args.partial)
    except (lms.GradebookError, UnicodeDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.out == "-":
        sys.stdout.write(out)
    else:
        Path(args.out).write_bytes(out.encode("utf-8"))
    for line in report.lines():
        print(line, file=sys.stderr)
    return 0


def _gradescope(args):
    from autograder import gradescope

    return gradescope.main(args)


def _manual(args):
    from autograder import manual
    from autograder.gradebook import GradeStore

    with GradeStore(args.db) as store:
        if args.manual_command == "export":
            found = manual.rows(store.results(args.assignment))
            manual.write_csv(found, args.out)
            page = Path(args.out).with_suffix(".html")
            page.write_text(manual.review_page(found, blind=args.blind), encoding="utf-8")
            print(f"wrote {len(found)} written answers to {args.out} and a review page to {page}")
            return 0
        if not args.scores.is_file():
            print(f"error: no file {args.scores}; write one with `python -m autograder manual export --out FILE.csv`",
                  file=sys.stderr)
            return 2
        try:
            rows = manual.read_scores(args.scores, store.results())
        except manual.ImportRejected as rejected:
            for problem in rejected.problems:
                print(f"{args.scores}: {problem}", file=sys.stderr)
            print(f"error: {len(rejected.problems)} bad row(s); nothing was written. Fix them and import again.",
                  file=sys.stderr)
            return 2
        store.set_manual_grades(rows)
    print(f"stored {sum(r[4] is not None for r in rows)} scores and {sum(bool(r[5]) for r in rows)} comments "
          f"from {args.scores}")
    return 0


def exit_quickly(code):
    """Exit with ``code`` without the interpreter's last garbage collections: they walk every object
    that torch, SQLAlchemy and nbgrader made (a second of CPU after ``grade``), only to free memory
    that the process's end frees anyway. ``gc.freeze`` moves them where no collection looks."""
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    exit_quickly(main())
