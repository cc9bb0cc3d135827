# nbgrader configuration of the course, copied into the course directory by
# `python -m autograder release` (see autograder/course.py).
c = get_config()  # noqa: F821 (nbgrader provides get_config)

c.CourseDirectory.course_id = "llm-course"
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
