import pytest
from django.test import RequestFactory

from core.client_address import client_address, rate_limit_address


def address(remote, forwarded=None):
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_address(RequestFactory().get("/", **meta))


@pytest.fixture(autouse=True)
def _proxies(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "2001:db8::1"]


def test_without_a_trusted_proxy_it_is_remote_addr(settings):
    assert address("198.51.100.1", "192.0.2.1") == "198.51.100.1"
    settings.TRUSTED_PROXIES = []
    assert address("10.0.0.1", "192.0.2.1") == "10.0.0.1"


def test_the_right_most_untrusted_address_behind_trusted_proxies():
    assert address("10.0.0.1", "192.0.2.1, 198.51.100.2, 10.0.0.2") == "198.51.100.2"
    assert address("2001:db8::1", "[2001:db8::7]:443") == "2001:db8::7"
    assert address("10.0.0.1", "192.0.2.9:5555") == "192.0.2.9"


def test_garbage_in_the_header_stops_the_walk():
    assert address("10.0.0.1", "192.0.2.1, not-an-address") == "10.0.0.1"
    assert address("10.0.0.1", "") == "10.0.0.1"


def test_all_trusted_is_the_left_most():
    assert address("10.0.0.1", "10.0.0.3, 10.0.0.2") == "10.0.0.3"


def test_the_default_trusts_a_proxy_on_this_host(settings):
    from config import settings as shipped

    settings.TRUSTED_PROXIES = shipped.TRUSTED_PROXIES
    assert settings.TRUSTED_PROXIES == ["127.0.0.0/8", "::1"]
    assert address("127.0.0.1", "192.0.2.1") == "192.0.2.1"
    assert address("127.0.0.2", "2001:db8::9") == "2001:db8::9"
    assert address("::1", "192.0.2.1") == "192.0.2.1"
    assert address("::ffff:127.0.0.1", "192.0.2.1") == "192.0.2.1"
    assert address("127.0.0.1", "") == "127.0.0.1"  # a request made on the host itself
    assert address("198.51.100.1", "192.0.2.1") == "198.51.100.1"  # not a proxy: header ignored


def test_a_unix_socket_peer_is_a_proxy_on_this_host(settings):
    assert address("", "192.0.2.1") == "192.0.2.1"
    assert address("", "192.0.2.1, 10.0.0.2") == "192.0.2.1"
    assert address("") is None
    assert address("", "garbage") is None
    settings.TRUSTED_PROXIES = []  # trust none: nothing names the client
    assert address("", "192.0.2.1") is None


def test_rate_limits_count_an_ipv6_client_by_its_64():
    assert rate_limit_address("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert rate_limit_address("2001:db8:1:2::1") == rate_limit_address("2001:db8:1:2:ffff::9")
    assert rate_limit_address("2001:db8:1:3::1") != rate_limit_address("2001:db8:1:2::1")
    assert rate_limit_address("192.0.2.1") == "192.0.2.1"
    assert rate_limit_address(None) is None
