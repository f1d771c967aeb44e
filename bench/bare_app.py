"""The baseline: a bare Flask endpoint served by the same gunicorn config as the real app."""

from flask import Flask


def create_app() -> Flask:
    """A Flask app whose POST /webhooks reads the body and answers 200 at once."""
    app = Flask(__name__)

    @app.post("/webhooks")
    def webhooks():
        """Read the body like the real endpoint must, do nothing with it."""
        from flask import request

        request.get_data()
        return {"status": 200, "message": "ok"}

    @app.get("/healthz")
    def healthz():
        """Ready probe for the harness."""
        return {"status": "ok"}

    return app
