"""Prompt templates: exact rendered strings per model family and output post-processing."""
from __future__ import annotations

import pytest

from local_models.catalog import load_catalog, prompt_template
from local_models.generation import GenerationRequest
from local_models.prompts import (
    REPROVER_MAX_BYTES,
    ChatMessage,
    UnknownTemplate,
    get_template,
    inline_template,
    render_chat,
)

GOAL = "n : ℕ\n⊢ n + 0 = n"
STATEMENT = "theorem foo (n : ℕ) : n + 0 = n := by"
REQUEST = GenerationRequest(
    goal=GOAL, theorem_name="foo", statement=STATEMENT, premises=("Nat.add_zero",), proof_prefix="intro h"
)
MINIF2F = (
    "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\n"
    "open BigOperators Real Nat Topology Rat\n\n"
)
PLAN = (
    "Before producing the Lean 4 code to formally prove the given theorem, provide a detailed proof plan "
    "outlining the main proof steps and strategies.\nThe plan should highlight key ideas, intermediate lemmas, "
    "and proof structures that will guide the construction of the final formal proof."
)
V2_USER = f"Complete the following Lean 4 code:\n```lean4\n{MINIF2F}{STATEMENT}\n  sorry\n```\n{PLAN}"
KIMINA_USER = (
    "Think about and solve the following problem step by step in Lean 4.\n# Problem:\n# Formal statement:\n"
    f"```lean4\n{MINIF2F}{STATEMENT}\n```\n"
)

# template name -> the exact prompt for REQUEST (written out by hand from docs/models.md §1.2)
EXPECTED = {
    "bfs": "n : ℕ\n⊢ n + 0 = n:::",
    "internlm-step": (
        "---\nNAME: foo\n\n---\nPROOF_BEFORE: intro h\n\n---\nSTATE_BEFORE: n : ℕ\n⊢ n + 0 = n\n\n---\nTACTIC: "
    ),
    "llmstep": "[GOAL]n : ℕ\n⊢ n + 0 = n[PROOFSTEP]",
    "llmlean-instruct": (
        "/- You are proving a theorem in Lean 4.\nYou are given the following information:\n"
        "- The file contents up to the current tactic, inside [CTX]...[/CTX]\n"
        "- The current proof state, inside [STATE]...[/STATE]\n\n"
        "Your task is to generate the next tactic in the proof.\nPut the next tactic inside [TAC]...[/TAC].\n-/\n"
        "[CTX]\n\n[/CTX]\n[STATE]\nn : ℕ\n⊢ n + 0 = n\n[/STATE]\n[TAC]\n"
    ),
    "reprover": "Nat.add_zero\n\nn : ℕ\n⊢ n + 0 = n",
    "deepseek-v1.5": (
        "Complete the following Lean 4 code:\n\n```lean4\nimport Mathlib\nimport Aesop\n\n"
        "set_option maxHeartbeats 0\n\nopen BigOperators Real Nat Topology Rat\n\n" + STATEMENT
    ),
    "deepseek-v2": f"<｜User｜>{V2_USER}<｜Assistant｜>",
    "goedel-v2": f"<|im_start|>user\n{V2_USER}<|im_end|>\n<|im_start|>assistant\n",
    "kimina": (
        "<|im_start|>system\nYou are an expert in mathematics and Lean 4.<|im_end|>\n"
        f"<|im_start|>user\n{KIMINA_USER}<|im_end|>\n<|im_start|>assistant\n"
    ),
    "generic-chat": (
        "<|im_start|>system\nYou are a Lean 4 expert. Reply with exactly one Lean 4 tactic and nothing else."
        "<|im_end|>\n<|im_start|>user\nLean 4 goal:\nn : ℕ\n⊢ n + 0 = n\nNext tactic:<|im_end|>\n"
        "<|im_start|>assistant\n"
    ),
    "raw-goal": GOAL,
}


@pytest.mark.parametrize("model_id", sorted(load_catalog()))
def test_every_catalog_entry_renders_its_exact_prompt(model_id: str) -> None:
    """Each catalog model's template renders the sample goal to the byte-exact expected prompt."""
    entry = load_catalog()[model_id]
    template = prompt_template(entry)
    assert template.name in EXPECTED, f"add the expected prompt of template {template.name!r}"
    assert template.render(REQUEST) == EXPECTED[template.name]


def test_chat_templates_expose_their_messages() -> None:
    """Chat templates give their turns for backends that apply the GGUF's own chat template."""
    messages = get_template("kimina").messages(REQUEST)
    assert messages == [
        ChatMessage("system", "You are an expert in mathematics and Lean 4."),
        ChatMessage("user", KIMINA_USER),
    ]
    assert get_template("bfs").messages(REQUEST) is None


def test_error_feedback_becomes_extra_chat_turns() -> None:
    """Earlier failed attempts are replayed as assistant turns followed by Lean's error."""
    from local_models.generation import Attempt

    request = GenerationRequest(goal=GOAL, statement=STATEMENT, theorem_name="foo",
                                feedback=(Attempt(proof="\n  linarith", error="linarith failed\n"),))
    turns = get_template("goedel-v2").messages(request)
    assert [t.role for t in turns] == ["user", "assistant", "user"]
    assert turns[1].content == f"```lean4\n{STATEMENT}\n  linarith\n```"
    assert turns[2].content == (
        "Lean 4 rejected this proof with the following errors:\nlinarith failed\n"
        "Write a corrected complete proof in a ```lean4 block."
    )
    rendered = get_template("goedel-v2").render(request)
    assert rendered.endswith("<|im_start|>user\nLean 4 rejected this proof with the following errors:\n"
                             "linarith failed\nWrite a corrected complete proof in a ```lean4 block.<|im_end|>\n"
                             "<|im_start|>assistant\n")
    assert get_template("deepseek-v2").render(request).count("<｜Assistant｜>") == 2


