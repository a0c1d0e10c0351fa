"""What benchmarks and tests share but the daemon never imports: references and workloads.

Reference implementations written apart from the daemon (a numpy list scheduler, the
thermal-unaware baseline, the candidate-schedule kernels), so that comparisons and tests have
an independent side; installed with the project so tests import them by name.
"""
