"""The ``token_cold`` case."""

from __future__ import annotations

from harness import CaseResult, Context, druva_medians, run_workers, time_table


def case_token_cold(context: Context) -> CaseResult:
    clients = ["druva", "requests_oauthlib", "authlib_httpx", "oauthlib_sample"]
    samples = run_workers(context, "token_cold", clients, context.config())
    labels = {
        "druva": "druva `get_token(force_refresh=True)`",
        "requests_oauthlib": "requests_oauthlib `fetch_token` (kept session)",
        "authlib_httpx": "Authlib httpx `OAuth2Client.fetch_token`",
        "oauthlib_sample": "oauthlib sample `getToken()` (new session a call)",
    }
    headers, rows = time_table(samples, labels, "µs")
    return CaseResult(
        "token_cold",
        "Cold token exchange",
        "One `POST /token` (client credentials, Basic auth) and the token parsed, every call.",
        headers,
        rows,
        druva=druva_medians(samples, "/ call"),
    )
