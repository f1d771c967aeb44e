"""Shop-domain validation happens before any URL is built."""

import pytest

from plugin.errors import InvalidShopDomain
from plugin.shopify.shop_domain import (
    admin_base_url,
    is_valid_shop_domain,
    require_shop_domain,
)

HOSTILE = [
    "evil.com",
    "127.0.0.1",
    "shop.myshopify.com.evil.com",
    "shop.myshopify.com/..",
    "shop.myshopify.com:80",
    "shop.myshopify.com\n",
    "https://shop.myshopify.com",
    "-shop.myshopify.com",
    ".myshopify.com",
    "shop..myshopify.com",
    "shop.myshopify.com@evil.com",
    "evil.com#shop.myshopify.com",
    "shop%2emyshopify.com",
    "",
    None,
    12,
    "a" * 300 + ".myshopify.com",
]


@pytest.mark.parametrize("domain", ["demo.myshopify.com", "Demo-Shop_1.myshopify.com", "x.myshopify.com"])
def test_valid_domains(domain):
    assert is_valid_shop_domain(domain)
    assert require_shop_domain(domain) == domain.lower()


@pytest.mark.parametrize("domain", HOSTILE)
def test_hostile_domains_rejected(domain):
    assert not is_valid_shop_domain(domain)
    with pytest.raises(InvalidShopDomain):
        require_shop_domain(domain)


def test_admin_url_template():
    assert admin_base_url("https://{shop}", "demo.myshopify.com") == "https://demo.myshopify.com"
    assert admin_base_url("http://127.0.0.1:8081/{shop}/", "demo.myshopify.com") == "http://127.0.0.1:8081/demo.myshopify.com"
    with pytest.raises(InvalidShopDomain):
        admin_base_url("https://{shop}", "evil.com")
