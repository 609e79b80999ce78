"""Submission: runs as scheduler job arrays, and the `Run` handle that follows them.

``submit`` and its planning rounds, the `Run` handle (status, wait, cancel, resume),
automatic retries and follow-up jobs, and superseding stored errors. Only the login
node (and follow-up jobs, which submit) import this package; array tasks never do.
"""
