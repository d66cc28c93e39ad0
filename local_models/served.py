"""Models served over an OpenAI-compatible HTTP API (Ollama, vLLM, llama.cpp's server, LM Studio, TGI).

``load(entry, path=None)`` gives a :class:`ServedGenerator` for a catalog or user entry whose
``format`` is ``served`` (its :class:`~local_models.catalog.Endpoint` names ``base_url`` and
``model``). ``generate`` renders the entry's prompt template, asks the server for ``n``
completions and returns :class:`~local_models.generation.Candidate` objects, so served
candidates take the same path as local ones (safety filter, Lean check, ranking).

* n-best: one request with ``n`` where the server honours it, else ``n`` concurrent requests
  with distinct seeds. ``n_mode = "auto"`` decides from the first answer (fewer choices than
  asked, or a 4xx about ``n``) and remembers it per server and model.
* Deadline and cancellation: the request's ``deadline`` and the endpoint's ``timeout_seconds``
  bound every call; when ``cancel`` is set (the user edited) or the deadline passes, the HTTP
  requests in flight are cancelled, which closes their connections, and what has arrived so far
  is returned.
* Only connection failures are retried (with exponential backoff, within the deadline). A
  server that stays unreachable is not tried again for a few seconds, so suggestions do not
  wait on it at every keystroke.
* Every failure is one :class:`ServedModelError` line naming the model, the server and what to
  do; nothing here blocks the event loop (``httpx.AsyncClient``).

The API key, when one is needed, is read from the environment variable the entry names
(``api_key_env``); it never appears in a configuration file or a log line.
"""
from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from local_models.catalog import Endpoint, ModelEntry, prompt_template
from local_models.errors import ModelError, ModelLoadError
from local_models.generation import Candidate, GenerationRequest, Role

log = logging.getLogger(__name__)

#: Attempts for a request whose connection fails (connection errors only), and the first backoff.
CONNECT_ATTEMPTS = 3
BACKOFF_SECONDS = 0.2
#: After the server was unreachable, fail fast for this long before trying it again.
DOWN_COOLDOWN_SECONDS = 5.0
#: Most concurrent requests per generate call in ``seeds`` mode.
MAX_CONCURRENCY = 8
#: The OpenAI API accepts at most this many stop strings; the rest are applied locally.
MAX_API_STOPS = 4
#: Timeout of the model-list check at load time.
LIST_TIMEOUT_SECONDS = 3.0

#: An error message about the ``n`` parameter ("'n' must be 1", "n > 1 is not supported", ...).
_MENTIONS_N = re.compile(r"(?<![\w.])['\"`]?n['\"`]?(?![\w.])")
#: (base_url, model) -> whether the server honours ``n`` (learned once per process).
_n_support: dict[tuple[str, str], bool] = {}
#: (base_url, model) whose server refused the ``logprobs`` parameter.
_no_logprobs: set[tuple[str, str]] = set()


class ServedModelError(ModelError):
    """A served model failed: the server is down, unknown model, bad answer... (one line)."""


@dataclass
class ServedStats:
    """Counters of the last :meth:`ServedGenerator.generate` call (for logs and benchmarks)."""

    requests: int = 0
    n_mode: str = ""
    choices: int = 0
    finish: str = ""  # "done", "deadline" or "cancelled"
    seconds: float = 0.0


@dataclass
class _Choice:
    text: str
    logprob: float | None
    rank: int


@dataclass
class _Collected:
    choices: list[_Choice] = field(default_factory=list)

    def add(self, items: Sequence[_Choice]) -> None:
        for item in items:
            self.choices.append(_Choice(item.text, item.logprob, len(self.choices)))


def _trust_env(base_url: str) -> bool:
    """Use the environment's proxy settings, except for a server on this machine (a proxy set
    without NO_PROXY would otherwise swallow requests to Ollama on 127.0.0.1)."""
    host = httpx.URL(base_url).host
    return host not in ("localhost", "127.0.0.1", "::1", "[::1]")


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_message(response: httpx.Response) -> str:
    """The server's error text (OpenAI-style ``{"error": {"message": ...}}`` or plain body)."""
    try:
        data = response.json()
    except ValueError:
        return _one_line(response.text)
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message", data)))
        if isinstance(err, dict):
            err = err.get("message", err)
        return _one_line(str(err))
    return _one_line(str(data))


