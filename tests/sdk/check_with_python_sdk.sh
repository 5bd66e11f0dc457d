#!/usr/bin/env bash
# Proves that requests signed by Tencent's own Python SDK pass `audit sim`: installs the SDK into a
# throwaway venv, starts the stand-in, and runs sdk_check.py against it. Not part of `cargo test`
# because it needs PyPI. Usage: tests/sdk/check_with_python_sdk.sh  (AUDIT_BIN=path to skip the build)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
sim_pid=""
cleanup() {
    if [[ -n "$sim_pid" ]]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

if [[ -z "${AUDIT_BIN:-}" ]]; then
    (cd "$root" && cargo build --quiet --bin audit)
    AUDIT_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/audit"
fi

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check tencentcloud-sdk-python-tcss
"$work/venv/bin/pip" list --disable-pip-version-check 2>/dev/null | grep -i '^tencentcloud' || true

export SIM_SECRET_ID="AKIDsdkCHECK00000000000000000001"
export SIM_SECRET_KEY="sdkCheckSecretKey0000000000000001"
# A member account whose task is switched off, reached through a role the keys' account may
# assume (the SDK's STSAssumeRoleCredential is checked against the stand-in's STS).
printf '{"Response": {"Enable": false, "ScanPeriod": 1, "ScanTime": "03:00:00"}}\n' >"$work/member.json"
cat >"$work/accounts.toml" <<'TOML'
uin = "100000000001"
[[member]]
uin = "100000000002"
name = "member"
state = "member.json"
roles = [{ name = "sdk-role", trust = ["100000000001"] }]
TOML
export SIM_ROLE_ARN="qcs::cam::uin/100000000002:roleName/sdk-role"
mkfifo "$work/url"
"$AUDIT_BIN" -v sim --secret-id "$SIM_SECRET_ID" --secret-key "$SIM_SECRET_KEY" \
    --accounts "$work/accounts.toml" >"$work/url" 2>"$work/sim.log" &
sim_pid=$!
read -r SIM_URL <"$work/url"
export SIM_URL
echo "stand-in at $SIM_URL"

status=0
"$work/venv/bin/python" "$here/sdk_check.py" || status=$?
echo "--- stand-in log"
cat "$work/sim.log"
if grep -q "$SIM_SECRET_KEY" "$work/sim.log"; then
    echo "FAIL the secret key appears in the stand-in's log"
    status=1
fi
exit "$status"
