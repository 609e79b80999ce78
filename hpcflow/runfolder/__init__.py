"""The run folder: the one owner of hpcflow's on-disk format.

Every path of a run folder, its format version, ``run.json``, the submission records,
the chunk markers (written and read), the lock, and loading results back. Nothing
outside this package builds a run-folder path by hand. The layout, with who writes
and reads each entry, is in ``docs/architecture.md`` and `hpcflow.runfolder.layout`.
"""
