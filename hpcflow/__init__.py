"""hpcflow: Python function pipelines with parameter sweeps on laptops and HPC clusters."""
