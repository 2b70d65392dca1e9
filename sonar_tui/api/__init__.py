"""Talking to Perplexity: settings and questions in, typed answer events out. No Textual here.

- ``client.PerplexityClient.stream(request)``: the one door to the network (API choice,
  retries, timeouts, the Sonar-retirement switch); always ends with Finished or Failed.
- ``sonar`` / ``agent``: request builders (``build_sonar_body`` / ``build_agent_body``) and
  incremental parsers for the two wire formats; ``agent.agent_unsupported`` names settings
  the Agent API ignores.
- ``sse`` and ``think``: byte-level SSE decoding and ``<think>`` splitting.
- ``events``, ``settings``, ``errors``, ``conversation``: the shared contracts.

Nothing is imported here so that ``import sonar_tui.api.events`` stays cheap (no httpx).
"""
