"""SSE decoding from raw bytes cut anywhere."""

from hypothesis import given, settings
from hypothesis import strategies as st

from sonar_tui.api.sse import SseDecoder, SseEvent

from .wire import chunks


def decode(*pieces: bytes) -> list[SseEvent]:
    decoder = SseDecoder()
    events = []
    for piece in pieces:
        events += decoder.feed(piece)
    return events + decoder.close()


def test_data_with_and_without_space_and_event_names():
    events = decode(b'data: {"a":1}\n\ndata:{"b":2}\n\nevent: response.created\ndata: x\n\n')
    assert events == [SseEvent("", '{"a":1}'), SseEvent("", '{"b":2}'),
                      SseEvent("response.created", "x")]


def test_multi_line_data_is_joined_with_newlines():
    assert decode(b"data: one\ndata: two\ndata:\ndata\n\n") == [SseEvent("", "one\ntwo\n\n")]


def test_comments_pings_id_retry_and_blank_lines_are_not_events():
    stream = b": ping\n\n\n\nid: 7\nretry: 1000\n: keep-alive\ndata: real\n\n\n"
    assert decode(stream) == [SseEvent("", "real")]


def test_event_name_does_not_leak_into_the_next_event():
    assert decode(b"event: error\ndata: a\n\ndata: b\n\n") == [SseEvent("error", "a"),
                                                            SseEvent("", "b")]


def test_an_event_name_alone_is_not_an_event():
    assert decode(b"event: ping\n\n") == []


def test_crlf_and_bare_cr_line_endings():
    assert decode(b"data: a\r\n\r\ndata: b\r\rdata: c\n\n") == [
        SseEvent("", "a"), SseEvent("", "b"), SseEvent("", "c")]


def test_crlf_split_between_reads_is_one_line_ending():
    # "\r" ends one read and "\n" starts the next: still one line ending, so the two data
    # lines belong to one event.
    assert decode(b"data: a\r", b"\ndata: b\r\n\r\n") == [SseEvent("", "a\nb")]


def test_multibyte_utf8_split_inside_a_character():
    payload = "data: Zürich 東京 🎉\n\n".encode()
    at = payload.index("東".encode()) + 1
    assert decode(payload[:at], payload[at:]) == [SseEvent("", "Zürich 東京 🎉")]


def test_unicode_line_separators_inside_json_do_not_split_lines():
    # JSON.stringify leaves U+2028 raw; only \r and \n end SSE lines.
    assert decode('data: {"t":"a\u2028b\x85c"}\n\n'.encode()) == [
        SseEvent("", '{"t":"a\u2028b\x85c"}')]


def test_open_event_at_end_of_stream_is_delivered():
    assert decode(b"data: last") == [SseEvent("", "last")]
    assert decode(b"data: last\n") == [SseEvent("", "last")]


def test_leading_byte_order_mark_is_ignored():
    assert decode("\ufeffdata: x\n\n".encode()) == [SseEvent("", "x")]


STREAM = ("event: response.created\r\ndata: {\"x\": \"é—🎉\"}\r\n\r\n: ping\n\n"
          "data: line one\ndata: line two\n\ndata:[DONE]\n\n").encode()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, len(STREAM)), max_size=40))
def test_any_cut_gives_the_same_events(cuts):
    assert decode(*chunks(STREAM, cuts)) == decode(STREAM)


def test_one_byte_at_a_time():
    assert decode(*(STREAM[i:i + 1] for i in range(len(STREAM)))) == [
        SseEvent("response.created", '{"x": "é—🎉"}'),
        SseEvent("", "line one\nline two"),
        SseEvent("", "[DONE]"),
    ]
