"""Calls the stand-in through Tencent's own Python SDK; exits non-zero on the first mismatch."""

import os
import sys
from urllib.parse import urlparse

from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.tcss.v20201101 import models, tcss_client

url = urlparse(os.environ["SIM_URL"])
secret_id = os.environ["SIM_SECRET_ID"]
secret_key = os.environ["SIM_SECRET_KEY"]


def client(key=secret_key, method="POST", unsigned=False, region="ap-guangzhou"):
    http = HttpProfile(endpoint=url.netloc, reqMethod=method, reqTimeout=10)
    http.scheme = url.scheme
    profile = ClientProfile(httpProfile=http, language="en-US")
    profile.unsignedPayload = unsigned
    return tcss_client.TcssClient(credential.Credential(secret_id, key), region, profile)


def check(label, got, want):
    if got != want:
        print(f"FAIL {label}: got {got!r}, want {want!r}")
        sys.exit(1)
    print(f"ok   {label}")


def describe(c):
    return c.DescribeImageRegistryTimingScanTask(models.DescribeImageRegistryTimingScanTaskRequest())


def update(c, **fields):
    req = models.UpdateImageRegistryTimingScanTaskRequest()
    for name, value in fields.items():
        setattr(req, name, value)
    return c.UpdateImageRegistryTimingScanTask(req)


first = describe(client())
check("describe (POST): ScanTime of the seed", first.ScanTime, "03:00:00")
check("describe (POST): a RequestId", len(first.RequestId or ""), 36)

r = update(client(), ScanPeriod=7, Enable=False, ScanTime="18:10", ScanType=["vul", "risk"])
check("update (POST): a RequestId", len(r.RequestId or ""), 36)
after = describe(client())
check("describe after update: Enable", after.Enable, False)
check("describe after update: ScanPeriod", after.ScanPeriod, 7)
check("describe after update: ScanType", after.ScanType, ["vul", "risk"])
check("describe after update: Latest kept", after.Latest, True)

check("describe (GET)", describe(client(method="GET")).ScanPeriod, 7)
update(client(method="GET"), ScanPeriod=1, Enable=True, ScanTime="03:00:00", ScanType=["vul", "risk", "virus"])
after = describe(client(unsigned=True))
check("update (GET) then describe (unsigned payload): Enable", after.Enable, True)
check("update (GET) then describe (unsigned payload): ScanType", after.ScanType, ["vul", "risk", "virus"])
check("describe without a region", describe(client(region="")).ScanTime, "03:00:00")

try:
    describe(client(key="not-the-key"))
    check("wrong key is refused", "answered", "AuthFailure.SignatureFailure")
except TencentCloudSDKException as e:
    check("wrong key is refused", e.get_code(), "AuthFailure.SignatureFailure")

try:
    update(client(), Enable=True, ScanTime="03:00:00")
    check("update without ScanPeriod is refused", "answered", "MissingParameter")
except TencentCloudSDKException as e:
    check("update without ScanPeriod is refused", e.get_code(), "MissingParameter")

# A role in a member account, assumed through the stand-in's STS with the SDK's own
# STSAssumeRoleCredential, then TCSS called with the temporary key and token it got.
# The SDK's STS client speaks https only; the stand-in here is plain http on loopback.
from tencentcloud.common.profile import http_profile as _hp

_init = _hp.HttpProfile.__init__


def _loopback_scheme(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.scheme = url.scheme


_hp.HttpProfile.__init__ = _loopback_scheme
role = credential.STSAssumeRoleCredential(
    secret_id, secret_key, os.environ["SIM_ROLE_ARN"], "sdk-check", 3600, endpoint=url.netloc
)
http = HttpProfile(endpoint=url.netloc, reqTimeout=10)
http.scheme = url.scheme
member = tcss_client.TcssClient(role, "ap-guangzhou", ClientProfile(httpProfile=http))
check("a temporary key from STS", (role.secret_id or "")[:7], "AKIDtmp")
check("the member's own task through the role", describe(member).Enable, False)

print("all SDK calls behaved as against Tencent")
