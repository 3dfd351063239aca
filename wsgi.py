"""Entry point for gunicorn: `gunicorn --no-control-socket -w 2 wsgi:app`."""

from bulkbuy import create_app

app = create_app()
