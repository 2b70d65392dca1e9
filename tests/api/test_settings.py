"""The one set of rules that validates request and connection settings."""

from sonar_tui.api.settings import (
    ConnectionSettings,
    RequestSettings,
    parse_filter_date,
    validate_connection_settings,
    validate_request_settings,
)


def problems(**kwargs) -> dict[str, str]:
    return {p.field: p.message for p in validate_request_settings(RequestSettings(**kwargs))}


def test_defaults_are_valid():
    assert validate_request_settings(RequestSettings()) == []
    assert validate_connection_settings(ConnectionSettings()) == []


def test_dates_use_month_day_year_and_must_exist():
    assert parse_filter_date("3/1/2025").isoformat() == "2025-03-01"
    assert parse_filter_date("03/01/2025").isoformat() == "2025-03-01"
    assert parse_filter_date("2025-03-01") is None
    assert parse_filter_date("02/30/2025") is None
    assert "published_after" in problems(published_after="2025-03-01")


def test_recency_and_dates_are_exclusive_and_say_why():
    msg = problems(recency="week", updated_after="01/01/2025")["recency"]
    assert "date filters" in msg


def test_after_must_not_follow_before():
    assert "published_before" in problems(published_after="05/01/2025",
                                          published_before="04/01/2025")


def test_domain_filter_rules():
    assert problems(domain_filter=["nature.com", "https://docs.python.org/3/"]) == {}
    assert "mixes" in problems(domain_filter=["nature.com", "-reddit.com"])["domain_filter"]
    assert "at most 20" in problems(domain_filter=[f"d{i}.com" for i in range(21)])["domain_filter"]
    assert "not a domain" in problems(domain_filter=["not a domain"])["domain_filter"]
    assert "http(s)" in problems(domain_filter=["ftp://x.org"])["domain_filter"]


def test_sampling_ranges():
    assert "temperature" in problems(temperature=2.0)
    assert problems(temperature=0.0) == {}
    assert "top_p" in problems(top_p=1.5)
    assert "max_tokens" in problems(max_tokens=0)


def test_response_format_needs_a_valid_schema_or_regex():
    def schema_problem(response_format: str, schema: str) -> str:
        return problems(response_format=response_format,
                        response_schema=schema)["response_schema"]

    assert "not valid JSON" in schema_problem("json_schema", "{")
    assert "JSON object" in schema_problem("json_schema", "[1]")
    assert problems(response_format="json_schema", response_schema='{"type": "object"}') == {}
    assert "invalid regular expression" in schema_problem("regex", "(")


def test_pro_search_only_on_sonar_pro_but_custom_models_pass():
    assert "search_type" in problems(search_type="pro", model="sonar")
    assert problems(search_type="pro", model="sonar-pro") == {}
    assert problems(search_type="pro", model="perplexity/sonar-pro-gateway") == {}


def test_overrides_round_trip():
    base = RequestSettings()
    mine = base.with_overrides({"model": "sonar-pro", "recency": "day", "bogus": 1})
    assert mine.diff(base) == {"model": "sonar-pro", "recency": "day"}
    assert RequestSettings.from_dict(mine.to_dict()) == mine


def test_agent_model_mapping_and_override():
    assert RequestSettings(model="sonar").resolved_agent_model() == "fast"
    assert RequestSettings(model="sonar-deep-research").resolved_agent_model() == "high"
    settings = RequestSettings(model="sonar", agent_model="openai/gpt-5.2")
    assert settings.resolved_agent_model() == "openai/gpt-5.2"


def test_agent_effort_is_a_level_or_a_pinned_level():
    assert problems(agent_effort="xhigh") == {}
    assert problems(agent_effort="fast@2026-10-16.0") == {}
    assert "agent_effort" in problems(agent_effort="turbo")
    assert "agent_effort" in problems(agent_effort="fast@")
    assert RequestSettings(agent_effort="low").agent_target() == ("low", "")
    assert RequestSettings(model="sonar-pro").agent_target() == ("low", "")
    assert RequestSettings(agent_model="a/b").agent_target() == ("", "a/b")
    assert RequestSettings(agent_model="a/b", agent_effort="high").agent_target() == ("high", "a/b")
    assert RequestSettings(agent_model="deep-research").agent_target() == ("medium", "")


def test_research_efforts_get_the_research_idle_timeout():
    assert RequestSettings(agent_effort="high").is_deep_research
    assert RequestSettings(agent_effort="xhigh@2026-10-16.0").is_deep_research
    assert not RequestSettings(agent_effort="low").is_deep_research


def test_auto_mode_remembers_retired_endpoints():
    conn = ConnectionSettings(agent_endpoints=["https://api.perplexity.ai/"])
    assert conn.uses_agent()
    assert not ConnectionSettings().uses_agent()
    assert ConnectionSettings(api_mode="agent").uses_agent()
