"""Prompt templates per model family: render a request, stop sequences, clean the output.

Every template is a :class:`PromptTemplate`:

* ``render(request) -> str`` gives the exact text fed to a completion API (chat templates
  are rendered here deterministically, so tests pin them byte for byte);
* ``messages(request)`` gives the chat turns for chat models (``None`` for plain completion),
  for backends that prefer the GGUF's own chat template (``create_chat_completion``);
* ``stop`` are the stop strings (the backend also stops on the model's end-of-sequence token);
* ``postprocess(output, request) -> str | None`` turns one raw generation into the candidate
  text (a tactic, or for whole-proof models the proof body after ``:= by``), or ``None`` when the
  output is unusable.

Formats follow ``docs/models.md`` (shared research notes §1.2). Look one up with
:func:`get_template`; build a user's own with :func:`inline_template`.
"""
from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from local_models.generation import GenerationRequest

ChatFormat = Literal["chatml", "qwen3", "deepseek"]
OutputKind = Literal["tactic", "proof"]


@dataclass(frozen=True)
class ChatMessage:
    """One chat turn."""

    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class PromptTemplate:
    """How one model family wants its prompt and how to read its answer."""

    name: str
    kind: OutputKind
    build: Callable[[GenerationRequest], str | list[ChatMessage]]
    stop: tuple[str, ...] = ()
    chat: ChatFormat | None = None
    clean: Callable[[str, GenerationRequest], str | None] = field(default=lambda text, _req: _first_tactic(text))
    description: str = ""

    def messages(self, request: GenerationRequest) -> list[ChatMessage] | None:
        """The chat turns for a chat template; ``None`` for a plain-completion template."""
        built = self.build(request)
        return built if isinstance(built, list) else None

    def render(self, request: GenerationRequest) -> str:
        """The exact prompt text for a completion API (chat turns rendered for ``self.chat``)."""
        built = self.build(request)
        if isinstance(built, str):
            return built
        if self.chat is None:
            raise ValueError(f"template {self.name!r} builds chat turns but names no chat format")
        return render_chat(built, self.chat)

    def postprocess(self, output: str, request: GenerationRequest) -> str | None:
        """The candidate text from one raw generation, or ``None`` if there is none."""
        for stop in self.stop:
            cut = output.find(stop)
            if cut >= 0:
                output = output[:cut]
        return self.clean(output, request)


class UnknownTemplate(KeyError):
    """No template of that name."""

    def __str__(self) -> str:
        return f"unknown prompt template {self.args[0]!r}; known: {', '.join(sorted(TEMPLATES))}"


# --------------------------------------------------------------------------- chat formats

CHAT_STOPS: dict[ChatFormat, tuple[str, ...]] = {
    "chatml": ("<|im_end|>", "<|endoftext|>"),
    "qwen3": ("<|im_end|>", "<|endoftext|>"),
    "deepseek": ("<｜end▁of▁sentence｜>",),
}


def render_chat(messages: Sequence[ChatMessage], chat: ChatFormat) -> str:
    """Render chat turns plus the assistant generation prompt in one family's format.

    ``chatml``/``qwen3``: ``<|im_start|>{role}\\n{content}<|im_end|>\\n`` per turn, then
    ``<|im_start|>assistant\\n`` (Qwen3 with thinking enabled, the default). ``deepseek``: the
    DeepSeek-V3-style template ``{system}<｜User｜>{user}<｜Assistant｜>``. The BOS token is
    not written: the tokenizer adds it (llama.cpp does for GGUFs whose ``add_bos_token`` is set),
    so text rendered here is tokenized with special tokens parsed and BOS added once.
    """
    if chat in ("chatml", "qwen3"):
        turns = [f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in messages]
        return "".join(turns) + "<|im_start|>assistant\n"
    if chat == "deepseek":
        system = "".join(m.content for m in messages if m.role == "system")
        out = [system]
        for m in messages:
            if m.role == "user":
                out.append(f"<｜User｜>{m.content}")
            elif m.role == "assistant":
                out.append(f"<｜Assistant｜>{m.content}<｜end▁of▁sentence｜>")
        out.append("<｜Assistant｜>")
        return "".join(out)
    raise ValueError(f"unknown chat format {chat!r}")


