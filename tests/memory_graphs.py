"""The long-term memory agent of the memory tests, written as LangGraph's memory docs write
it: a node ``call_model(state, config, *, store)`` that searches the user's namespace
``(user_id, "memories")``, stores what the user asks it to remember, and answers (a fake
chat model echoing its prompt) from what it recalled; and the store fixture: LangGraph's
``InMemoryStore`` and, on PostgreSQL, also its ``PostgresStore``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import psycopg_dsn
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from lgaudit import Store


class EchoModel(BaseChatModel):
    """Answers with its system prompt (what the node recalled) and the user's last words."""

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Any:
        system = messages[0].content if messages[0].type == "system" else ""
        answer = AIMessage(f"{system} | you said: {messages[-1].content}")
        return ChatResult(generations=[ChatGeneration(message=answer)])

    @property
    def _llm_type(self) -> str:
        return "echo"


model = EchoModel()


def call_model(state: MessagesState, config: RunnableConfig, *, store: BaseStore) -> Any:
    user_id = config["configurable"]["user_id"]
    namespace = (user_id, "memories")
    memories = store.search(namespace, query=str(state["messages"][-1].content))
    info = "\n".join(d.value["data"] for d in memories)
    system_msg = f"You are a helpful assistant talking to the user. User info: {info}"
    last = state["messages"][-1]
    if "remember" in str(last.content).lower():
        memory = str(last.content).split("remember", 1)[1].strip()
        store.put(namespace, str(uuid.uuid4()), {"data": memory})
    response = model.invoke([{"role": "system", "content": system_msg}, *state["messages"]])
    return {"messages": response}


def chat_graph(store: BaseStore, node: Any = call_model) -> Any:
    builder = StateGraph(MessagesState)
    builder.add_node("call_model", node)
    builder.add_edge(START, "call_model")
    return builder.compile(checkpointer=InMemorySaver(), store=store)


def say(graph: Any, text: str, thread: str, user: str) -> str:
    config = {"configurable": {"thread_id": thread, "user_id": user}}
    return str(graph.invoke({"messages": [("user", text)]}, config)["messages"][-1].content)


def memories(store: BaseStore, user: str) -> list[tuple[str, dict[str, Any]]]:
    return sorted((i.key, i.value) for i in store.search((user, "memories")))


def memory_events(store: Store, run_id: str) -> list[dict[str, Any]]:
    return [e for e in store.show(run_id)["events"] if e["kind"].startswith("memory_")]


def run_of(store: Store, thread: str) -> str:
    return store.runs(thread_id=thread, limit=1)[0]["run_id"]


@pytest.fixture(name="memory_store", params=["InMemoryStore", "PostgresStore"])
def memory_store_fixture(
    request: pytest.FixtureRequest, backend: str, db_url: str
) -> Iterator[BaseStore]:
    """The graph's long-term memory: LangGraph's in-memory store, or on PostgreSQL its
    ``PostgresStore`` (in the test database, beside lgaudit's tables)."""
    if request.param == "InMemoryStore":
        yield InMemoryStore()
        return
    if backend != "postgresql":
        pytest.skip("PostgresStore runs on the PostgreSQL backend")
    from langgraph.store.postgres import PostgresStore

    with PostgresStore.from_conn_string(psycopg_dsn(db_url)) as pg_store:
        pg_store.setup()
        yield pg_store
