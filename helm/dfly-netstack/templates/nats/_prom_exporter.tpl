{{- /*
The prometheus-nats-exporter sidecar of each bundled NATS pod, as the nats-io/k8s chart runs it: it
polls the server's monitor endpoints on localhost and serves them as Prometheus metrics on
`prom-metrics` (nats.promExporter.port), which the PodMonitor scrapes. `merge`/`patch` apply to the
container.
*/ -}}
{{- define "dfly.nats.promExporter" -}}
{{- $e := .Values.nats.promExporter -}}
{{- $doc := include "dfly.nats.promExporterContainer" . | fromYaml -}}
{{- with $e.merge }}{{ $doc = mergeOverwrite $doc (deepCopy .) }}{{ end -}}
{{- with $e.patch }}{{ $doc = get (include "dfly.jsonpatch" (dict "doc" $doc "patch" .) | fromJson) "doc" }}{{ end -}}
{{- toYaml $doc -}}
{{- end -}}

{{- define "dfly.nats.promExporterContainer" -}}
{{- $e := .Values.nats.promExporter -}}
name: prom-exporter
image: {{ if $e.image.registry }}{{ $e.image.registry }}/{{ end }}{{ $e.image.repository }}:{{ $e.image.tag }}
imagePullPolicy: {{ $e.image.pullPolicy }}
args:
  - -port={{ $e.port }}
  - -connz
  - -routez
  - -subz
  - -varz
  - -prefix=nats
  - -use_internal_server_id
  - -jsz=all
  - http://localhost:{{ .Values.nats.monitorPort }}/
ports:
  - name: prom-metrics
    containerPort: {{ $e.port }}
    protocol: TCP
{{- with $e.env }}
env:
  {{- include "dfly.extraEnv" . | nindent 2 }}
{{- end }}
resources:
  {{- toYaml $e.resources | nindent 2 }}
securityContext:
  {{- include "dfly.containerSecurityContext" . | nindent 2 }}
{{- end -}}
