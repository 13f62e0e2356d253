# The operations of connector.sh. Input: one request (PROTOCOL.md); $store[0]: the store,
# {"objects": {anchor: {attribute: [values]}}, "passwords": {anchor: password}}.
# Output: {"answer": <answer line>, "store": <new store, only after a write>}.

def ok($result): {answer: {id: .id, result: $result}};
def fail($kind; $name; $detail): {answer: {id: .id, error: {kind: $kind, name: $name, detail: $detail}}};
def item($s; $anchor): {objectType: "User", anchor: $anchor, attributes: $s.objects[$anchor]};
# Attributes without empty lists.
def tidy: with_entries(select(.value != null and .value != []));
# A manager must exist: references are checked like a directory would.
def refs_ok($s): (.manager // []) | all(. as $m | $s.objects | has($m));
def apply($c):
  if $c.op == "replace" then .[$c.name] = $c.values
  elif $c.op == "add" then .[$c.name] = (((.[$c.name] // []) + $c.values) | unique)
  elif $c.op == "remove" then .[$c.name] = ((.[$c.name] // []) - $c.values)
  else del(.[$c.name]) end;

. as $req
| $store[0] as $s
| if .op == "schema" then ok({objectTypes: [{name: "User", anchor: "id", attributes: [
      {name: "id", required: true}, {name: "userName"}, {name: "displayName"},
      {name: "mail", multiValued: true},
      {name: "manager", type: "reference", references: "User"},
      {name: "password", type: "secret"}]}]})
  elif .op == "test" then ok({description: "JSON file with \($s.objects | length) users"})
  elif .op == "read" then
    ok({object: (if $s.objects | has($req.anchor) then item($s; $req.anchor) else null end)})
  elif .op == "importPage" then
    ($s.objects | keys) as $keys
    | ((.pageToken // "0") | tonumber) as $from
    | ($from + .pageSize) as $to
    | ok({items: [$keys[$from:$to][] | item($s; .)], more: ($to < ($keys | length)),
          pageToken: ($to | tostring)})
  elif .op == "setPassword" then
    if $s.objects | has($req.anchor) | not then fail("notFound"; "no-such-object"; "user \($req.anchor) does not exist")
    elif ($req.password | length) < 8 then fail("rejected"; "password-policy-violation"; "a password needs 8 characters")
    else ok(null) + {store: ($s | .passwords[$req.anchor] = $req.password)} end
  elif .op == "export" then
    .change as $c
    | if $c.kind == "add" then
        if $s.objects | has($c.anchor) then fail("conflict"; "object-already-exists"; "user \($c.anchor) exists")
        elif ($c.attributes | refs_ok($s) | not) then fail("rejected"; "missing-reference"; "the manager does not exist")
        else ok({anchor: $c.anchor}) + {store: ($s | .objects[$c.anchor] = ($c.attributes | tidy))} end
      elif ($s.objects | has($c.anchor) | not) then fail("notFound"; "no-such-object"; "user \($c.anchor) does not exist")
      elif $c.kind == "delete" then
        ok({anchor: $c.anchor}) + {store: ($s | del(.objects[$c.anchor]) | del(.passwords[$c.anchor]))}
      else
        (if $c.kind == "replace" then $c.attributes
         else reduce $c.changes[] as $x ($s.objects[$c.anchor]; apply($x)) end | tidy) as $new
        | if ($new | refs_ok($s) | not) then fail("rejected"; "missing-reference"; "the manager does not exist")
          elif ($new.id // [$c.anchor]) != [$c.anchor] then fail("rejected"; "anchor-change"; "id cannot change")
          else ok({anchor: $c.anchor}) + {store: ($s | .objects[$c.anchor] = $new)} end
      end
  else fail("misconfigured"; "unknown-operation"; "operation \(.op) is not supported") end
