"""The embedded admin page inside the Shopify admin, and its JSON API authenticated by ID tokens."""
