"""Talking to Shopify: OAuth, tokens, the Admin GraphQL client and its calls, signatures, shop domains."""
