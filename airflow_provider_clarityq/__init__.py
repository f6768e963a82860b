"""Airflow provider for ClarityQ's read access to Alibaba Cloud MaxCompute.

Nothing is imported here on purpose: DAG files import operator modules directly, and
every import added to this package's ``__init__`` would be paid on each DAG parse.
"""

__version__ = "0.1.0"