def test_file_context_replaces_the_default_header() -> None:
    """Whole-proof prompts use the request's file context as the header when it is given."""
    request = GenerationRequest(goal=GOAL, statement=STATEMENT, file_context="import Mathlib\nopen Nat")
    assert get_template("deepseek-v1.5").render(request).endswith(
        "```lean4\nimport Mathlib\nopen Nat\n" + STATEMENT
    )


def test_reprover_input_keeps_the_state_and_fits_2300_bytes() -> None:
    """ReProver drops premises that do not fit beside the state; the input never exceeds 2300 bytes."""
    premises = tuple(f"lemma_{i} : ∀ x, x = x" * 10 for i in range(40))
    text = get_template("reprover").render(GenerationRequest(goal=GOAL, premises=premises))
    assert len(text.encode("utf-8")) <= REPROVER_MAX_BYTES
    assert text.endswith("\n\n" + GOAL)
    assert text.startswith(premises[0])
    huge = "⊢ " + "a + " * 2000
    cut = get_template("reprover").render(GenerationRequest(goal=huge))
    assert len(cut.encode("utf-8")) <= REPROVER_MAX_BYTES and huge.startswith(cut)


@pytest.mark.parametrize(
    ("template", "output", "expected"),
    [
        ("bfs", "n : ℕ\n⊢ n + 0 = n:::simp", "simp"),
        ("bfs", " rfl ", "rfl"),
        ("reprover", "rw [<a>Nat.add_zero</a>]", "rw [Nat.add_zero]"),
        ("llmstep", "simp [foo][END]junk", "simp [foo]"),
        ("llmlean-instruct", "omega\n[/TAC]", "omega"),
        ("internlm-step", "induction n with\n| zero => rfl\n---\nNAME", "induction n with\n| zero => rfl"),
        ("deepseek-v1.5", "\n  simp\n```", "\n  simp"),
        ("deepseek-v1.5", "\n  sorry\n```", None),
        ("bfs", "   ", None),
        ("generic-chat", "`simp`", "simp"),
    ],
)
def test_postprocess_extracts_the_candidate(template: str, output: str, expected: str | None) -> None:
    """Raw generations become clean candidates (stops cut, echoes and markers removed, sorry refused)."""
    assert get_template(template).postprocess(output, REQUEST) == expected


def test_whole_proof_output_yields_only_the_body_after_the_statement() -> None:
    """The last ```lean4 block is read and only the text after the user's statement is kept."""
    output = (
        "Plan: use simp.\n```lean4\ntheorem foo (n : ℕ) : n + 0 = n := by\n  sorry\n```\n"
        f"Final:\n```lean4\n{MINIF2F}{STATEMENT}\n  simp\n```"
    )
    assert get_template("goedel-v2").postprocess(output, REQUEST) == "\n  simp"
    renamed = "```lean4\ntheorem foo (n : Nat) : n + 0 = n := by\n  omega\n```"
    assert get_template("kimina").postprocess(renamed, REQUEST) == "\n  omega"
    assert get_template("kimina").postprocess("no code at all", REQUEST) is None
    other = "```lean4\ntheorem bar : True := by\n  trivial\n```"
    assert get_template("deepseek-v2").postprocess(other, REQUEST) is None


def test_chat_stop_cuts_before_post_processing() -> None:
    """A chat end token in the output is a stop: what follows it is ignored."""
    output = "```lean4\n" + STATEMENT + "\n  simp\n```<|im_end|>```lean4\n" + STATEMENT + "\n  ring\n```"
    assert get_template("goedel-v2").postprocess(output, REQUEST) == "\n  simp"


def test_render_chat_deepseek_with_system_and_history() -> None:
    """The DeepSeek renderer puts the system text first (BOS is the tokenizer's) and closes assistant turns."""
    turns = [ChatMessage("system", "S"), ChatMessage("user", "U1"), ChatMessage("assistant", "A1"),
             ChatMessage("user", "U2")]
    assert render_chat(turns, "deepseek") == (
        "S<｜User｜>U1<｜Assistant｜>A1<｜end▁of▁sentence｜><｜User｜>U2<｜Assistant｜>"
    )


def test_inline_template_renders_placeholders_and_rejects_unknown_ones() -> None:
    """User templates fill {goal}-style placeholders; an unknown placeholder is a clear error."""
    template = inline_template("GOAL: {goal}\nNAME: {theorem_name}\nTAC:", stop=["\n"])
    assert template.render(REQUEST) == f"GOAL: {GOAL}\nNAME: foo\nTAC:"
    assert template.postprocess(" simp\nmore", REQUEST) == "simp"
    chat = inline_template("{goal}", chat="chatml", system="sys")
    assert chat.render(REQUEST) == (
        f"<|im_start|>system\nsys<|im_end|>\n<|im_start|>user\n{GOAL}<|im_end|>\n<|im_start|>assistant\n"
    )
    with pytest.raises(ValueError, match=r"unknown placeholder\(s\) \{state\}"):
        inline_template("{state}")
    with pytest.raises(ValueError, match="prompt template"):
        inline_template("{goal")


def test_unknown_template_names_the_known_ones() -> None:
    """Looking up a missing template says which names exist."""
    with pytest.raises(UnknownTemplate) as err:
        get_template("nope")
    assert "bfs" in str(err.value) and "'nope'" in str(err.value)
