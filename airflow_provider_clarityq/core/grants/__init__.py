"""Access as code: ClarityQ's MaxCompute read access as a validated spec, a typed plan and statements.

One module per concept (no Airflow anywhere; pyodps and the Alibaba SDKs only behind :mod:`.backend`):

* :mod:`.model` - the privilege vocabulary: object types, actions, grants, privileged roles;
* :mod:`.spec` - the access spec (validated with pydantic) and :func:`~.spec.load_spec`;
* :mod:`.state` - parsers of the service's answers (``SHOW GRANTS``, ``DESCRIBE ROLE``...) and the live state;
* :mod:`.render` - the one renderer of statements and API calls;
* :mod:`.steps`, :mod:`.plan`, :mod:`.planner` - typed steps, the JSON-serialisable plan, the pure planner;
* :mod:`.plan_diff` - the plan as a readable diff (text, Markdown, HTML);
* :mod:`.backend` - the I/O boundary (:class:`~.backend.AccessBackend`) and its Alibaba Cloud adapter;
* :mod:`.read`, :mod:`.execute`, :mod:`.result`, :mod:`.run` - reading live state, executing a plan,
  what a run did, and the whole run;
* :mod:`.statements` - the read-only allowlist for hand-written security statements.

Flow: :func:`~.spec.load_spec` -> :func:`~.read.read_state` -> :func:`~.planner.make_plan` ->
:func:`~.execute.execute_plan` -> verify (read and plan again: the plan must be empty).
"""
