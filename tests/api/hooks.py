"""Schemathesis hooks for tests/api/schemathesis.sh: the run keeps its own credential.

The run acts with one administrator's API key. Revoking that key and taking that
user's administrator rights are calls the API rightly allows, and Schemathesis makes
both (it reads the ids from GET /api/v1/api-keys and /api/v1/me); every request after
them would be a 401 or 403 that tests nothing. Such a call goes to a twin instead: a
second key of the same owner, or a second administrator, made for this by the script
(ids in LATCHKEY_SCHEMATHESIS_*). It is still sent and its answer still checked.
Deleting or disabling oneself the API refuses, so those calls go through unchanged.
"""

import os

OWN_KEY = os.environ["LATCHKEY_SCHEMATHESIS_KEY_ID"]
TWIN_KEY = os.environ["LATCHKEY_SCHEMATHESIS_TWIN_KEY_ID"]
OWN_USER = os.environ["LATCHKEY_SCHEMATHESIS_USER_ID"]
TWIN_USER = os.environ["LATCHKEY_SCHEMATHESIS_TWIN_USER_ID"]

import schemathesis  # noqa: E402


@schemathesis.hook
def before_call(context, case, kwargs):
    method = case.operation.method.upper()
    path = case.operation.path
    params = case.path_parameters or {}
    if method == "DELETE" and path == "/api/v1/api-keys/{id}" and params.get("id") == OWN_KEY:
        params["id"] = TWIN_KEY
    elif (
        method == "PATCH"
        and path == "/api/v1/users/{id}"
        and params.get("id") == OWN_USER
        and isinstance(case.body, dict)
        and case.body.get("is_admin") is False
    ):
        params["id"] = TWIN_USER
