{{- /* Credentials of every service: NATS user per role and its password, the control's token and TLS.
     Secrets only ever reach a container through secretKeyRef or a mounted file, never an env `value`. */ -}}

{{- define "dfly.natsAuthSecret" -}}
{{- .Values.nats.auth.existingSecret | default (printf "%s-nats-auth" (include "dfly.fullname" .)) -}}
{{- end -}}

{{- define "dfly.controlTokenSecret" -}}
{{- .Values.control.auth.tokenSecret | default (printf "%s-control-token" (include "dfly.fullname" .)) -}}
{{- end -}}

{{- /* The bundled NATS with its per-role users. */ -}}
{{- define "dfly.natsAuthOn" -}}
{{- if and (include "dfly.natsBundled" .) .Values.nats.auth.enabled -}}true{{- end -}}
{{- end -}}

{{- /* Subjects each role may publish and subscribe to (DESIGN.md §3): only the control publishes on <c>.ctl.>. */ -}}
{{- define "dfly.natsPermissions" -}}
{{- $c := include "dfly.cluster" . -}}
control:
  publish: ["{{ $c }}.ctl.>", "$JS.>", "$KV.>", "_INBOX.>"]
  subscribe: ["_INBOX.>", "$KV.>"]
netisr:
  publish: ["{{ $c }}.netisr.>", "{{ $c }}.nic.*.tx.>", "{{ $c }}.sock.>", "_INBOX.>"]
  subscribe: ["{{ $c }}.netisr.>", "{{ $c }}.ctl.>", "{{ $c }}.nic.*.rx.>", "_INBOX.>"]
nic:
  publish: ["{{ $c }}.nic.*.rx.>", "{{ $c }}.wire.*.out", "_INBOX.>"]
  subscribe: ["{{ $c }}.nic.*.tx.>", "{{ $c }}.wire.*.in", "_INBOX.>"]
load:
  publish: ["{{ $c }}.wire.*.in", "{{ $c }}.netisr.>", "_INBOX.>"]
  subscribe: ["{{ $c }}.wire.*.out", "{{ $c }}.sock.>", "_INBOX.>"]
{{- end -}}

{{- define "dfly.natsList" -}}
{{- range $i, $s := . }}{{ if $i }}, {{ end }}{{ $s | quote }}{{ end -}}
{{- end -}}

{{- /* nats.conf's authorization block; passwords are environment variables of the server's container. */ -}}
{{- define "dfly.nats.authConf" -}}
{{- if include "dfly.natsAuthOn" . }}
authorization {
  users: [
    {{- range $role, $p := fromYaml (include "dfly.natsPermissions" .) }}
    { user: {{ $role | quote }}, password: $NATS_PASSWORD_{{ upper $role }}, permissions: { publish: { allow: [{{ include "dfly.natsList" $p.publish }}] }, subscribe: { allow: [{{ include "dfly.natsList" $p.subscribe }}] } } }
    {{- end }}
  ]
}
{{- end }}
{{- if .Values.nats.tls.enabled }}
tls {
  cert_file: /etc/nats-tls/tls.crt
  key_file: /etc/nats-tls/tls.key
  ca_file: /etc/nats-tls/ca.crt
}
{{- end }}
{{- end -}}

{{- /* The server container's password variables (nats.conf refers to them). */ -}}
{{- define "dfly.nats.authEnv" -}}
{{- if include "dfly.natsAuthOn" . }}
{{- range $role := list "control" "netisr" "nic" "load" }}
- name: NATS_PASSWORD_{{ upper $role }}
  valueFrom:
    secretKeyRef:
      name: {{ include "dfly.natsAuthSecret" $ }}
      key: {{ $role }}
{{- end }}
{{- end }}
{{- end -}}

{{- /* A dfly service's credentials: (dict "ctx" . "role" "netisr"). */ -}}
{{- define "dfly.securityEnv" -}}
{{- $ := .ctx -}}
{{- $role := .role -}}
{{- if include "dfly.natsAuthOn" $ }}
- name: DFLY_NATS_USER
  value: {{ $role | quote }}
- name: DFLY_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "dfly.natsAuthSecret" $ }}
      key: {{ $role }}
{{- else if and $.Values.nats.external.url $.Values.nats.external.credentialsSecret }}
- name: DFLY_NATS_USER
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.nats.external.credentialsSecret }}
      key: user
- name: DFLY_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.nats.external.credentialsSecret }}
      key: password
{{- end }}
{{- if $.Values.nats.tls.enabled }}
- name: DFLY_NATS_CA
  value: /etc/dfly/nats-tls/ca.crt
{{- end }}
{{- if $.Values.control.auth.enabled }}
- name: DFLY_CONTROL_TOKEN_FILE
  value: /etc/dfly/control-token/token
{{- if $.Values.control.auth.openReads }}
- name: DFLY_CONTROL_OPEN_READS
  value: "1"
{{- end }}
{{- end }}
{{- if $.Values.control.tls.enabled }}
{{- if eq $role "control" }}
- name: DFLY_CONTROL_TLS_CERT
  value: /etc/dfly/control-tls/tls.crt
- name: DFLY_CONTROL_TLS_KEY
  value: /etc/dfly/control-tls/tls.key
{{- if $.Values.control.tls.mtls }}
- name: DFLY_CONTROL_TLS_CLIENT_CA
  value: /etc/dfly/control-tls/ca.crt
{{- end }}
{{- else }}
- name: DFLY_CONTROL_TLS_CA
  value: /etc/dfly/control-tls/ca.crt
{{- if $.Values.control.tls.mtls }}
- name: DFLY_CONTROL_TLS_CLIENT_CERT
  value: /etc/dfly/control-tls/tls.crt
- name: DFLY_CONTROL_TLS_CLIENT_KEY
  value: /etc/dfly/control-tls/tls.key
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "dfly.securityMounts" -}}
{{- if .Values.control.auth.enabled }}
- name: control-token
  mountPath: /etc/dfly/control-token
  readOnly: true
{{- end }}
{{- if .Values.control.tls.enabled }}
- name: control-tls
  mountPath: /etc/dfly/control-tls
  readOnly: true
{{- end }}
{{- if .Values.nats.tls.enabled }}
- name: nats-tls
  mountPath: /etc/dfly/nats-tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "dfly.securityVolumes" -}}
{{- if .Values.control.auth.enabled }}
- name: control-token
  secret:
    secretName: {{ include "dfly.controlTokenSecret" . }}
    defaultMode: 0400
{{- end }}
{{- if .Values.control.tls.enabled }}
- name: control-tls
  secret:
    secretName: {{ required "control.tls.secretName: a Secret with tls.crt, tls.key and ca.crt" .Values.control.tls.secretName }}
    defaultMode: 0400
{{- end }}
{{- if .Values.nats.tls.enabled }}
- name: nats-tls
  secret:
    secretName: {{ required "nats.tls.secretName: a Secret with tls.crt, tls.key and ca.crt" .Values.nats.tls.secretName }}
    defaultMode: 0400
{{- end }}
{{- end -}}
