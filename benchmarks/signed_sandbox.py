"""The sandbox function behind the emulator's AWS_IAM door, for ``sandbox_bench --signed``.

The door admits the role whose key is in this process's AWS_* variables, as a Function URL
with AWS_IAM auth admits a role granted lambda:InvokeFunctionUrl.
"""

from __future__ import annotations

import os

from functions.sandbox.handler import app as sandbox_app
from local_emulator.url_auth import AwsKey, SignedOnly, SigV4Verifier

_key = AwsKey(os.environ["AWS_SECRET_ACCESS_KEY"], os.environ.get("AWS_SESSION_TOKEN"))
app = SignedOnly(
    sandbox_app, SigV4Verifier({os.environ["AWS_ACCESS_KEY_ID"]: _key}, os.environ["AWS_REGION"])
)
