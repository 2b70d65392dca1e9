"""The chat-completions parser across every era and shape in the wire reference."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sonar_tui.api.errors import ErrorKind
from sonar_tui.api.events import (
    Failed,
    Finished,
    ReasoningDelta,
    SourcesUpdate,
    Started,
    TextDelta,
    UsageUpdate,
    build_answer,
)
from sonar_tui.api.sonar import SonarStreamParser, parse_sonar_response

from .wire import SONAR, chunks, sonar_wire

CITATIONS_STREAM = SONAR / "vercel-ai__sonar-stream-citations.chunks.jsonl"
COST_STREAM = SONAR / "vercel-ai__sonar-stream-usage-cost.chunks.jsonl"


def run(*pieces: bytes):
    parser = SonarStreamParser()
    events = []
    for piece in pieces:
        events += parser.feed(piece)
    return events + parser.close()


def frame(*payloads, done=False, python=False) -> bytes:
    """Chunks as ``data:`` events; ``python`` uses the 2024-25 ``json.dumps`` separators."""
    dump = json.dumps if python else (lambda o: json.dumps(o, separators=(",", ":"),
                                                             ensure_ascii=False))
    out = b"".join(b"data: " + dump(p).encode() + b"\n\n" for p in payloads)
    return out + (b"data: [DONE]\n\n" if done else b"")


# ----------------------------------------------------------------------------- recorded


def test_recorded_citation_stream():
    events = run(sonar_wire(CITATIONS_STREAM))
    answer = build_answer(events)
    assert answer.text == "The current population of **[2][3]"
    assert [s.number for s in answer.sources] == [1, 2, 3, 4, 5, 6, 7]
    assert answer.sources[1].url == "https://en.wikipedia.org/wiki/San_Francisco"
    assert answer.usage.completion_tokens == 336 and answer.usage.cost is None
    assert (answer.model, answer.finish_reason, answer.api) == ("sonar", "stop", "sonar")
    assert answer.response_id == "58cb9740-f356-49e9-b71e-a02a1376c1b9"
    # Citations repeat on all 8 chunks: one update. Cumulative usage changes on 7 of them:
    # the first is emitted at once, the newest just before Finished.
    assert sum(isinstance(e, SourcesUpdate) for e in events) == 1
    usages = [(i, e.usage.completion_tokens) for i, e in enumerate(events)
              if isinstance(e, UsageUpdate)]
    assert [tokens for _, tokens in usages] == [1, 336]
    assert usages[-1][0] == len(events) - 2
    assert isinstance(events[0], Started) and isinstance(events[-1], Finished)


def test_zero_cost_skeleton_is_not_a_cost():
    events = run(sonar_wire(COST_STREAM, done=False))
    usages = [e.usage for e in events if isinstance(e, UsageUpdate)]
    assert [u.cost for u in usages] == [None, 0.00501]
    assert usages[-1].cost_details == {"input_tokens_cost": 0.00001, "output_tokens_cost": 0.0,
                                       "request_cost": 0.005}
    assert usages[-1].search_context_size == "low"


def test_finished_waits_for_the_end_of_the_stream():
    parser = SonarStreamParser()
    events = parser.feed(sonar_wire(COST_STREAM, done=False))
    assert parser.finish_seen and not any(isinstance(e, Finished) for e in events)
    assert isinstance(parser.close()[-1], Finished)


def test_done_marker_ends_the_stream_and_later_bytes_are_ignored():
    parser = SonarStreamParser()
    extra = b'data: {"choices":[{"delta":{"content":"X"}}]}\n\n'
    events = parser.feed(sonar_wire(COST_STREAM) + extra)
    assert parser.done and isinstance(events[-1], Finished)
    assert build_answer(events).text == "OK"
    assert parser.close() == []


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([sonar_wire(CITATIONS_STREAM), sonar_wire(CITATIONS_STREAM, done=False),
                        sonar_wire(COST_STREAM), sonar_wire(COST_STREAM, done=False)]),
       st.lists(st.integers(0, 6000), max_size=40))
def test_recorded_streams_cut_anywhere_give_the_same_answer(wire, cuts):
    assert build_answer(run(*chunks(wire, cuts))) == build_answer(run(wire))


# ----------------------------------------------------------------------------- eras


def era_2024(text_pieces, finish="stop"):
    """Every chunk: object chat.completion, cumulative usage, accumulated message + delta."""
    so_far = ""
    out = []
    for n, piece in enumerate(text_pieces, 1):
        so_far += piece
        out.append({"id": "e2024", "model": "llama-3.1-sonar-small-128k-online", "created": 1,
                    "usage": {"prompt_tokens": 5, "completion_tokens": n, "total_tokens": 5 + n},
                    "citations": ["https://a.example/", "https://b.example/"],
                    "object": "chat.completion",
                    "choices": [{"index": 0, "finish_reason": None,
                                 "message": {"role": "assistant", "content": so_far},
                                 "delta": {"role": "assistant", "content": piece}}]})
    out.append({**out[-1], "choices": [{"index": 0, "finish_reason": finish,
                                        "message": {"role": "assistant", "content": so_far},
                                        "delta": {"role": "assistant", "content": ""}}]})
    return out


def test_2024_accumulated_message_is_never_appended():
    answer = build_answer(run(frame(*era_2024(["Hello", " world", " [1]"]), python=True)))
    assert answer.text == "Hello world [1]"
    assert answer.finish_reason == "stop"
    assert [s.url for s in answer.sources] == ["https://a.example/", "https://b.example/"]


def test_a_diverging_message_is_only_a_cross_check():
    payloads = era_2024(["Hello"])
    payloads[-1]["choices"][0]["message"]["content"] = "Hello, and a server-side epilogue"
    assert build_answer(run(frame(*payloads))).text == "Hello"


def test_length_finish_maps_to_length():
    assert build_answer(run(frame(*era_2024(["cut"], finish="length")))).finish_reason == "length"


def test_message_only_stream_takes_the_new_part_of_each_message():
    payloads = [{"choices": [{"message": {"content": c}}]} for c in ("Hel", "Hello", "Hello!")]
    payloads[-1]["choices"][0]["finish_reason"] = "stop"
    assert build_answer(run(frame(*payloads))).text == "Hello!"


STEP = {"thought": "Searching for the release", "type": "web_search",
        "web_search": {"search_keywords": ["python 3.14 release"],
                       "search_results": [{"title": "Python 3.14", "url": "https://python.org/3.14",
                                           "date": "2025-10-07", "snippet": "…"}]}}
RESULTS = [{"title": "What's new", "url": "https://docs.python.org/3.14/whatsnew/",
            "date": "2025-10-07", "last_updated": "2025-10-08", "snippet": "New features",
            "source": "web"},
           {"title": "PEP 745", "url": "https://peps.python.org/pep-0745/", "date": None,
            "last_updated": None}]


def concise_stream():
    head = {"id": "c1", "model": "sonar-pro", "created": 1759957470}
    return [
        {**head, "object": "chat.reasoning", "type": "message",
         "choices": [{"index": 0, "finish_reason": None,
                      "message": {"role": "assistant", "content": ""},
                      "delta": {"role": "assistant", "content": "", "reasoning_steps": [STEP]}}]},
        {**head, "object": "chat.reasoning.done", "search_results": RESULTS,
         "images": [{"image_url": "https://img.example/1.png", "origin_url": "https://o.example/",
                     "height": 512, "width": 768}],
         "usage": {"prompt_tokens": 20, "completion_tokens": 0, "total_tokens": 20,
                   "search_context_size": "low"},
         "choices": [{"index": 0, "message": {"role": "assistant", "content": "",
                                              "reasoning_steps": [STEP]},
                      "delta": {"role": "assistant", "content": ""}}]},
        {**head, "object": "chat.completion.chunk",
         "choices": [{"index": 0, "delta": {"content": "Python 3.14 "},
                      "message": {"content": ""}}]},
        {**head, "object": "chat.completion.chunk",
         "choices": [{"index": 0, "delta": {"content": "is out [1]."},
                      "message": {"content": ""}}]},
        {**head, "object": "chat.completion.done", "status": "COMPLETED", "type": "end_of_stream",
         "search_results": RESULTS,
         "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29,
                   "search_context_size": "low",
                   "cost": {"input_tokens_cost": 0.00006, "output_tokens_cost": 0.000135,
                            "request_cost": 0.006, "total_cost": 0.006195}},
         "choices": [{"index": 0, "finish_reason": "stop",
                      "message": {"role": "assistant", "content": "Python 3.14 is out [1].",
                                  "reasoning_steps": [STEP]},
                      "delta": {"role": "assistant", "content": ""}}]},
    ]


def test_concise_mode():
    events = run(frame(*concise_stream(), done=True))
    answer = build_answer(events)
    assert answer.text == "Python 3.14 is out [1]."
    assert [(s.number, s.title, s.date, s.last_updated, s.snippet, s.origin)
            for s in answer.sources] == [
        (1, "What's new", "2025-10-07", "2025-10-08", "New features", "web"),
        (2, "PEP 745", None, None, None, None)]
    assert len(answer.steps) == 1
    step = answer.steps[0]
    assert (step.kind, step.thought, step.keywords) == ("web_search", "Searching for the release",
                                                        ("python 3.14 release",))
    assert step.results[0].url == "https://python.org/3.14"
    assert answer.images[0].url == "https://img.example/1.png" and answer.images[0].width == 768
    assert answer.usage.cost == pytest.approx(0.006195)
    assert answer.finish_reason == "stop" and answer.model == "sonar-pro"
    # reasoning.done's partial usage has no cost; the final one does
    assert [e.usage.cost for e in events if isinstance(e, UsageUpdate)] == [None, 0.006195]


def test_deep_research_pings_choiceless_chunks_malformed_lines_and_think():
    head = {"id": "dr1", "model": "sonar-deep-research", "created": 2}
    body = b"".join([
        b": ping\n\n",
        frame({**head, "object": "chat.completion.chunk"}),  # research phase: no choices
        b"\n\n: ping\n\n",
        b"data: {\"id\": \"dr1\", \"choi\n\n",  # malformed
        frame({**head, "choices": [{"index": 0, "delta": {"content": "<thi"}}]}),
        frame({**head, "choices": [{"index": 0, "delta": {"content": "nk>\nPlan: search. ü"}}]}),
        frame({**head, "choices": [{"index": 0, "delta": {"content": "</th"}}]}),
        frame({**head, "citations": ["https://r.example/paper"],
               "choices": [{"index": 0, "delta": {"content": "ink>\n\n# Report\nFindings [1]"}}]}),
        frame({**head, "citations": ["https://r.example/paper"],
               "usage": {"prompt_tokens": 10, "completion_tokens": 900, "total_tokens": 910,
                         "citation_tokens": 4000, "num_search_queries": 12,
                         "reasoning_tokens": 30000,
                         "cost": {"input_tokens_cost": 0.00002, "output_tokens_cost": 0.0072,
                                  "citation_tokens_cost": 0.008, "reasoning_tokens_cost": 0.09,
                                  "search_queries_cost": 0.06, "total_cost": 0.16522}},
               "choices": [{"index": 0, "finish_reason": "stop", "delta": {"content": ""}}]}),
        b"data: [DONE]\n\n",
    ])
    events = run(body)
    answer = build_answer(events)
    assert answer.reasoning == "Plan: search. ü"
    assert answer.text == "# Report\nFindings [1]"
    assert (answer.usage.citation_tokens, answer.usage.search_queries,
            answer.usage.reasoning_tokens, answer.usage.cost) == (4000, 12, 30000, 0.16522)
    assert answer.finish_reason == "stop" and answer.sources[0].url == "https://r.example/paper"
    assert any(isinstance(e, ReasoningDelta) for e in events)


def test_top_level_reasoning_steps_and_late_related_questions():
    head = {"id": "p1", "model": "sonar-pro"}
    events = run(frame(
        {**head, "reasoning_steps": [STEP], "choices": [{"delta": {"content": "A"}}]},
        {**head, "choices": [{"delta": {"content": ""}, "finish_reason": "stop"}]},
        {**head, "related_questions": ["Why?", "How?"], "images": ["https://i.example/x.jpg"]},
    ))
    answer = build_answer(events)
    assert answer.related == ("Why?", "How?")
    assert answer.images[0].url == "https://i.example/x.jpg"
    assert answer.steps[0].keywords == ("python 3.14 release",)
    assert isinstance(events[-1], Finished)


def test_search_results_without_citations_are_numbered_and_enrich_citations_by_url():
    events = run(frame({"search_results": RESULTS, "choices": [{"delta": {"content": "x"}}]}))
    assert [s.number for s in build_answer(events).sources] == [1, 2]
    events = run(frame({"citations": ["https://peps.python.org/pep-0745/",
                                      "https://docs.python.org/3.14/whatsnew"],
                        "search_results": RESULTS, "choices": [{"delta": {"content": "x"}}]}))
    sources = build_answer(events).sources
    assert [(s.number, s.title) for s in sources] == [(1, "PEP 745"), (2, "What's new")]


def test_eof_before_finish_is_incomplete_and_keeps_the_text():
    answer = build_answer(run(frame({"id": "x", "choices": [{"delta": {"content": "Half an"}}]})))
    assert answer.text == "Half an" and answer.finish_reason == "incomplete"


def test_newest_usage_is_flushed_before_a_failure():
    events = run(frame({"usage": {"prompt_tokens": 3, "completion_tokens": 1}},
                       {"usage": {"prompt_tokens": 3, "completion_tokens": 2}})
                 + b'event: error\ndata: {"message": "gone"}\n\n')
    assert [type(e) for e in events[-2:]] == [UsageUpdate, Failed]
    assert events[-2].usage.completion_tokens == 2


def test_error_event_mid_stream():
    events = run(frame({"choices": [{"delta": {"content": "Par"}}]})
                 + b'event: error\ndata: {"error": {"message": "overloaded",'
                 b' "type": "server_error", "code": 503}}\n\n')
    answer = build_answer(events)
    assert answer.text == "Par"
    assert answer.error.kind is ErrorKind.SERVER and answer.error.message == "overloaded"
    assert answer.error.partial is True


def test_payloads_without_blank_lines_between_them():
    body = (b'data: {"choices":[{"delta":{"content":"a"}}]}\n'
            b'data: {"choices":[{"delta":{"content":"b"},"finish_reason":"stop"}]}\n\n')
    answer = build_answer(run(body))
    assert (answer.text, answer.finish_reason) == ("ab", "stop")


def test_a_stream_with_nothing_readable_is_a_protocol_error():
    events = run(b"<html><body>Bad gateway</body></html>\n")
    assert len(events) == 1 and events[0].error.kind is ErrorKind.PROTOCOL
    events = run(b"data: not json\n\n")
    assert events[0].error.kind is ErrorKind.PROTOCOL and "not json" in events[0].error.message


def test_non_streaming_bodies():
    body = {"id": "n1", "model": "sonar-reasoning-pro", "usage": {"prompt_tokens": 1},
            "choices": [{"index": 0, "finish_reason": "stop", "message": {
                "content": "<think>\nweigh it\n</think>\n\n{\"answer\": 42}"}}]}
    answer = build_answer(parse_sonar_response(json.dumps(body).encode()))
    assert (answer.reasoning, answer.text) == ("weigh it\n", '{"answer": 42}')
    [failed] = parse_sonar_response(b"<html>oops</html>")
    assert failed.error.kind is ErrorKind.PROTOCOL
    [failed] = parse_sonar_response(b'{"error": {"message": "nope", "code": 400}}')
    assert failed.error.kind is ErrorKind.INVALID_REQUEST and failed.error.message == "nope"


# ----------------------------------------------------------------------------- repeated members

TRICKY = ['https://a.example/?q="]"&x=[1]', "https://b.example/ü", "https://c.example/\\"]
LISTS = [TRICKY, TRICKY + ["https://d.example/"], TRICKY[:1], [], None]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(LISTS), min_size=1, max_size=10), st.booleans(), st.booleans())
def test_repeated_citations_shortcut_is_exact(sequence, python, nested):
    """Citations skipped by their raw text must read exactly as if parsed every time."""
    payloads = []
    for citations in sequence:
        payload = {"id": "r", "choices": [{"delta": {"content": "x"}}]}
        if nested:  # an identical array under another object, before the top-level one
            payload["choices"][0]["message"] = {"citations": TRICKY}
        if citations is not None:
            payload["citations"] = citations
        payloads.append(payload)
    events = run(frame(*payloads, python=python))
    seen = [c for c in sequence if c is not None]
    expected = seen[-1] if seen else []
    assert [s.url for s in build_answer(events).sources] == expected
    changes = sum(1 for i, c in enumerate(seen) if c != (seen[i - 1] if i else []))
    assert sum(isinstance(e, SourcesUpdate) for e in events) == changes


# ----------------------------------------------------------------------------- synthetic


SAFE_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40).filter(
    lambda s: "<think>" not in s and "</think>" not in s)


@settings(max_examples=150, deadline=None)
@given(reasoning=SAFE_TEXT, answer=SAFE_TEXT, data=st.data())
def test_think_and_multibyte_text_survive_any_chunking(reasoning, answer, data):
    content = f"<think>{reasoning}</think>{answer}"
    cut_at = sorted(data.draw(st.lists(st.integers(0, len(content)), max_size=8)))
    deltas = [content[a:b] for a, b in zip([0, *cut_at], [*cut_at, len(content)], strict=True)]
    payloads = [{"id": "s", "model": "sonar-reasoning-pro",
                 "choices": [{"index": 0, "delta": {"content": d}}]} for d in deltas]
    payloads.append({"id": "s", "choices": [{"index": 0, "finish_reason": "stop",
                                             "delta": {"content": ""}}]})
    wire = frame(*payloads, done=data.draw(st.booleans()))
    byte_cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=30))
    result = build_answer(run(*chunks(wire, byte_cuts)))
    assert result.reasoning == reasoning.lstrip()
    assert result.text == answer.lstrip()
    assert result.finish_reason == "stop"


def test_text_events_are_never_empty():
    events = run(frame({"choices": [{"delta": {"content": "<think>"}}]},
                       {"choices": [{"delta": {"content": "</think>\n\n"}}]},
                       {"choices": [{"delta": {"content": "A"}}]}))
    assert [e.text for e in events if isinstance(e, (TextDelta, ReasoningDelta))] == ["A"]
    assert not any(isinstance(e, Failed) for e in events)
