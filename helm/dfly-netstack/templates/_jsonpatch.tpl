{{- /*
dfly.jsonpatch: applies a JSON Patch (RFC 6902: add, remove, replace) to a resource.
input: dict "doc" (map) "patch" (list of {op, path, value})
output: JSON {"doc": <patched doc>}
Paths are JSON Pointers (RFC 6901: "/spec/template/spec/containers/0/args/-", "~1" is "/", "~0" is "~").
A path through a missing key or an index out of range fails the render with the offending operation.
*/ -}}
{{- define "dfly.jsonpatch" -}}
{{- $doc := deepCopy .doc -}}
{{- range $i, $op := .patch -}}
{{- if not (and (kindIs "map" $op) (hasKey $op "op") (hasKey $op "path")) -}}
{{- fail (printf "patch[%d]: each operation needs op and path, got %v" $i $op) -}}
{{- end -}}
{{- if not (has $op.op (list "add" "remove" "replace")) -}}
{{- fail (printf "patch[%d]: unsupported op %q (add, remove, replace)" $i $op.op) -}}
{{- end -}}
{{- if and (ne $op.op "remove") (not (hasKey $op "value")) -}}
{{- fail (printf "patch[%d]: %s %s needs a value" $i $op.op $op.path) -}}
{{- end -}}
{{- if not (hasPrefix "/" $op.path) -}}
{{- fail (printf "patch[%d]: path %q must start with / and point inside the resource" $i $op.path) -}}
{{- end -}}
{{- $keys := list -}}
{{- range (rest (splitList "/" $op.path)) -}}
{{- $keys = append $keys (replace "~0" "~" (replace "~1" "/" .)) -}}
{{- end -}}
{{- $doc = get (include "dfly.jsonpatch.step" (dict "node" $doc "keys" $keys "op" $op "i" $i) | fromJson) "node" -}}
{{- end -}}
{{- dict "doc" $doc | toJson -}}
{{- end -}}

{{- define "dfly.jsonpatch.step" -}}
{{- $node := .node -}}
{{- $key := first .keys -}}
{{- $more := rest .keys -}}
{{- $op := .op -}}
{{- $where := printf "patch[%d] %s %s" (int .i) $op.op $op.path -}}
{{- if kindIs "map" $node -}}
  {{- if $more -}}
    {{- if not (hasKey $node $key) -}}{{- fail (printf "%s: no key %q" $where $key) -}}{{- end -}}
    {{- $child := get (include "dfly.jsonpatch.step" (dict "node" (get $node $key) "keys" $more "op" $op "i" .i) | fromJson) "node" -}}
    {{- $_ := set $node $key $child -}}
  {{- else if eq $op.op "add" -}}
    {{- $_ := set $node $key $op.value -}}
  {{- else -}}
    {{- if not (hasKey $node $key) -}}{{- fail (printf "%s: no key %q" $where $key) -}}{{- end -}}
    {{- if eq $op.op "replace" -}}
      {{- $_ := set $node $key $op.value -}}
    {{- else -}}
      {{- $_ := unset $node $key -}}
    {{- end -}}
  {{- end -}}
{{- else if kindIs "slice" $node -}}
  {{- $n := len $node -}}
  {{- if and (eq $key "-") (not $more) (eq $op.op "add") -}}
    {{- $node = append $node $op.value -}}
  {{- else -}}
    {{- if not (regexMatch "^(0|[1-9][0-9]*)$" $key) -}}{{- fail (printf "%s: %q is not an array index" $where $key) -}}{{- end -}}
    {{- $idx := atoi $key -}}
    {{- if and (eq $op.op "add") (not $more) -}}
      {{- if gt $idx $n -}}{{- fail (printf "%s: index %d out of range (length %d)" $where $idx $n) -}}{{- end -}}
      {{- $node = concat (slice $node 0 $idx) (list $op.value) (slice $node $idx) -}}
    {{- else -}}
      {{- if ge $idx $n -}}{{- fail (printf "%s: index %d out of range (length %d)" $where $idx $n) -}}{{- end -}}
      {{- if $more -}}
        {{- $child := get (include "dfly.jsonpatch.step" (dict "node" (index $node $idx) "keys" $more "op" $op "i" .i) | fromJson) "node" -}}
        {{- $node = concat (slice $node 0 $idx) (list $child) (slice $node (add1 $idx)) -}}
      {{- else if eq $op.op "replace" -}}
        {{- $node = concat (slice $node 0 $idx) (list $op.value) (slice $node (add1 $idx)) -}}
      {{- else -}}
        {{- $node = concat (slice $node 0 $idx) (slice $node (add1 $idx)) -}}
      {{- end -}}
    {{- end -}}
  {{- end -}}
{{- else -}}
  {{- fail (printf "%s: %q is inside a %s, not an object or array" $where $key (kindOf $node)) -}}
{{- end -}}
{{- dict "node" $node | toJson -}}
{{- end -}}
