"""One shipping address as a Shopify order carries it and as its print order was placed (phone formatted
differently: the comparison folds it, so the two are in sync)."""

from plugin.providers import Address

SHOPIFY_ADDRESS = {
    "name": "Steve Shipper",
    "first_name": "Steve",
    "last_name": "Shipper",
    "company": "Shipping Company",
    "address1": "123 Shipping Street",
    "address2": "",
    "city": "Shippington",
    "zip": "40003",
    "province_code": "KY",
    "country_code": "US",
    "phone": "555-555-SHIP",
}
PLACED = Address(
    name="Steve Shipper",
    first_name="Steve",
    last_name="Shipper",
    company="Shipping Company",
    address1="123 Shipping Street",
    city="Shippington",
    zip="40003",
    province_code="KY",
    country_code="US",
    phone="555 555 ship",
    email="jon@example.com",
)
