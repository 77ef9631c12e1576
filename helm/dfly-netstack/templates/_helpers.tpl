{{- define "dfly.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- /* Release-qualified name, truncated to leave room for "-netisr", "-nats-headless", ... */ -}}
{{- define "dfly.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- /* `helm install dfly …` names things dfly-netisr, dfly-control (DESIGN.md §6): a release
     name that already says "dfly" is used as is. */ -}}
{{- if or (contains $name .Release.Name) (contains "dfly" .Release.Name) -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "dfly.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- /* The NATS subject prefix (DFLY_CLUSTER): the release name unless set. */ -}}
{{- define "dfly.cluster" -}}
{{- .Values.cluster | default .Release.Name -}}
{{- end -}}

{{- /* dfly.selectorLabels: (dict "ctx" $ "component" "netisr") */ -}}
{{- define "dfly.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dfly.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "dfly.labels" -}}
helm.sh/chart: {{ include "dfly.chart" .ctx }}
{{ include "dfly.selectorLabels" . }}
app.kubernetes.io/part-of: dfly-netstack
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end -}}
{{- end -}}

{{- define "dfly.image" -}}
{{- $img := .Values.image -}}
{{- $ref := printf "%s:%s" $img.repository ($img.tag | default .Chart.AppVersion) -}}
{{- if $img.registry -}}{{- $ref = printf "%s/%s" $img.registry $ref -}}{{- end -}}
{{- $ref -}}
{{- end -}}

{{- define "dfly.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "dfly.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "dfly.controlName" -}}{{ include "dfly.fullname" . }}-control{{- end -}}
{{- define "dfly.netisrName" -}}{{ include "dfly.fullname" . }}-netisr{{- end -}}
{{- define "dfly.nicName" -}}{{ include "dfly.fullname" . }}-nic{{- end -}}
{{- define "dfly.natsName" -}}{{ include "dfly.fullname" . }}-nats{{- end -}}

{{- /* The bundled NATS runs unless nats.external.url is set. */ -}}
{{- define "dfly.natsBundled" -}}
{{- if and .Values.nats.enabled (not .Values.nats.external.url) -}}true{{- end -}}
{{- end -}}

{{- define "dfly.natsUrl" -}}
{{- if .Values.nats.external.url -}}
{{- .Values.nats.external.url -}}
{{- else if .Values.nats.enabled -}}
{{- printf "nats://%s.%s.svc:%d" (include "dfly.natsName" .) .Release.Namespace (int .Values.nats.port) -}}
{{- else -}}
{{- fail "NATS: set nats.external.url, or nats.enabled=true for the bundled server" -}}
{{- end -}}
{{- end -}}

{{- define "dfly.controlAddr" -}}
{{- printf "%s.%s.svc:%d" (include "dfly.controlName" .) .Release.Namespace (int .Values.control.grpcPort) -}}
{{- end -}}

{{- /* JetStream KV replicas: R3 in a 3-node bundled cluster, else what nats.kv.replicas says. */ -}}
{{- define "dfly.kvReplicas" -}}
{{- if .Values.nats.kv.replicas -}}
{{- .Values.nats.kv.replicas -}}
{{- else if and (include "dfly.natsBundled" .) .Values.nats.cluster.enabled -}}
{{- min 3 (int .Values.nats.cluster.replicas) -}}
{{- else -}}
1
{{- end -}}
{{- end -}}

{{- /* Env vars every dfly service reads (brief's configuration contract). */ -}}
{{- define "dfly.commonEnv" -}}
- name: DFLY_CLUSTER
  value: {{ include "dfly.cluster" . | quote }}
- name: DFLY_NATS_URL
  value: {{ include "dfly.natsUrl" . | quote }}
- name: DFLY_KV_REPLICAS
  value: {{ include "dfly.kvReplicas" . | quote }}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
# The address a service advertises to control (e.g. netisr's metrics address).
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
# Outside Kubernetes the services bind loopback; in a pod they serve on the pod's addresses.
- name: DFLY_METRICS_HOST
  value: "0.0.0.0"
- name: DFLY_GRPC_HOST
  value: "0.0.0.0"
{{- end -}}

{{- /* extraEnv: map name → string, or name → {valueFrom: ...}. */ -}}
{{- define "dfly.extraEnv" -}}
{{- range $k, $v := . }}
{{- if kindIs "map" $v }}
- {{ merge (dict "name" $k) $v | toJson }}
{{- else }}
- name: {{ $k | quote }}
  value: {{ toString $v | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "dfly.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext -}}
{{- end -}}

{{- define "dfly.containerSecurityContext" -}}
{{- toYaml .Values.securityContext -}}
{{- end -}}

{{- /*
dfly.render: emits one resource after its user overrides (the nats-io/k8s chart's convention):
`merge` is deep-merged over the resource (maps merge, lists are replaced), then `patch`, a JSON
Patch (RFC 6902), is applied. input: dict "doc" <YAML string> "merge" <map> "patch" <list>
*/ -}}
{{- define "dfly.render" -}}
{{- $doc := .doc | fromYaml -}}
{{- if hasKey $doc "Error" -}}
{{- fail (printf "chart bug: a resource is not valid YAML: %s\n%s" $doc.Error .doc) -}}
{{- end -}}
{{- with .merge -}}
{{- $doc = mergeOverwrite $doc (deepCopy .) -}}
{{- end -}}
{{- with .patch -}}
{{- $doc = get (include "dfly.jsonpatch" (dict "doc" $doc "patch" .) | fromJson) "doc" -}}
{{- end }}
---
{{ toYaml $doc }}
{{- end -}}

{{- define "dfly.probe" -}}
httpGet:
  path: {{ .path }}
  port: metrics
{{- with .probe }}
{{ toYaml . }}
{{- end }}
{{- end -}}
