"""Running pipelines: the element path, the local engine, run folders and results."""
