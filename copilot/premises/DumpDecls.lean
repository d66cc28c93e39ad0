/-
Lean Companion: dump the declarations of an environment as JSON lines.

Run inside a Lake project (so `LEAN_PATH` finds its modules and dependencies):

    lake env lean --run DumpDecls.lean Mathlib.Data.Nat.Basic MyProject.Foo

Imports the given modules and prints, for every named constant of the resulting environment
(auxiliary and internal ones left out), one JSON object per line:

    {"name": "Nat.add_comm", "kind": "theorem", "type": "∀ (n m : ℕ), n + m = m + n",
     "module": "Init.Data.Nat.Basic", "doc": null, "line": 123, "simp": false,
     "instance": false, "uses": ["Nat.add", "Nat.rec", "Eq"]}

`kind` is theorem, def, abbrev, instance, axiom, opaque, inductive, structure, class,
constructor or field (a structure projection);
`line` comes from `findDeclarationRanges?` (null when unknown); `simp` says whether the
constant is in the default simp set; `uses` lists the constants the value (the proof term of a
theorem, the body of a definition) mentions, exactly, as `Expr.getUsedConstants` sees them
(empty for axioms, opaque constants, inductives). Exit code 2 on bad usage.
-/
import Lean
open Lean Meta

/-- Kind of a constant as Lean Companion's `Declaration.kind` (what the source extractor says). -/
def kindOf (env : Environment) (n : Name) (reducible : Bool) : ConstantInfo → String
  | .thmInfo _ => "theorem"
  | .axiomInfo _ => "axiom"
  | .opaqueInfo _ => "opaque"
  | .quotInfo _ => "def"
  | .recInfo _ => "recursor"
  | .ctorInfo _ => "constructor"
  | .inductInfo _ =>
    if isClass env n then "class" else if isStructure env n then "structure" else "inductive"
  | .defnInfo _ =>
    if isInstanceCore env n then "instance"
    else if env.isProjectionFn n then "field"
    else if reducible then "abbrev"
    else "def"

/-- Constants a user never writes: internal names, recursors, `noConfusion`, matchers. -/
def isAuxiliary (env : Environment) (n : Name) (c : ConstantInfo) : Bool :=
  n.isInternal || (c matches .recInfo _) || isAuxRecursor env n || isNoConfusion env n
    || isMatcherCore env n

/-- The module that declares `n`, or "" for the current (empty) module. -/
def moduleOf (env : Environment) (n : Name) : String :=
  match env.getModuleIdxFor? n with
  | some i => match env.header.moduleNames[i.toNat]? with
    | some m => m.toString
    | none => ""
  | none => ""

/-- One JSON line for `n`, or none for auxiliary constants. -/
def dumpOne (simp : SimpTheorems) (n : Name) (c : ConstantInfo) : MetaM (Option Json) := do
  let env ← getEnv
  if isAuxiliary env n c then return none
  let type ← try
      pure (toString (← ppExpr c.type))
    catch _ => pure (toString c.type)
  let doc ← findDocString? env n
  let reducible := (← getReducibilityStatus n) matches .reducible
  let line : Option Nat ← try
      pure ((← findDeclarationRanges? n).map (·.range.pos.line))
    catch _ => pure none
  return some <| Json.mkObj [
    ("name", toJson n.toString),
    ("kind", toJson (kindOf env n reducible c)),
    ("type", toJson type),
    ("module", toJson (moduleOf env n)),
    ("doc", toJson doc),
    ("line", toJson line),
    ("simp", toJson (simp.isLemma (.decl n))),
    ("instance", toJson (isInstanceCore env n)),
    ("uses", toJson ((c.value?.map (·.getUsedConstants)).getD #[] |>.map (·.toString)))
  ]

def main (args : List String) : IO UInt32 := do
  if args.isEmpty then
    IO.eprintln "usage: lake env lean --run DumpDecls.lean MODULE..."
    return 2
  initSearchPath (← findSysroot)
  let imports := args.toArray.map fun s => ({ module := s.toName } : Import)
  let env ← importModules imports {} (trustLevel := 1024)
  let out ← IO.getStdout
  let action : MetaM Unit := do
    let simp ← getSimpTheorems
    for (n, c) in (← getEnv).constants.toList do
      if let some j ← dumpOne simp n c then
        out.putStrLn j.compress
  -- No heartbeat limit: one CoreM run pretty-prints every constant, which on Mathlib would
  -- exceed the default budget, and a heartbeat timeout aborts the whole run.
  let ctx : Core.Context := { fileName := "<DumpDecls>", fileMap := default, maxHeartbeats := 0 }
  let _ ← (action.run' {} {}).toIO ctx { env }
  return 0
