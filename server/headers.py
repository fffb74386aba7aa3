"""Security headers on every response: ``X-Content-Type-Options: nosniff`` (a browser never
runs a result or an error as something else) and a Referrer-Policy; HTML gets a
Content-Security-Policy. The linked-data pages set their own (:data:`server.linked_data.CSP`,
no inline code at all); the query page and HTML results get :data:`ENDPOINT_CSP`, which
admits the query page's one inline script by its hash and YASGUI from its CDN.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from flask import Flask, Response

TEMPLATES = Path(__file__).resolve().parent / "templates"


def inline_script_hashes(*templates: str) -> list[str]:
    """CSP source expressions for the inline scripts of these templates (scripts without a
    type: data blocks are not run, so need no admission)."""
    hashes = []
    for name in templates:
        text = (TEMPLATES / name).read_text(encoding="utf-8")
        for script in re.findall(r"<script>(.*?)</script>", text, re.S):
            digest = hashlib.sha256(script.encode("utf-8")).digest()
            hashes.append(f"'sha256-{base64.b64encode(digest).decode()}'")
    return hashes


#: The query page and HTML results: YASGUI (its script and styles from unpkg, and the inline
#: styles it makes), the page's inline script by hash; queries go to this endpoint only.
ENDPOINT_CSP = ("default-src 'self'; script-src 'self' https://unpkg.com "
                f"{' '.join(inline_script_hashes('query.html'))}; "
                "style-src 'self' https://unpkg.com 'unsafe-inline'; img-src 'self' data:; "
                "connect-src 'self'; font-src 'self' https://unpkg.com; object-src 'none'; "
                "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def secure(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if response.mimetype == "text/html" and "Content-Security-Policy" not in response.headers:
        response.headers["Content-Security-Policy"] = ENDPOINT_CSP
    return response


def install(app: Flask) -> None:
    app.after_request(secure)
