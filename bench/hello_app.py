"""A bare Flask hello-world: the baseline bench/round_page.py compares the round page with.

Served by gunicorn under the same settings as the real app: `hello_app:app`.
"""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "Hello, World!"
