"""The botocore versions this instrumentation supports.

boto3 clients are generated at run time from botocore's service models, so the seam is
botocore's `BaseClient._make_api_call`, present in every botocore release. 1.34.116 is the
first release whose `bedrock-runtime` model has `Converse` and `ConverseStream`; `InvokeModel`
and `InvokeModelWithResponseStream` are older. 1.x is the only major there is.
"""

from __future__ import annotations

_instruments = ("botocore >= 1.34.116, < 2",)
