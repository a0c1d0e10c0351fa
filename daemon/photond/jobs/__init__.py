"""The job book: every job's state, its events and its journal on disk.

A job changes state only through `book.JobBook`, which journals the change before anyone can
observe it.
"""
