"""A new gradebook is stamped with nbgrader's schema revision, read in-process
(``gradebook.nbgrader_schema_head``) instead of by nbgrader's ``alembic heads`` process."""

import os
import subprocess
import sys
from pathlib import Path

import nbgrader.api
from nbgrader.dbutil import _temp_alembic_ini
from sqlalchemy import create_engine, text

from autograder.gradebook import GradeStore, nbgrader_schema_head, sqlite_url


def test_the_head_is_the_one_alembic_reports(tmp_path):
    with _temp_alembic_ini(sqlite_url(tmp_path / "unused.db")) as ini:
        env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
        heads = subprocess.run(["alembic", "-c", ini, "heads"], capture_output=True, text=True, env=env, check=True)
    assert heads.stdout.split()[0] == nbgrader_schema_head()


def test_a_new_gradebook_is_stamped_with_it_and_nbgrader_opens_it(tmp_path):
    url = sqlite_url(tmp_path / "gradebook.db")
    with GradeStore(url):
        pass
    with create_engine(url).connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == nbgrader_schema_head()
    with nbgrader.api.Gradebook(url) as gradebook:  # nbgrader itself finds its schema there
        assert gradebook.students == []
