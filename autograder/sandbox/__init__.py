"""Code that runs inside the sandbox: the runner and the wire format it shares with the grader.

This folder is mounted read-only into the sandbox and nothing else of the repository is, so
its modules import only the standard library, numpy, torch and IPython.
"""
