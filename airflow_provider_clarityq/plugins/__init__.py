"""Airflow plugins of the provider (registered through the provider info, loaded by the API server)."""
