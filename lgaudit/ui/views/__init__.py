"""The console's pages, one module per page (imported by ``create_app``), and the top bar."""

from __future__ import annotations

#: view modules of ``lgaudit.ui.views``, each registering its routes when imported
VIEWS: list[str] = ["runs", "run", "diff", "kills"]

#: the top bar: ``(label, path)``
NAV: list[tuple[str, str]] = [
    ("Runs", "/"),
    ("Stages", "/stages"),
    ("Shadow", "/shadow"),
    ("Kill orders", "/kills"),
]
