"""langgraph-checkpoint-conformance against AuditSaver, on SQLite and PostgreSQL."""

from __future__ import annotations

from langgraph.checkpoint.conformance import checkpointer_test, validate

from lgaudit.store import AuditSaver, Store


async def test_checkpointer_passes_base_conformance(db_url: str, backend: str) -> None:
    @checkpointer_test(name=f"AuditSaver[{backend}]")
    async def audit_saver():
        store = Store(db_url)
        try:
            yield AuditSaver(store)
        finally:
            store.close()

    report = await validate(audit_saver)
    failures = {name: r.failures for name, r in report.results.items() if r.failures}
    assert report.passed_all_base(), failures
    for capability in ("put", "put_writes", "get_tuple", "list", "delete_thread"):
        assert report.results[capability].tests_passed > 0, capability