class ServedGenerator:
    """A :class:`~local_models.generation.TacticGenerator` backed by an OpenAI-compatible server."""

    def __init__(self, entry: ModelEntry, *, template: Any = None) -> None:
        if entry.endpoint is None:
            raise ModelLoadError(f"{entry.id}: not a served model (no endpoint)")
        self.id = entry.id
        self.role: Role = entry.role
        self.endpoint: Endpoint = entry.endpoint
        self.template = template if template is not None else prompt_template(entry)
        self.base_url = self.endpoint.base_url.rstrip("/")
        self.model = self.endpoint.served_name
        self.last_stats = ServedStats()
        self._key = (self.base_url, self.model)
        self._clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
        self._down_until = 0.0
        self._down_reason = ""
        self._closed = False

    # ------------------------------------------------------------------ configuration

    def headers(self) -> dict[str, str]:
        """Request headers: the bearer key from ``api_key_env`` when one is named."""
        name = self.endpoint.api_key_env
        if not name:
            return {}
        key = os.environ.get(name)
        if not key:
            raise ServedModelError(f"{self.id}: environment variable {name} (api_key_env) is not set")
        return {"Authorization": f"Bearer {key}"}

    def api(self, request: GenerationRequest) -> str:
        """``chat`` or ``completions`` for this request."""
        if self.endpoint.api != "auto":
            return self.endpoint.api
        messages = getattr(self.template, "messages", None)
        return "chat" if callable(messages) and messages(request) is not None else "completions"

    def stops(self) -> tuple[str, ...]:
        """Stop strings: the template's, and a newline for single-tactic models."""
        stops = list(getattr(self.template, "stop", ()) or ())
        if self.role == "tactic" and "\n" not in stops:
            stops.insert(0, "\n")
        return tuple(dict.fromkeys(s for s in stops if s))

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            for other in [lp for lp in self._clients if lp.is_closed()]:
                self._clients.pop(other, None)  # clients of finished loops: their sockets are gone
            limits = httpx.Limits(max_connections=MAX_CONCURRENCY * 2, max_keepalive_connections=MAX_CONCURRENCY)
            client = httpx.AsyncClient(base_url=self.base_url, limits=limits, trust_env=_trust_env(self.base_url))
            self._clients[loop] = client
        return client

    # ------------------------------------------------------------------ one HTTP call

    def _body(self, request: GenerationRequest, api: str, *, n: int | None, seed: int | None,
              temperature: float) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "max_tokens": max(1, request.max_tokens),
                                "temperature": temperature}
        stops = self.stops()
        if stops:
            body["stop"] = list(stops[:MAX_API_STOPS])
        if n is not None and n > 1:
            body["n"] = n
        if seed is not None:
            body["seed"] = seed
        logprobs = self._key not in _no_logprobs
        if api == "chat":
            messages = self.template.messages(request) if callable(getattr(self.template, "messages", None)) else None
            if messages is None:
                messages = [{"role": "user", "content": self.template.render(request)}]
            else:
                messages = [{"role": m.role, "content": m.content} for m in messages]
            body["messages"] = messages
            if logprobs:
                body["logprobs"] = True
        else:
            body["prompt"] = self.template.render(request)
            if logprobs:
                body["logprobs"] = 1
        return body

    async def _post(self, path: str, body: dict[str, Any], deadline: float) -> dict[str, Any]:
        """POST with retries on connection failures only; errors become one-line ServedModelErrors."""
        now = time.monotonic()
        if now < self._down_until:
            raise ServedModelError(self._down_reason)
        headers = self.headers()
        delay = BACKOFF_SECONDS
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise asyncio.TimeoutError
            timeout = httpx.Timeout(remaining, connect=min(remaining, 5.0))
            try:
                response = await self._client().post(path, json=body, headers=headers, timeout=timeout)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt < CONNECT_ATTEMPTS and time.monotonic() + delay < deadline:
                    log.debug("%s: connecting to %s failed (%s); retry %d in %.1f s",
                              self.id, self.base_url, exc, attempt, delay)
                    await asyncio.sleep(delay)
                    delay *= 2
                    continue
                self._down_reason = (f"{self.id}: cannot reach the model server at {self.base_url} "
                                     f"({_one_line(str(exc) or type(exc).__name__, 80)}): is it running? "
                                     "(e.g. `ollama serve`; see docs/served-models.md)")
                self._down_until = time.monotonic() + DOWN_COOLDOWN_SECONDS
                raise ServedModelError(self._down_reason) from None
            except httpx.TimeoutException:
                raise asyncio.TimeoutError from None
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                raise ServedModelError(f"{self.id}: the model server at {self.base_url} closed the connection "
                                       f"mid-response ({type(exc).__name__})") from None
            except httpx.HTTPError as exc:
                raise ServedModelError(f"{self.id}: request to {self.base_url} failed: "
                                       f"{type(exc).__name__}: {_one_line(str(exc), 120)}") from None
            return self._read(response, path)
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, response: httpx.Response, path: str) -> dict[str, Any]:
        status = response.status_code
        if status >= 400:
            message = _error_message(response)
            where = f"{self.base_url}{path}"
            if status in (401, 403):
                hint = (f"check {self.endpoint.api_key_env}" if self.endpoint.api_key_env
                        else "set api_key_env to the variable holding the key")
                raise ServedModelError(f"{self.id}: {where} refused the request (HTTP {status}: {message}); {hint}")
            lowered = message.lower()
            if (status == 404 and "model" in lowered) or (status == 400 and "model" in lowered
                                                           and "not found" in lowered):
                raise UnknownServedModel(f"{self.id}: the server at {self.base_url} has no model {self.model!r} "
                                         f"({message}); {self._pull_hint()}")
            raise HTTPStatus(status, f"{self.id}: {where} answered HTTP {status}: {message}")
        try:
            data = response.json()
        except ValueError:
            raise ServedModelError(f"{self.id}: {self.base_url}{path} did not answer JSON "
                                   f"(got {_one_line(response.text, 60)!r}); is base_url the /v1 endpoint?") from None
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise ServedModelError(f"{self.id}: {self.base_url}{path} answered JSON without 'choices' "
                                   f"({_one_line(str(data), 80)}); is it an OpenAI-compatible server?")
        return data

    def _pull_hint(self) -> str:
        name = self.endpoint.ollama_name
        if name:
            return f"run `ollama pull {name}`"
        return "check the model name (models.custom.<id>.model) against the server's /v1/models list"

    @staticmethod
    def _choices(data: dict[str, Any], api: str) -> list[_Choice]:
        out: list[_Choice] = []
        for index, choice in enumerate(data["choices"]):
            if not isinstance(choice, dict):
                raise ServedModelError(f"an answer's choice is not an object: {_one_line(str(choice), 60)}")
            if api == "chat":
                message = choice.get("message") or {}
                text = message.get("content") if isinstance(message, dict) else None
            else:
                text = choice.get("text")
            if not isinstance(text, str):
                raise ServedModelError(f"an answer's choice has no text: {_one_line(str(choice), 80)}")
            out.append(_Choice(text, _logprob(choice.get("logprobs")), index))
        return out

    async def _ask(self, request: GenerationRequest, api: str, deadline: float, *, n: int | None,
                   seed: int | None, temperature: float) -> list[_Choice]:
        path = "/chat/completions" if api == "chat" else "/completions"
        body = self._body(request, api, n=n, seed=seed, temperature=temperature)
        try:
            data = await self._post(path, body, deadline)
        except HTTPStatus as exc:
            text = str(exc).lower()
            if exc.status in (400, 422) and "logprob" in text and ("logprobs" in body):
                _no_logprobs.add(self._key)
                log.info("%s: %s does not take logprobs; ranking by answer order", self.id, self.base_url)
                body.pop("logprobs", None)
                data = await self._post(path, body, deadline)
            elif exc.status in (400, 422) and n is not None and n > 1 and _MENTIONS_N.search(text):
                raise _NRefused() from None
            else:
                raise
        return self._choices(data, api)

    # ------------------------------------------------------------------ n-best

    async def _native(self, request: GenerationRequest, api: str, n: int, deadline: float,
                      out: _Collected, temperature: float) -> bool:
        """One request with ``n``; returns whether the server gave more than one choice."""
        try:
            choices = await self._ask(request, api, deadline, n=n, seed=None, temperature=temperature)
        except _NRefused:
            return False
        self.last_stats.requests += 1
        out.add(choices)
        return len(choices) > 1

    async def _seeds(self, request: GenerationRequest, api: str, seeds: Sequence[int], deadline: float,
                     out: _Collected, temperature: float) -> None:
        """One request per seed, at most :data:`MAX_CONCURRENCY` at a time."""
        gate = asyncio.Semaphore(MAX_CONCURRENCY)
        errors: list[BaseException] = []

        async def one(seed: int) -> None:
            async with gate:
                try:
                    choices = await self._ask(request, api, deadline, n=None, seed=seed, temperature=temperature)
                except (ServedModelError, asyncio.TimeoutError) as exc:
                    errors.append(exc)
                    return
                self.last_stats.requests += 1
                out.add(choices)

        await asyncio.gather(*(one(s) for s in seeds))
        if errors and not out.choices:
            raise errors[0]

    async def _collect(self, request: GenerationRequest, deadline: float, out: _Collected) -> None:
        n = max(1, request.n)
        api = self.api(request)
        temperature = 0.0 if n == 1 else self.endpoint.temperature
        mode = self.endpoint.n_mode
        if mode == "auto":
            known = _n_support.get(self._key)
            mode = "auto" if known is None else ("native" if known else "seeds")
        self.last_stats.n_mode = mode
        if n == 1:
            out.add(await self._ask(request, api, deadline, n=None, seed=None, temperature=temperature))
            self.last_stats.requests += 1
            return
        if mode in ("native", "auto"):
            honoured = await self._native(request, api, n, deadline, out, temperature)
            if mode == "native" or honoured:
                if mode == "auto":
                    _n_support[self._key] = True
                    self.last_stats.n_mode = "native"
                return
            _n_support[self._key] = False
            self.last_stats.n_mode = "seeds"
            log.info("%s: %s ignores or refuses n; asking with one request per candidate from now on",
                     self.id, self.base_url)
            await self._seeds(request, api, range(1, n - len(out.choices) + 1), deadline, out, temperature)
            return
        await self._seeds(request, api, range(n), deadline, out, temperature)

    def _candidates(self, collected: _Collected, request: GenerationRequest) -> list[Candidate]:
        kind = "proof" if self.role == "whole-proof" else "tactic"
        stops = self.stops()
        best: dict[str, Candidate] = {}
        for choice in collected.choices:
            text = choice.text
            for stop in stops:
                cut = text.find(stop)
                if cut >= 0 and (kind == "tactic" or stop != "\n"):
                    text = text[:cut]
            cleaned = self.template.postprocess(text, request)
            if not cleaned or "\ufffd" in cleaned:
                continue
            score = choice.logprob if choice.logprob is not None else -1.0 - choice.rank
            if not math.isfinite(score):
                continue
            if cleaned not in best or score > best[cleaned].score:
                best[cleaned] = Candidate(text=cleaned, score=score, source=self.id, kind=kind)
        return sorted(best.values(), key=lambda c: c.score, reverse=True)[: max(1, request.n)]

    # ------------------------------------------------------------------ TacticGenerator

    async def generate(self, request: GenerationRequest, cancel: asyncio.Event | None = None) -> list[Candidate]:
        """Up to ``request.n`` candidates, best first; returns early (with what arrived) on cancel or deadline."""
        if self._closed:
            raise ServedModelError(f"{self.id}: generator is closed")
        started = time.monotonic()
        deadline = started + self.endpoint.timeout_seconds
        if request.deadline is not None:
            deadline = min(deadline, request.deadline)
        self.last_stats = ServedStats()
        collected = _Collected()
        work = asyncio.ensure_future(self._collect(request, deadline, collected))
        waiter = asyncio.ensure_future(cancel.wait()) if cancel is not None else None
        try:
            pending = {work} | ({waiter} if waiter else set())
            done, _ = await asyncio.wait(pending, timeout=max(0.0, deadline - time.monotonic()),
                                         return_when=asyncio.FIRST_COMPLETED)
            if work in done:
                self.last_stats.finish = "done"
                try:
                    work.result()
                except asyncio.TimeoutError:
                    self.last_stats.finish = "deadline"
                except ServedModelError:
                    if not collected.choices:
                        raise
                    log.warning("%s: some requests failed; keeping %d answers", self.id, len(collected.choices))
            else:
                self.last_stats.finish = "cancelled" if waiter is not None and waiter in done else "deadline"
                log.debug("%s: %s after %.2f s with %d answers", self.id, self.last_stats.finish,
                          time.monotonic() - started, len(collected.choices))
        finally:
            for task in (work, waiter):
                if task is not None and not task.done():
                    task.cancel()  # closes the HTTP connections of requests still in flight
            await asyncio.gather(*(t for t in (work, waiter) if t is not None), return_exceptions=True)
        self.last_stats.choices = len(collected.choices)
        self.last_stats.seconds = time.monotonic() - started
        return self._candidates(collected, request)

    def close(self) -> None:
        """Close the HTTP clients (idempotent; a client of another running loop is closed there)."""
        self._closed = True
        clients, self._clients = self._clients, {}
        for loop, client in clients.items():
            if client.is_closed or loop.is_closed():
                continue
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                loop.create_task(client.aclose())
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(client.aclose(), loop)
            else:
                loop.run_until_complete(client.aclose())


