"""Provider metadata that Airflow reads through the ``apache_airflow_provider`` entry point.

Written by hand (there is no ``provider.yaml``). Airflow calls :func:`get_provider_info` while it
initialises its configuration, i.e. on *every* ``import airflow``, so this module must stay free of
imports beyond the standard library.

The connection form is declared here (``conn-fields`` / ``ui-field-behaviour``, Airflow >= 3.2)
instead of on the hook: the UI then gets its metadata without importing the hook, and the
deprecated ``get_connection_form_widgets`` / ``get_ui_field_behaviour`` hook methods are not needed.
"""

from __future__ import annotations

import copy
from typing import Any

from airflow_provider_clarityq.core.defaults import CONN_TYPE

PACKAGE_NAME = "airflow-provider-clarityq"
INTEGRATION_NAME = "ClarityQ MaxCompute"
HOOK_CLASS_NAME = "airflow_provider_clarityq.hooks.maxcompute.MaxComputeHook"

#: Module lists per Airflow concept. Adding a module is one line here; an empty list leaves the
#: key out of the provider info altogether.
MODULES: dict[str, list[str]] = {
    "hooks": ["airflow_provider_clarityq.hooks.maxcompute"],
    "operators": [
        "airflow_provider_clarityq.operators.access_keys",
        "airflow_provider_clarityq.operators.grants",
        "airflow_provider_clarityq.operators.health_report",
        "airflow_provider_clarityq.operators.ram",
        "airflow_provider_clarityq.operators.validation",
    ],
    "sensors": ["airflow_provider_clarityq.sensors.health"],
    "triggers": ["airflow_provider_clarityq.triggers.health"],
}

#: Operator extra links (the API server must know them to show a task's buttons). The plugin serving the pages
#: they open is registered through the ``airflow.plugins`` entry point, not here: Airflow loads provider-info
#: plugins only with ``[core] lazy_discover_providers = False``.
EXTRA_LINKS: list[str] = [
    "airflow_provider_clarityq.links.reports.ClarityQHealthReportLink",
    "airflow_provider_clarityq.links.reports.ClarityQAccessPlanLink",
]

_OPTIONAL_STRING: dict[str, Any] = {"type": ["string", "null"]}

