package dist

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"gopkg.in/yaml.v3"
)

// helm is not installed here and cannot be built now (no network), so
// helm lint and helm template do not run. This test renders the chart with
// Go's text/template (which Helm uses) and the handful of Helm functions
// the chart calls, written below, with missing values an error; then every
// manifest must parse as YAML and the Deployment must keep its security
// settings. It is no schema check of the Kubernetes objects.
var chartDir = filepath.Join(root, "dist/helm/gatehouse")

func renderChart(t *testing.T, values map[string]any) map[string]map[string]any {
	t.Helper()
	kinds, err := render(values)
	if err != nil {
		t.Fatal(err)
	}
	return kinds
}

// render returns the chart's manifests by kind.
func render(values map[string]any) (map[string]map[string]any, error) {
	tpl := template.New("chart").Option("missingkey=error")
	tpl.Funcs(template.FuncMap{
		"include": func(name string, data any) (string, error) {
			var b bytes.Buffer
			err := tpl.ExecuteTemplate(&b, name, data)
			return b.String(), err
		},
		"nindent": func(n int, s string) string {
			pad := strings.Repeat(" ", n)
			return "\n" + pad + strings.ReplaceAll(s, "\n", "\n"+pad)
		},
		"toYaml": func(v any) (string, error) {
			b, err := yaml.Marshal(v)
			return strings.TrimSuffix(string(b), "\n"), err
		},
		"quote": func(v any) string { return fmt.Sprintf("%q", fmt.Sprint(v)) },
	})
	files, err := filepath.Glob(filepath.Join(chartDir, "templates", "*"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("templates: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if _, err := tpl.New(filepath.Base(f)).Parse(string(b)); err != nil {
			return nil, fmt.Errorf("%s does not parse: %v", filepath.Base(f), err)
		}
	}
	data := map[string]any{"Values": values, "Release": map[string]any{"Name": "rel", "Namespace": "default"}}
	kinds := map[string]map[string]any{}
	for _, f := range files {
		name := filepath.Base(f)
		if strings.HasPrefix(name, "_") {
			continue
		}
		var out bytes.Buffer
		if err := tpl.ExecuteTemplate(&out, name, data); err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		if strings.TrimSpace(out.String()) == "" {
			continue // switched off
		}
		var doc map[string]any
		if err := yaml.Unmarshal(out.Bytes(), &doc); err != nil {
			return nil, fmt.Errorf("%s renders no valid YAML: %v\n%s", name, err, out.String())
		}
		kind, _ := doc["kind"].(string)
		if kind == "" || doc["apiVersion"] == nil || doc["metadata"] == nil {
			return nil, fmt.Errorf("%s: no kind, apiVersion or metadata:\n%s", name, out.String())
		}
		kinds[kind] = doc
	}
	return kinds, nil
}

func chartValues(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("values.yaml: %v", err)
	}
	return v
}

func dig(m any, keys ...any) any {
	for _, k := range keys {
		switch c := m.(type) {
		case map[string]any:
			m = c[k.(string)]
		case []any:
			i := k.(int)
			if i >= len(c) {
				return nil
			}
			m = c[i]
		default:
			return nil
		}
	}
	return m
}

func TestHelmChartRenders(t *testing.T) {
	var chart struct {
		APIVersion string `yaml:"apiVersion"`
		Name       string `yaml:"name"`
		Version    string `yaml:"version"`
	}
	b, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &chart); err != nil || chart.APIVersion != "v2" || chart.Name != "gatehouse" || chart.Version == "" {
		t.Fatalf("Chart.yaml: %v %+v", err, chart)
	}

	def := renderChart(t, chartValues(t))
	for _, k := range []string{"Deployment", "Service", "ConfigMap", "PersistentVolumeClaim"} {
		if def[k] == nil {
			t.Errorf("defaults render no %s", k)
		}
	}
	for _, k := range []string{"Ingress", "ServiceMonitor", "NetworkPolicy", "PodDisruptionBudget"} {
		if def[k] != nil {
			t.Errorf("%s is on by default", k)
		}
	}
	pod := dig(def["Deployment"], "spec", "template", "spec")
	c := dig(pod, "containers", 0)
	for _, want := range []struct {
		got  any
		want any
		what string
	}{
		{dig(pod, "securityContext", "runAsNonRoot"), true, "runAsNonRoot"},
		{dig(pod, "securityContext", "seccompProfile", "type"), "RuntimeDefault", "seccomp"},
		{dig(c, "securityContext", "readOnlyRootFilesystem"), true, "read-only root"},
		{dig(c, "securityContext", "allowPrivilegeEscalation"), false, "no privilege escalation"},
		{dig(c, "securityContext", "capabilities", "drop", 0), "ALL", "dropped capabilities"},
		{dig(c, "livenessProbe", "httpGet", "path"), "/healthz", "liveness probe"},
		{dig(c, "readinessProbe", "httpGet", "path"), "/readyz", "readiness probe"},
		{dig(pod, "volumes", 1, "persistentVolumeClaim", "claimName"), "rel-gatehouse", "data on the PVC"},
	} {
		if want.got != want.want {
			t.Errorf("%s: %v, want %v", want.what, want.got, want.want)
		}
	}

	all := chartValues(t)
	for _, k := range []string{"ingress", "serviceMonitor", "networkPolicy", "podDisruptionBudget"} {
		all[k].(map[string]any)["enabled"] = true
	}
	all["ingress"].(map[string]any)["tlsSecretName"] = "gh-tls"
	all["persistence"].(map[string]any)["enabled"] = false
	all["secretMounts"] = []any{map[string]any{"name": "tls", "secretName": "gh-tls"}}
	on := renderChart(t, all)
	for _, k := range []string{"Ingress", "ServiceMonitor", "NetworkPolicy", "PodDisruptionBudget"} {
		if on[k] == nil {
			t.Errorf("enabled %s not rendered", k)
		}
	}
	if on["PersistentVolumeClaim"] != nil {
		t.Errorf("a PVC without persistence")
	}
	if m := dig(on["Deployment"], "spec", "template", "spec", "containers", 0, "volumeMounts", 2, "mountPath"); m != "/etc/gatehouse/secrets/tls" {
		t.Errorf("secret mount: %v", m)
	}

	// A missing value is an error, not an empty field.
	bad := chartValues(t)
	delete(bad["service"].(map[string]any), "port")
	if _, err := render(bad); err == nil || !strings.Contains(err.Error(), "port") {
		t.Errorf("a missing value rendered: %v", err)
	}
}
