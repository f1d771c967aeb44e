"""Browser tests of the embedded admin page: real Chromium, the real app over HTTP, Shopify's CDN stubbed."""
