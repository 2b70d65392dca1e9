"""The chat-completions request body: every setting where the doc says, nothing unset."""

import base64

import pytest

from sonar_tui.api.conversation import AskRequest, Attachment, Turn
from sonar_tui.api.errors import ApiError, ErrorKind
from sonar_tui.api.settings import RequestSettings
from sonar_tui.api.sonar import build_sonar_body

from .wire import ask, raw

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8


def body(question="Q?", history=(), attachments=(), stream=True, **settings) -> dict:
    return build_sonar_body(AskRequest(question, RequestSettings(**settings), list(history),
                                       list(attachments), stream=stream))


def test_defaults_send_only_model_messages_and_stream():
    assert body() == {"model": "sonar", "messages": [{"role": "user", "content": "Q?"}],
                      "stream": True}
    assert body(stream=False)["stream"] is False


def test_every_search_setting_maps_to_its_wire_field():
    b = body(model="sonar-pro", search_mode="academic", domain_filter=["nature.com", " arxiv.org"],
             published_after="3/1/2025", published_before="03/31/2025",
             updated_after="01/01/2025", updated_before="12/31/2025",
             search_context_size="high", search_type="pro", country="us", region="California",
             city="San Francisco", reasoning_effort="high", return_images=True,
             image_domain_filter=["-gettyimages.com"], image_format_filter=["png", "webp"],
             return_related_questions=True, stream_mode="concise", max_tokens=500,
             temperature=0.0, top_p=0.5)
    assert b == {
        "model": "sonar-pro",
        "messages": [{"role": "user", "content": "Q?"}],
        "stream": True,
        "search_mode": "academic",
        "search_domain_filter": ["nature.com", "arxiv.org"],
        "search_after_date_filter": "3/1/2025",
        "search_before_date_filter": "03/31/2025",
        "last_updated_after_filter": "01/01/2025",
        "last_updated_before_filter": "12/31/2025",
        "web_search_options": {
            "search_context_size": "high",
            "search_type": "pro",
            "user_location": {"country": "US", "region": "California", "city": "San Francisco"},
        },
        "reasoning_effort": "high",
        "return_images": True,
        "image_domain_filter": ["-gettyimages.com"],
        "image_format_filter": ["png", "webp"],
        "return_related_questions": True,
        "stream_mode": "concise",
        "max_tokens": 500,
        "temperature": 0.0,
        "top_p": 0.5,
    }


def test_recency_and_url_domain_entries():
    b = body(recency="week", domain_filter=["https://docs.python.org/3/tutorial/"])
    assert b["search_recency_filter"] == "week"
    assert b["search_domain_filter"] == ["https://docs.python.org/3/tutorial/"]


def test_image_filters_only_travel_with_return_images():
    b = body(image_domain_filter=["example.com"], image_format_filter=["gif"])
    assert "image_domain_filter" not in b and "image_format_filter" not in b


def test_disable_search_sends_no_search_controls():
    b = body(disable_search=True, domain_filter=["nature.com"], recency="day",
             search_context_size="low", country="DE", search_mode="sec")
    assert b["disable_search"] is True
    for key in ("search_domain_filter", "search_recency_filter", "web_search_options",
                "search_mode"):
        assert key not in b


def test_response_formats():
    schema = '{"type": "object", "properties": {"n": {"type": "integer"}}}'
    assert body(response_format="json_schema", response_schema=schema)["response_format"] == {
        "type": "json_schema",
        "json_schema": {"schema": {"type": "object", "properties": {"n": {"type": "integer"}}}}}
    assert body(response_format="regex", response_schema=r"\d+")["response_format"] == {
        "type": "regex", "regex": {"regex": r"\d+"}}


def test_system_prompt_comes_first():
    b = body(system_prompt="Be brief.", history=[Turn("user", "hi"), Turn("assistant", "hello")])
    assert [m["role"] for m in b["messages"]] == ["system", "user", "assistant", "user"]
    assert b["messages"][0]["content"] == "Be brief."


def test_history_is_folded_into_strict_alternation():
    history = [Turn("assistant", "stray greeting"),  # leading assistant: dropped
               Turn("user", "first"), Turn("user", "again"),  # consecutive users: merged
               Turn("assistant", "   "),  # empty: dropped
               Turn("assistant", "answer"),
               Turn("user", "unanswered")]  # trailing user absorbs the question
    assert body("now?", history)["messages"] == [
        {"role": "user", "content": "first\n\nagain"},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "unanswered\n\nnow?"},
    ]


def test_images_are_data_uri_parts_of_the_last_user_message():
    image = Attachment("dot.png", "image/png", PNG)
    b = body("What is this?", [Turn("user", "hi"), Turn("assistant", "hello")], [image])
    assert b["messages"][-1] == {"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url",
         "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()}}]}
    assert b["messages"][0] == {"role": "user", "content": "hi"}


def test_image_without_words_still_ends_with_a_user_turn():
    b = body("", [Turn("user", "hi"), Turn("assistant", "hello")],
             [Attachment("dot.png", "image/png", PNG)])
    assert b["messages"][-1]["role"] == "user"
    assert [p["type"] for p in b["messages"][-1]["content"]] == ["image_url"]


@pytest.mark.parametrize("settings, field", [
    ({"recency": "week", "published_after": "01/01/2025"}, "recency"),
    ({"domain_filter": ["nature.com", "-reddit.com"]}, "domain_filter"),
    ({"temperature": 2.5}, "temperature"),
    ({"published_after": "2025-01-01"}, "published_after"),
    ({"response_format": "json_schema", "response_schema": "{not json"}, "response_schema"),
    ({"search_type": "pro", "model": "sonar"}, "search_type"),
])
def test_invalid_settings_are_refused_naming_the_field(settings, field):
    with pytest.raises(ApiError) as caught:
        body(**settings)
    assert caught.value.kind is ErrorKind.INVALID_SETTINGS
    assert caught.value.field == field
    assert field in caught.value.message
    assert caught.value.exit_code == 2


def test_empty_question_is_refused():
    with pytest.raises(ApiError) as caught:
        body("   ")
    assert caught.value.field == "question"


async def test_invalid_settings_never_reach_the_network(serve):
    server = await serve(lambda request: _never())
    events, answer = await ask(server.url, AskRequest("Q?", RequestSettings(top_p=3.0)))
    assert server.requests == []
    assert answer.error.kind is ErrorKind.INVALID_SETTINGS and answer.error.field == "top_p"
    assert len(events) == 1


async def _never():
    return raw(500, b"{}")