# --------------------------------------------------------------------------- output helpers

_FENCE = re.compile(r"```[ \t]*(?:lean4|lean)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)


def _first_tactic(text: str) -> str | None:
    """A step model's output as one tactic: surrounding blank lines and spaces removed."""
    text = text.strip("\n").rstrip()
    text = text.strip() if "\n" not in text else text
    return text or None


def last_lean_block(text: str) -> str | None:
    """The code of the last ```` ```lean4 ```` (or ```` ```lean ````) block; an unclosed final block counts."""
    blocks = _FENCE.findall(text)
    return blocks[-1] if blocks else None


def proof_body(code: str, request: GenerationRequest) -> str | None:
    """The text after the statement's ``:= by`` in a whole declaration the model wrote.

    The statement is found verbatim (``request.statement``), or else by the theorem's name
    followed by its first ``:= by``. Returning only the body means the caller splices it under
    the user's own statement, so a model that altered the statement cannot change it.
    """
    start = -1
    statement = request.statement.strip()
    if statement and statement in code:
        start = code.index(statement) + len(statement)
        if not statement.endswith("by"):
            by = code.find(":= by", start)
            start = by + len(":= by") if by >= 0 else -1
    elif request.theorem_name:
        short = request.theorem_name.rsplit(".", 1)[-1]
        found = re.search(rf"\b(?:theorem|lemma|example)\s+{re.escape(short)}\b", code)
        if found:
            by = code.find(":= by", found.end())
            start = by + len(":= by") if by >= 0 else -1
    if start < 0:
        return None
    body = code[start:].rstrip()
    body = re.sub(r"\n```\s*\Z", "", body).rstrip()
    return body if body.strip() and body.strip() != "sorry" else None


def _strip_premise_markers(text: str, _request: GenerationRequest) -> str | None:
    return _first_tactic(text.replace("<a>", "").replace("</a>", ""))


def _after_triple_colon(text: str, _request: GenerationRequest) -> str | None:
    if ":::" in text:
        text = text.split(":::", 1)[1]
    return _first_tactic(text)


def _chat_tactic(text: str, _request: GenerationRequest) -> str | None:
    """A general chat model's answer: code fences and backticks around the tactic removed."""
    text = re.sub(r"^```[a-z0-9]*\s*|```\s*$", "", text.strip()).strip().strip("`").strip()
    return _first_tactic(text)


def _fenced_proof(text: str, request: GenerationRequest) -> str | None:
    code = last_lean_block(text)
    return proof_body(code, request) if code is not None else None


def _completion_proof(text: str, request: GenerationRequest) -> str | None:
    """DeepSeek-V1.5 continues right after ``:= by``: its output is the body itself."""
    body = text.rstrip()
    return body if body.strip() and body.strip() != "sorry" else None


# --------------------------------------------------------------------------- shared pieces

#: DeepSeek-Prover-V1.5's default file header.
DEEPSEEK_V15_HEADER = (
    "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0\n\n"
    "open BigOperators Real Nat Topology Rat\n\n"
)
#: The header the DeepSeek-V2 / Goedel-V2 / Kimina examples use.
MINIF2F_HEADER = (
    "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\n"
    "open BigOperators Real Nat Topology Rat\n\n"
)
#: ReProver's input limit in bytes.
REPROVER_MAX_BYTES = 2300
DEEPSEEK_V2_PLAN = (
    "Before producing the Lean 4 code to formally prove the given theorem, provide a detailed "
    "proof plan outlining the main proof steps and strategies.\nThe plan should highlight key "
    "ideas, intermediate lemmas, and proof structures that will guide the construction of the "
    "final formal proof."
)
KIMINA_SYSTEM = "You are an expert in mathematics and Lean 4."


def _header(request: GenerationRequest, default: str) -> str:
    """The file text before the statement: the request's file context, else a default header."""
    if request.file_context:
        return request.file_context if request.file_context.endswith("\n") else request.file_context + "\n"
    return default


def _utf8_prefix(text: str, limit: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 encoding fits in ``limit`` bytes."""
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


# --------------------------------------------------------------------------- builders


def reprover_input(request: GenerationRequest) -> str:
    """ReProver ByT5 input: ``"\\n\\n".join(premises + [state])`` within 2300 UTF-8 bytes.

    Premises are kept in the given order (most relevant first) while they fit beside the
    whole state; a state longer than the limit alone is cut to its first 2300 bytes.
    """
    budget = REPROVER_MAX_BYTES - len(request.goal.encode("utf-8"))
    kept: list[str] = []
    for premise in request.premises:
        cost = len(premise.encode("utf-8")) + 2
        if cost > budget:
            break
        kept.append(premise)
        budget -= cost
    return _utf8_prefix("\n\n".join([*kept, request.goal]), REPROVER_MAX_BYTES)


def bfs_prompt(request: GenerationRequest) -> str:
    """BFS-Prover (V1 and V2): ``{state}:::``."""
    return f"{request.goal}:::"


def internlm_step_prompt(request: GenerationRequest) -> str:
    """InternLM2.5-StepProver plain completion (NAME / PROOF_BEFORE / STATE_BEFORE / TACTIC)."""
    return (
        f"---\nNAME: {request.theorem_name}\n\n---\nPROOF_BEFORE: {request.proof_prefix}\n\n"
        f"---\nSTATE_BEFORE: {request.goal}\n\n---\nTACTIC: "
    )


def llmstep_prompt(request: GenerationRequest) -> str:
    """llmstep (Pythia-2.8B): ``[GOAL]{state}[PROOFSTEP]`` (no typed tactic prefix in a request)."""
    return f"[GOAL]{request.goal}[PROOFSTEP]"


LLMLEAN_INSTRUCTION = (
    "/- You are proving a theorem in Lean 4.\n"
    "You are given the following information:\n"
    "- The file contents up to the current tactic, inside [CTX]...[/CTX]\n"
    "- The current proof state, inside [STATE]...[/STATE]\n\n"
    "Your task is to generate the next tactic in the proof.\n"
    "Put the next tactic inside [TAC]...[/TAC].\n-/\n"
)


def llmlean_prompt(request: GenerationRequest) -> str:
    """LLMLean ``llmstep`` Instruction prompt, ending ``[CTX]..[/CTX]\\n[STATE]..[/STATE]\\n[TAC]\\n``.

    Text as in cmu-l3/llmlean ``LLMlean/API/Prompts.lean`` ``makePromptsInstruct``, with an
    empty tactic prefix (a request carries none).
    """
    return (
        f"{LLMLEAN_INSTRUCTION}[CTX]\n{request.file_context}\n[/CTX]\n"
        f"[STATE]\n{request.goal}\n[/STATE]\n[TAC]\n"
    )


def deepseek_v15_prompt(request: GenerationRequest) -> str:
    """DeepSeek-Prover-V1.5 non-CoT completion; the statement ends with ``:= by`` (no sorry)."""
    return (
        "Complete the following Lean 4 code:\n\n```lean4\n"
        + _header(request, DEEPSEEK_V15_HEADER)
        + request.statement
    )


def _statement_with_sorry(request: GenerationRequest) -> str:
    return _header(request, MINIF2F_HEADER) + request.statement + "\n  sorry"


def deepseek_v2_messages(request: GenerationRequest) -> list[ChatMessage]:
    """DeepSeek-Prover-V2 / Goedel-Prover-V2 user turn: complete the code after a proof plan."""
    user = (
        f"Complete the following Lean 4 code:\n```lean4\n{_statement_with_sorry(request)}\n```\n"
        + DEEPSEEK_V2_PLAN
    )
    return [ChatMessage("user", user), *feedback_turns(request)]


#: Our own error-feedback wording: no model card documents a format for it.
FEEDBACK_REQUEST = (
    "Lean 4 rejected this proof with the following errors:\n{error}\n"
    "Write a corrected complete proof in a ```lean4 block."
)


def feedback_turns(request: GenerationRequest) -> list[ChatMessage]:
    """Previous attempts and Lean's errors as assistant/user turns (for ``feedback_rounds``).

    Each attempt becomes the assistant's earlier answer (the statement followed by the attempt's
    proof body, unless the attempt already holds the statement) and a user turn quoting Lean's
    error. The wording is ours; the models were not trained on a documented feedback format.
    """
    turns: list[ChatMessage] = []
    for attempt in request.feedback:
        code = attempt.proof if request.statement and request.statement in attempt.proof else (
            request.statement + attempt.proof)
        turns.append(ChatMessage("assistant", f"```lean4\n{code.rstrip()}\n```"))
        turns.append(ChatMessage("user", FEEDBACK_REQUEST.format(error=attempt.error.rstrip())))
    return turns


def kimina_messages(request: GenerationRequest) -> list[ChatMessage]:
    """Kimina-Prover-Distill: system + user (no informal problem text is available: left empty)."""
    formal = _header(request, MINIF2F_HEADER) + request.statement
    user = (
        "Think about and solve the following problem step by step in Lean 4.\n"
        f"# Problem:\n# Formal statement:\n```lean4\n{formal}\n```\n"
    )
    return [ChatMessage("system", KIMINA_SYSTEM), ChatMessage("user", user), *feedback_turns(request)]


GENERIC_SYSTEM = "You are a Lean 4 expert. Reply with exactly one Lean 4 tactic and nothing else."


def generic_chat_messages(request: GenerationRequest) -> list[ChatMessage]:
    """Our prompt for general instruct models: the goal, then a request for one tactic."""
    return [
        ChatMessage("system", GENERIC_SYSTEM),
        ChatMessage("user", f"Lean 4 goal:\n{request.goal}\nNext tactic:"),
    ]


# --------------------------------------------------------------------------- registry


TEMPLATES: Mapping[str, PromptTemplate] = {
    t.name: t
    for t in (
        PromptTemplate(
            name="reprover", kind="tactic", build=reprover_input, clean=_strip_premise_markers,
            description="ReProver ByT5: premises and state joined by blank lines, 2300 bytes; <a></a> stripped",
        ),
        PromptTemplate(
            name="bfs", kind="tactic", build=bfs_prompt, clean=_after_triple_colon,
            description="BFS-Prover: '{state}:::', tactic after ':::'",
        ),
        PromptTemplate(
            name="internlm-step", kind="tactic", build=internlm_step_prompt, stop=("\n---",),
            description="InternLM2.5-StepProver NAME/PROOF_BEFORE/STATE_BEFORE/TACTIC completion",
        ),
        PromptTemplate(
            name="llmstep", kind="tactic", build=llmstep_prompt, stop=("[END]", "\n"),
            description="llmstep: '[GOAL]{state}[PROOFSTEP]', stop at [END] or newline",
        ),
        PromptTemplate(
            name="llmlean-instruct", kind="tactic", build=llmlean_prompt, stop=("[/TAC]",),
            description="LLMLean llmstep Instruction prompt, answer inside [TAC]...[/TAC]",
        ),
        PromptTemplate(
            name="deepseek-v1.5", kind="proof", build=deepseek_v15_prompt, stop=("```",),
            clean=_completion_proof,
            description="DeepSeek-Prover-V1.5 non-CoT completion; output is the proof body",
        ),
        PromptTemplate(
            name="deepseek-v2", kind="proof", build=deepseek_v2_messages, chat="deepseek",
            stop=CHAT_STOPS["deepseek"], clean=_fenced_proof,
            description="DeepSeek-Prover-V2 chat: plan then last ```lean4 block",
        ),
        PromptTemplate(
            name="goedel-v2", kind="proof", build=deepseek_v2_messages, chat="qwen3",
            stop=CHAT_STOPS["qwen3"], clean=_fenced_proof,
            description="Goedel-Prover-V2: DeepSeek-V2 user prompt under the Qwen3 chat template",
        ),
        PromptTemplate(
            name="kimina", kind="proof", build=kimina_messages, chat="qwen3",
            stop=CHAT_STOPS["qwen3"], clean=_fenced_proof,
            description="Kimina-Prover-Distill: system + user, Qwen3 chat; last ```lean4 block",
        ),
        PromptTemplate(
            name="generic-chat", kind="tactic", build=generic_chat_messages, chat="chatml", clean=_chat_tactic,
            stop=("\n",) + CHAT_STOPS["chatml"],
            description="our own ChatML prompt for general-purpose instruct models (not Lean-trained)",
        ),
        PromptTemplate(
            name="raw-goal", kind="tactic", build=lambda r: r.goal,
            description="the goal text alone (sentence encoders; generic step models)",
        ),
    )
}


def get_template(name: str) -> PromptTemplate:
    """The template registered under ``name``; raises :class:`UnknownTemplate`."""
    try:
        return TEMPLATES[name]
    except KeyError:
        raise UnknownTemplate(name) from None


#: Placeholders an inline (user) template may use.
INLINE_FIELDS = frozenset(
    {"goal", "premises", "theorem_name", "proof_prefix", "statement", "file_context", "imports"}
)


def _inline_values(request: GenerationRequest) -> dict[str, str]:
    return {
        "goal": request.goal,
        "premises": "\n".join(request.premises),
        "theorem_name": request.theorem_name,
        "proof_prefix": request.proof_prefix,
        "statement": request.statement,
        "file_context": request.file_context,
        "imports": "\n".join(request.imports),
    }


def inline_template(
    text: str,
    *,
    name: str = "inline",
    kind: OutputKind = "tactic",
    stop: Sequence[str] = (),
    chat: ChatFormat | None = None,
    system: str | None = None,
) -> PromptTemplate:
    """A user template from a format string with ``{goal}``, ``{premises}``, ... placeholders.

    With ``chat`` set, ``text`` becomes the user turn (after an optional ``system`` turn).
    Whole-proof (``kind="proof"``) outputs are read from the last ```` ```lean4 ```` block, or
    taken as the body itself when there is none. Raises ``ValueError`` naming an unknown
    placeholder or a malformed format string.
    """
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError as exc:
        raise ValueError(f"prompt template {name!r}: {exc}") from None
    unknown = fields - INLINE_FIELDS
    if unknown:
        raise ValueError(
            f"prompt template {name!r}: unknown placeholder(s) {', '.join(sorted('{' + f + '}' for f in unknown))}; "
            f"known: {', '.join(sorted('{' + f + '}' for f in INLINE_FIELDS))}"
        )

    def build(request: GenerationRequest) -> str | list[ChatMessage]:
        body = text.format_map(_inline_values(request))
        if chat is None:
            return body
        turns = [ChatMessage("system", system)] if system else []
        return [*turns, ChatMessage("user", body)]

    def clean(output: str, request: GenerationRequest) -> str | None:
        if kind == "tactic":
            return _first_tactic(output)
        code = last_lean_block(output)
        return proof_body(code, request) if code is not None else _completion_proof(output, request)

    stops = tuple(stop) + (CHAT_STOPS[chat] if chat else ())
    return PromptTemplate(name=name, kind=kind, build=build, stop=stops, chat=chat, clean=clean,
                          description="user template")
