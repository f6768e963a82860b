"""Operator extra links: buttons on a task that open the provider's pages on Airflow's API server."""
