"""Airflow-side helpers shared by operators (configuration, connection lookups)."""
