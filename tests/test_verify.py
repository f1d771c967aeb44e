"""Webhook signature verification against fixed vectors (computed with openssl)."""

from plugin.shopify.webhook_signature import sign, verify_signature

BODY = b'{"id":820982911946154508,"email":"jon@example.com"}'
# printf '%s' "$BODY" | openssl dgst -sha256 -hmac SECRET -binary | base64
CURRENT_SECRET = "hush-current"
OLD_SECRET = "hush-previous"
SIGNED_WITH_CURRENT = "Ir2sC/DElBJwYCRMziH/nzrQ2yGuPXh/MT/ArQyiu0k="
SIGNED_WITH_OLD = "6fcBwRu//RN+iDz5Ky0A+mb9IaUsEatHzg2rbeDpE9M="
EMPTY_BODY_SIGNED = "9STs+OFa9kFoHacCXdvizibSc2IMKJrngz/iBDxeUlI="


def test_sign_matches_openssl_vectors():
    assert sign(BODY, CURRENT_SECRET) == SIGNED_WITH_CURRENT
    assert sign(BODY, OLD_SECRET) == SIGNED_WITH_OLD
    assert sign(b"", CURRENT_SECRET) == EMPTY_BODY_SIGNED


def test_current_secret_verifies():
    assert verify_signature(BODY, SIGNED_WITH_CURRENT, [CURRENT_SECRET])


def test_old_secret_verifies_during_rotation_only():
    assert verify_signature(BODY, SIGNED_WITH_OLD, [CURRENT_SECRET, OLD_SECRET])
    assert not verify_signature(BODY, SIGNED_WITH_OLD, [CURRENT_SECRET])


def test_signature_is_over_raw_bytes_not_reserialised_json():
    reformatted = b'{"id": 820982911946154508, "email": "jon@example.com"}'
    assert not verify_signature(reformatted, SIGNED_WITH_CURRENT, [CURRENT_SECRET])


def test_tampered_body_fails():
    assert not verify_signature(BODY.replace(b"508", b"509"), SIGNED_WITH_CURRENT, [CURRENT_SECRET])


def test_missing_empty_or_garbage_signature_fails():
    for signature in (None, "", "not base64 at all", "é" * 44, SIGNED_WITH_CURRENT[:-4]):
        assert not verify_signature(BODY, signature, [CURRENT_SECRET])


def test_surrounding_whitespace_in_header_is_tolerated():
    assert verify_signature(BODY, f" {SIGNED_WITH_CURRENT} ", [CURRENT_SECRET])


def test_no_secret_configured_verifies_nothing():
    assert not verify_signature(BODY, SIGNED_WITH_CURRENT, [])
    assert not verify_signature(BODY, sign(BODY, ""), [""])