#: Extra fields of the connection form. The names are the keys of ``Connection.extra`` and must stay in
#: step with ``airflow_provider_clarityq.core.connection.EXTRA_FIELDS``. Airflow 3's form shows no
#: placeholder for an extra field (``ui-field-behaviour`` placeholders reach the standard fields only),
#: so each description carries its example, and ``schema.examples`` feeds the input's suggestion list.
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "credential_source": {
        "label": "Credential source",
        "description": "Where credentials come from. static (default): the AccessKey above; assume_role: the "
        "AccessKey calls STS AssumeRole for Role ARN; oidc_role_arn: RRSA on ACK, the pod's OIDC token is "
        "exchanged for Role ARN's credentials (no AccessKey); ecs_ram_role: the ECS instance's RAM role from the "
        "metadata service (no AccessKey); default_chain: environment variables, then RRSA, then the CLI/profile "
        "file, then the ECS role. Leave AccessKey ID and Secret empty for the last three.",
        "schema": {
            "type": ["string", "null"],
            "examples": ["static", "assume_role", "oidc_role_arn", "ecs_ram_role", "default_chain"],
        },
    },
    "sts_token": {
        "label": "STS security token",
        "description": "Only for temporary credentials: the SecurityToken issued together with a "
        "temporary AccessKey (its ID starts with 'STS.'). Leave empty for a RAM user's permanent key.",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "region": {
        "label": "Region",
        "description": "Region ID, e.g. cn-shanghai. Leave empty to derive it from the endpoint; "
        "it selects the STS endpoint and MaxCompute's v4 request signing.",
        "schema": {
            "type": ["string", "null"],
            "examples": [
                "cn-hangzhou",
                "cn-shanghai",
                "cn-beijing",
                "cn-shenzhen",
                "cn-hongkong",
                "ap-southeast-1",
                "eu-central-1",
                "us-west-1",
            ],
        },
    },
    "role_arn": {
        "label": "Role ARN (AssumeRole)",
        "description": "Optional, e.g. acs:ram::1234567890123456:role/clarityq-reader. When set, the AccessKey "
        "above is only used to call STS AssumeRole, and MaxCompute, RAM and STS calls use the role's "
        "temporary credentials, refreshed before they expire.",
        "schema": dict(_OPTIONAL_STRING),
    },
    "oidc_provider_arn": {
        "label": "OIDC provider ARN (RRSA)",
        "description": "For oidc_role_arn, e.g. acs:ram::1234567890123456:oidc-provider/ack-rrsa-c123. "
        "Default: the ALIBABA_CLOUD_OIDC_PROVIDER_ARN variable RRSA sets in the pod.",
        "schema": dict(_OPTIONAL_STRING),
    },
    "oidc_token_file": {
        "label": "OIDC token file (RRSA)",
        "description": "For oidc_role_arn, e.g. /var/run/secrets/ack.alibabacloud.com/rrsa-tokens/token. "
        "Default: ALIBABA_CLOUD_OIDC_TOKEN_FILE. For oidc_role_arn, Role ARN defaults to ALIBABA_CLOUD_ROLE_ARN.",
        "schema": dict(_OPTIONAL_STRING),
    },
    "ecs_role_name": {
        "label": "ECS instance RAM role",
        "description": "For ecs_ram_role, e.g. clarityq-admin. Default: ALIBABA_CLOUD_ECS_METADATA, else the role "
        "the metadata service names.",
        "schema": dict(_OPTIONAL_STRING),
    },
    "ecs_metadata_endpoint": {
        "label": "ECS metadata endpoint",
        "description": "For ecs_ram_role: leave empty for the instance metadata service (100.100.100.200). A URL "
        "here, e.g. http://127.0.0.1:8300, receives the metadata requests as an HTTP proxy would.",
        "schema": dict(_OPTIONAL_STRING),
    },
    "role_session_name": {
        "label": "Role session name",
        "description": "Session name for AssumeRole (2-64 characters: letters, digits, '.', '@', '-', '_'). "
        "Shown in ActionTrail.",
        "schema": {"type": ["string", "null"], "default": "clarityq-airflow"},
    },
    "tunnel_endpoint": {
        "label": "Tunnel endpoint",
        "description": "Optional MaxCompute Tunnel URL, e.g. https://dt.cn-shanghai.maxcompute.aliyun.com. "
        "Leave empty to let MaxCompute pick one.",
        "schema": dict(_OPTIONAL_STRING),
    },
    "ram_endpoint": {
        "label": "RAM endpoint",
        "description": "Optional RAM API endpoint as host[:port] or URL, e.g. ram.aliyuncs.com (the default).",
        "schema": dict(_OPTIONAL_STRING),
    },
    "sts_endpoint": {
        "label": "STS endpoint",
        "description": "Optional STS API endpoint as host[:port] or URL, e.g. sts.cn-shanghai.aliyuncs.com. "
        "Default: sts.<region>.aliyuncs.com, or sts.aliyuncs.com when no region is known.",
        "schema": dict(_OPTIONAL_STRING),
    },
    "default_schema": {
        "label": "Default schema",
        "description": "Optional MaxCompute schema for projects with the three-tier model enabled, e.g. default.",
        "schema": dict(_OPTIONAL_STRING),
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["port"],
    "relabeling": {
        "login": "AccessKey ID",
        "password": "AccessKey Secret",
        "host": "Endpoint",
        "schema": "Project name",
    },
    # Standard fields only: the extra fields' examples are in their descriptions (see CONN_FIELDS).
    "placeholders": {
        "login": "LTAI5t...",
        "host": "https://service.cn-shanghai.maxcompute.aliyun.com/api",
        "schema": "my_analytics_project",
    },
}


#: The ``[clarityq]`` configuration section (``airflow config list``, ``AIRFLOW__CLARITYQ__<OPTION>``). Only
#: deployment administrators set these; DAG run params cannot change them.
CONFIG: dict[str, Any] = {
    "clarityq": {
        "description": "Where the AccessKey operators deliver a new key (the place Airflow reads the reader's "
        "connection from), and where the health history and its HTML reports are kept.",
        "options": {
            "secret_sink": {
                "description": "auto: the LocalFilesystemBackend file when that is the tasks' secrets backend, the "
                "metadata DB (through the REST API, see airflow_api_conn_id) when no backend is configured; "
                "airflow_api or connections_file to force one; or package.module:callable, a factory returning a "
                "SecretSink for any other secrets backend.",
                "version_added": "0.2.0",
                "type": "string",
                "example": "airflow_api",
                "default": "auto",
            },
            "airflow_api_conn_id": {
                "description": "Connection to Airflow's REST API used to write connections into the metadata DB: "
                "host = API server base URL (https, or http on loopback), login/password of a user allowed to edit "
                "connections, or an empty login and a JWT as password.",
                "version_added": "0.2.0",
                "type": "string",
                "example": "clarityq_airflow_api",
                "default": "clarityq_airflow_api",
            },
            "connections_file": {
                "description": "LocalFilesystemBackend connections file to write, when it is not the backend's "
                "connections_file_path.",
                "version_added": "0.2.0",
                "type": "string",
                "example": "/opt/airflow/secrets/connections.json",
                "default": "",
            },
            "history_store": {
                "description": "Where every health report of the validation operator and the health sensor is "
                "recorded: sqlite (the file history_path; all writers on one host), none (record nothing), or "
                "package.module:callable, a factory returning a history store (workers on several hosts).",
                "version_added": "0.2.0",
                "type": "string",
                "example": "none",
                "default": "sqlite",
            },
            "history_path": {
                "description": "The SQLite health history file, on a local disk of the host running the workers "
                "(and the API server, to serve the Health report link). Empty: "
                "$AIRFLOW_HOME/clarityq/health_history.sqlite3.",
                "version_added": "0.2.0",
                "type": "string",
                "example": "/var/lib/airflow/clarityq/health_history.sqlite3",
                "default": "",
            },
            "history_retention_days": {
                "description": "Health reports older than this many days are deleted from the history.",
                "version_added": "0.2.0",
                "type": "integer",
                "example": "90",
                "default": "400",
            },
            "reports_dir": {
                "description": "Directory of the HTML health reports (health-<conn_id>.html). Empty: "
                "$AIRFLOW_HOME/clarityq/reports.",
                "version_added": "0.2.0",
                "type": "string",
                "example": "/var/lib/airflow/clarityq/reports",
                "default": "",
            },
        },
    }
}


def _integration_entries(modules: list[str]) -> list[dict[str, Any]]:
    return [{"integration-name": INTEGRATION_NAME, "python-modules": list(modules)}] if modules else []


def get_provider_info() -> dict[str, Any]:
    """Return the provider-info dict (validated by Airflow against ``provider_info.schema.json``)."""
    info: dict[str, Any] = {
        "package-name": PACKAGE_NAME,
        "name": "ClarityQ",
        "description": "Provision and health-check ClarityQ's read access to Alibaba Cloud MaxCompute: "
        "connection type, hook, grant operators and a health sensor.",
        "versions": ["0.1.0"],
        "integrations": [
            {
                "integration-name": INTEGRATION_NAME,
                "external-doc-url": "https://www.alibabacloud.com/product/maxcompute",
                "tags": ["alibaba"],
            }
        ],
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": HOOK_CLASS_NAME,
                "hook-name": INTEGRATION_NAME,
                "ui-field-behaviour": copy.deepcopy(UI_FIELD_BEHAVIOUR),
                "conn-fields": copy.deepcopy(CONN_FIELDS),
            }
        ],
        "config": copy.deepcopy(CONFIG),
        "extra-links": list(EXTRA_LINKS),
    }
    for key, modules in MODULES.items():
        entries = _integration_entries(modules)
        if entries:
            info[key] = entries
    return info
