"""Secret sinks: where a new AccessKey secret is delivered, straight from the CreateAccessKey answer.

No Airflow import. A sink stores Airflow *connections* (``conn_type``, ``login``, ``password``,
``host``, ``schema``, ``port``, ``extra``, ``description``) under a connection id; the AccessKey ID goes
to ``login`` and its secret to ``password``, the one field Airflow always encrypts and masks.

The :class:`~.base.SecretSink` interface (any object with these two methods is a sink):

* ``read(conn_id) -> dict | None``: the stored fields, or ``None`` when there is no such entry. A sink
  that cannot reveal secrets (Airflow's REST API answers ``"***"``) leaves ``password`` out; the caller
  then cannot test the stored key and trusts the key ID.
* ``deliver(conn_id, fields) -> None``: create the entry with ``fields``, or, when it exists, replace
  only the fields given and keep the others (so a sink entry's endpoint or description edited by hand
  survives a key rotation). Either the whole write happens or none of it; raise on failure.
* ``remove(conn_id) -> None`` (optional): delete the entry; a missing entry is not an error.

Implementations here:

* :class:`~.files.ConnectionFileSink` - the connections file of Airflow's ``LocalFilesystemBackend`` (JSON or
  YAML by extension): read-modify-write under an exclusive lock, written to a temporary file in the
  same directory, fsynced, made mode 0600 and swapped in with ``os.replace``; other connections are
  kept as they were (YAML comments are not, as PyYAML drops them).
* :class:`~.custom.CallableSink` - two or three plain functions, the adapter for any other secret manager
  (Vault, Alibaba KMS Secrets Manager, ...).
* :class:`~.api.AirflowApiConnectionSink` - Airflow 3's REST API (``/api/v2/connections``); in Airflow 3
  tasks do not write to the metadata DB themselves.

Sinks never log and never put a secret into an exception message.
"""
