import asyncio
import ipaddress

import pytest

from pipeline.http.errors import CallbackRefusedError
from pipeline.http.ssrf import CallbackGuard, forbidden_reason


def fake_resolver(table: dict[str, list[str]]):
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("no such host")
        return table[host]
    return resolve


def check(guard: CallbackGuard, url: str):
    return asyncio.run(guard.check(url))


@pytest.mark.parametrize("address", ["127.0.0.1", "127.9.9.9", "10.0.0.1", "172.16.3.4", "192.168.1.1",
                                     "169.254.169.254", "169.254.1.1", "100.64.0.1", "100.100.100.200", "0.0.0.0",
                                     "224.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1",
                                     "::ffff:169.254.169.254", "2002:7f00:1::", "fd00:ec2::254"])
def test_internal_addresses_are_forbidden(address):
    assert forbidden_reason(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert forbidden_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("url", ["http://127.0.0.1/x", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/",
                                 "http://[::1]:8080/", "http://internal.example/hook", "http://mixed.example/"])
def test_refused_urls_name_the_field_and_the_rule(url):
    guard = CallbackGuard(resolver=fake_resolver({"internal.example": ["10.1.2.3"],
                                                  "mixed.example": ["93.184.216.34", "192.168.0.5"]}))
    with pytest.raises(CallbackRefusedError) as err:
        check(guard, url)
    assert err.value.field == "callback_url" and "callback_allow_list" in str(err.value)


@pytest.mark.parametrize("url, why", [
    ("ftp://example.com/x", "http or https"), ("http://u:p@example.com/", "credentials"),
    ("http:///path", "no host"), ("http://nowhere.invalid/", "does not resolve"),
    ("http://example.com:99999/", "not a valid URL"),
])
def test_malformed_urls_are_refused(url, why):
    with pytest.raises(CallbackRefusedError, match=why):
        check(CallbackGuard(resolver=fake_resolver({"example.com": ["93.184.216.34"]})), url)


def test_allow_list_by_address_network_or_host_name():
    resolver = fake_resolver({"receiver.internal": ["10.9.8.7"], "other.internal": ["10.9.8.8"]})
    assert check(CallbackGuard(["127.0.0.1"], resolver), "http://127.0.0.1:9000/cb").address == "127.0.0.1"
    assert check(CallbackGuard(["10.9.0.0/16"], resolver), "http://other.internal/").address == "10.9.8.8"
    named = CallbackGuard(["receiver.internal"], resolver)
    assert check(named, "http://receiver.internal/").address == "10.9.8.7"
    with pytest.raises(CallbackRefusedError):
        check(named, "http://other.internal/")
    with pytest.raises(CallbackRefusedError):
        check(CallbackGuard(["127.0.0.1"], resolver), "http://169.254.169.254/")


def test_target_is_pinned_to_the_checked_address():
    guard = CallbackGuard(resolver=fake_resolver({"hooks.example.com": ["93.184.216.34"]}))
    target = check(guard, "https://hooks.example.com:8443/ner/cb?x=1")
    assert target.pinned_url() == "https://93.184.216.34:8443/ner/cb?x=1"
    assert target.host_header() == "hooks.example.com:8443"
    assert check(guard, "http://hooks.example.com/").host_header() == "hooks.example.com"