class UnknownServedModel(ServedModelError):
    """The server does not know the model name."""


class HTTPStatus(ServedModelError):
    """The server answered with an HTTP error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _NRefused(Exception):
    """The server refused the ``n`` parameter."""


def _logprob(logprobs: Any) -> float | None:
    """Summed token log-probabilities of a choice (completions or chat shape), or None."""
    if not isinstance(logprobs, dict):
        return None
    values: list[Any] = []
    if isinstance(logprobs.get("token_logprobs"), list):
        values = logprobs["token_logprobs"]
    elif isinstance(logprobs.get("content"), list):
        values = [t.get("logprob") for t in logprobs["content"] if isinstance(t, dict)]
    numbers = [float(v) for v in values if isinstance(v, (int, float))]
    return sum(numbers) if numbers else None


# --------------------------------------------------------------------------- loading


def served_models(base_url: str, headers: dict[str, str], timeout: float = LIST_TIMEOUT_SECONDS) -> list[str] | None:
    """The model names ``GET {base_url}/models`` lists, or None when the server cannot be asked (blocking)."""
    try:
        response = httpx.get(base_url.rstrip("/") + "/models", headers=headers, timeout=timeout,
                             trust_env=_trust_env(base_url))
    except httpx.HTTPError:
        return None
    if response.status_code in (401, 403):
        raise ServedModelError(f"{base_url}/models refused the request (HTTP {response.status_code}): "
                               f"{_error_message(response)}")
    if response.status_code >= 400:
        return None
    try:
        data = response.json()
    except ValueError:
        return None
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return None
    return [str(m.get("id")) for m in items if isinstance(m, dict) and m.get("id")]


def _same_name(wanted: str, listed: str) -> bool:
    return listed == wanted or listed == f"{wanted}:latest" or wanted == f"{listed}:latest"


def load(entry: ModelEntry, path: Any = None, *, template: Any = None, check: bool = True) -> ServedGenerator:
    """A generator for a served entry (blocking: checks the server's model list when it answers).

    A server that does not answer is not an error here (it may start later: requests then fail
    with one clear line each); a server that answers without the model is a :class:`ModelLoadError`.
    """
    generator = ServedGenerator(entry, template=template)
    try:
        headers = generator.headers()
    except ServedModelError as exc:
        raise ModelLoadError(str(exc)) from None
    if check:
        try:
            names = served_models(generator.base_url, headers)
        except ServedModelError as exc:
            raise ModelLoadError(f"{entry.id}: {exc}") from None
        if names is None:
            log.warning("%s: the model server at %s does not answer now; will try at each request",
                        entry.id, generator.base_url)
        elif names and not any(_same_name(generator.model, n) for n in names):
            shown = ", ".join(names[:8]) + (", …" if len(names) > 8 else "")
            raise ModelLoadError(f"{entry.id}: the server at {generator.base_url} has no model "
                                 f"{generator.model!r} (it serves: {shown}); {generator._pull_hint()}")
    log.info("%s: served by %s as %r", entry.id, generator.base_url, generator.model)
    return generator
