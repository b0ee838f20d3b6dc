package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/doctor"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// sample is a fixed report with one finding of each kind of source and
// location, so that the goldens cover every branch of the reporters.
func sample() *doctor.Report {
	check := func(id string) doctor.Check {
		c, ok := doctor.CheckByID(id)
		if !ok {
			panic(id)
		}
		return c
	}
	f := func(id string, sev doctor.Severity, msg string, src doctor.Source, loc doctor.Location, fix *doctor.Fix) doctor.Finding {
		c := check(id)
		return doctor.Finding{ID: c.ID, Name: c.Name, Severity: sev, Message: msg, Explanation: c.Why, Source: src, Location: loc, Fix: fix}
	}
	r := &doctor.Report{
		SchemaVersion: doctor.SchemaVersion, Tool: "gatehouse doctor", ToolVersion: "v0.0.0-test",
		GoVersion: "go1.26.0", GOROOT: "/usr/local/go", GOENV: "/home/dev/.config/go/env",
		ModuleDir: "/src/app", Proxy: "https://gatehouse.corp.example",
		Findings: []doctor.Finding{
			f("GH020", doctor.Critical, "/usr/local/go/bin is writable by others", doctor.FromFile,
				doctor.Location{Path: "/usr/local/go/bin"},
				&doctor.Fix{Kind: doctor.Chmod, Text: "remove write permission for group and others", Command: "chmod go-w /usr/local/go/bin"}),
			f("GH001", doctor.High, "GOSUMDB=off: module hashes are not checked against any checksum database", doctor.FromGoEnvFile,
				doctor.Location{Path: "/home/dev/.config/go/env", Line: 2, Setting: "GOSUMDB"},
				&doctor.Fix{Kind: doctor.GoEnvWrite, Text: "set GOSUMDB=sum.golang.org in the go env file", Command: "go env -w GOSUMDB=sum.golang.org",
					Args: []string{"go", "env", "-w", "GOSUMDB=sum.golang.org"}}),
			f("GH007", doctor.High, "GOPROXY=https://xxxxx@proxy.corp.example,off contains credentials", doctor.FromEnvironment,
				doctor.Location{Setting: "GOPROXY"},
				&doctor.Fix{Kind: doctor.Shell, Text: "set GOPROXY=https://proxy.corp.example,off where it is set (shell profile, CI configuration); go env -w cannot override the environment",
					Command: "export GOPROXY=https://proxy.corp.example,off"}),
			f("GH041", doctor.Medium, "https://gatehouse.corp.example/sumdb/sum.golang.org/supported: status 404 (want 200)", doctor.FromProxy,
				doctor.Location{URL: "https://gatehouse.corp.example"},
				&doctor.Fix{Kind: doctor.Edit, Text: check("GH041").Fix}),
			f("GH034", doctor.Medium, "replace example.com/lib => ../lib points at a local directory", doctor.FromFile,
				doctor.Location{Path: "/src/app/go.mod", Line: 9},
				&doctor.Fix{Kind: doctor.Edit, Text: "drop the replacement before committing; use a go.work file for local development", Command: "go mod edit -dropreplace=example.com/lib"}),
			f("GH012", doctor.Info, "GOTOOLCHAIN=auto: the go command may download and run other toolchains", doctor.FromDefault,
				doctor.Location{Setting: "GOTOOLCHAIN"},
				&doctor.Fix{Kind: doctor.GoEnvWrite, Text: "set GOTOOLCHAIN=local in the go env file", Command: "go env -w GOTOOLCHAIN=local",
					Args: []string{"go", "env", "-w", "GOTOOLCHAIN=local"}}),
		},
	}
	return r
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\n--- got:\n%s", name, got)
	}
}

func TestGolden(t *testing.T) {
	empty := &doctor.Report{SchemaVersion: 1, Tool: "gatehouse doctor", ToolVersion: "v0.0.0-test", GoVersion: "go1.26.0", GOROOT: "/usr/local/go", GOENV: "/home/dev/.config/go/env"}
	for _, c := range []struct {
		name  string
		write func(*bytes.Buffer, *doctor.Report) error
	}{
		{"report.txt", func(b *bytes.Buffer, r *doctor.Report) error { return Text(b, r, false) }},
		{"report-colour.txt", func(b *bytes.Buffer, r *doctor.Report) error { return Text(b, r, true) }},
		{"report.json", func(b *bytes.Buffer, r *doctor.Report) error { return JSON(b, r) }},
		{"report.sarif", func(b *bytes.Buffer, r *doctor.Report) error { return SARIF(b, r) }},
		{"fix.sh", func(b *bytes.Buffer, r *doctor.Report) error { return FixScript(b, r) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := c.write(&b, sample()); err != nil {
				t.Fatal(err)
			}
			golden(t, c.name, b.Bytes())
			b.Reset()
			if err := c.write(&b, empty); err != nil {
				t.Fatal(err)
			}
			golden(t, "empty-"+c.name, b.Bytes())
		})
	}
}

// Colour escapes appear only when asked for.
func TestTextColour(t *testing.T) {
	var plain, colour bytes.Buffer
	Text(&plain, sample(), false)
	Text(&colour, sample(), true)
	if strings.Contains(plain.String(), "\x1b[") {
		t.Error("plain text has escape sequences")
	}
	if !strings.Contains(colour.String(), "\x1b[1;31mCRITICAL") {
		t.Error("colour text has no coloured CRITICAL")
	}
}

// The JSON report round-trips into the documented schema.
func TestJSONSchema(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, sample()); err != nil {
		t.Fatal(err)
	}
	var got struct {
		SchemaVersion int    `json:"schema_version"`
		Tool          string `json:"tool"`
		Findings      []struct {
			ID, Name, Severity, Message, Explanation, Source string
			Location                                         struct {
				Path    string `json:"path"`
				Line    int    `json:"line"`
				Setting string `json:"setting"`
				URL     string `json:"url"`
			} `json:"location"`
			Fix *struct{ Kind, Text, Command string } `json:"fix"`
		} `json:"findings"`
		Summary struct {
			Total      int            `json:"total"`
			BySeverity map[string]int `json:"by_severity"`
		} `json:"summary"`
	}
	dec := json.NewDecoder(&b)
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.SchemaVersion != 1 || got.Tool != "gatehouse doctor" || len(got.Findings) != 6 || got.Summary.Total != 6 {
		t.Fatalf("%+v", got)
	}
	if got.Summary.BySeverity["critical"] != 1 || got.Summary.BySeverity["high"] != 2 || got.Summary.BySeverity["low"] != 0 || len(got.Summary.BySeverity) != 5 {
		t.Errorf("by_severity %v", got.Summary.BySeverity)
	}
	f := got.Findings[1]
	if f.ID != "GH001" || f.Severity != "high" || f.Source != "go env file" || f.Location.Line != 2 || f.Fix.Kind != "go-env-w" || f.Fix.Command != "go env -w GOSUMDB=sum.golang.org" {
		t.Errorf("finding %+v", f)
	}
}

// sarifProblems checks what SARIF 2.1.0 requires (sarif-schema-2.1.0.json:
// version, $schema's version and runs; runs[].tool.driver.name; a rule's id;
// a result's message, with text) and what GitHub code scanning requires on
// top: a ruleId that names a rule, a valid level, and at least one location
// with a physical location whose artifact URI is non-empty and not a web
// address. It returns what is wrong.
func sarifProblems(data []byte) []string {
	var p []string
	bad := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	var log map[string]any
	if err := json.Unmarshal(data, &log); err != nil {
		return []string{"not JSON: " + err.Error()}
	}
	if log["version"] != "2.1.0" {
		bad("version %v", log["version"])
	}
	if s, _ := log["$schema"].(string); !strings.Contains(s, "sarif-2.1.0") && !strings.Contains(s, "sarif-schema-2.1.0") {
		bad("$schema %q", s)
	}
	runs, _ := log["runs"].([]any)
	if len(runs) == 0 {
		bad("no runs")
	}
	for _, run := range runs {
		run, _ := run.(map[string]any)
		tool, _ := run["tool"].(map[string]any)
		driver, _ := tool["driver"].(map[string]any)
		if name, _ := driver["name"].(string); name == "" {
			bad("runs[].tool.driver.name missing")
		}
		rules, _ := driver["rules"].([]any)
		ruleIDs := map[string]int{}
		for i, rule := range rules {
			rule, _ := rule.(map[string]any)
			id, _ := rule["id"].(string)
			if id == "" {
				bad("rule %d has no id", i)
			}
			if _, dup := ruleIDs[id]; dup {
				bad("rule %s twice", id)
			}
			ruleIDs[id] = i
			if sd, _ := rule["shortDescription"].(map[string]any); sd == nil || sd["text"] == "" {
				bad("rule %s: no shortDescription.text", id)
			}
			if props, _ := rule["properties"].(map[string]any); props == nil || props["security-severity"] == nil {
				bad("rule %s: no security-severity", id)
			}
		}
		results, ok := run["results"].([]any)
		if !ok {
			bad("run has no results array")
		}
		for i, res := range results {
			res, _ := res.(map[string]any)
			id, _ := res["ruleId"].(string)
			idx, known := ruleIDs[id]
			if !known {
				bad("result %d: ruleId %q is not a rule", i, id)
			} else if ri, ok := res["ruleIndex"].(float64); !ok || int(ri) != idx {
				bad("result %d: ruleIndex %v, want %d", i, res["ruleIndex"], idx)
			}
			switch res["level"] {
			case "none", "note", "warning", "error":
			default:
				bad("result %d: level %v", i, res["level"])
			}
			if msg, _ := res["message"].(map[string]any); msg == nil || msg["text"] == "" || msg["text"] == nil {
				bad("result %d: no message.text", i)
			}
			locs, _ := res["locations"].([]any)
			if len(locs) == 0 {
				bad("result %d: no locations", i)
			}
			for _, l := range locs {
				l, _ := l.(map[string]any)
				pl, _ := l["physicalLocation"].(map[string]any)
				al, _ := pl["artifactLocation"].(map[string]any)
				uri, _ := al["uri"].(string)
				if uri == "" {
					bad("result %d: no physicalLocation.artifactLocation.uri", i)
				}
				if strings.HasPrefix(uri, "http:") || strings.HasPrefix(uri, "https:") {
					bad("result %d: uri %q: code scanning accepts only file locations", i, uri)
				}
				if reg, ok := pl["region"].(map[string]any); ok {
					if line, _ := reg["startLine"].(float64); line < 1 {
						bad("result %d: startLine %v", i, reg["startLine"])
					}
				}
			}
		}
	}
	return p
}

func TestSARIFValid(t *testing.T) {
	var b bytes.Buffer
	if err := SARIF(&b, sample()); err != nil {
		t.Fatal(err)
	}
	if p := sarifProblems(b.Bytes()); len(p) > 0 {
		t.Fatalf("invalid SARIF: %v", p)
	}
	var log map[string]any
	json.Unmarshal(b.Bytes(), &log)
	results := log["runs"].([]any)[0].(map[string]any)["results"].([]any)
	if len(results) != 6 {
		t.Fatalf("%d results", len(results))
	}
	// A file inside the module is relative to %SRCROOT%, with its line.
	replace := results[4].(map[string]any)
	pl := replace["locations"].([]any)[0].(map[string]any)["physicalLocation"].(map[string]any)
	if al := pl["artifactLocation"].(map[string]any); al["uri"] != "go.mod" || al["uriBaseId"] != "%SRCROOT%" {
		t.Errorf("go.mod location %v", al)
	}
	if pl["region"].(map[string]any)["startLine"] != float64(9) {
		t.Errorf("region %v", pl["region"])
	}
	if replace["level"] != "warning" {
		t.Errorf("medium → %v", replace["level"])
	}
	// A file outside it is an absolute file: URI.
	bin := results[0].(map[string]any)["locations"].([]any)[0].(map[string]any)["physicalLocation"].(map[string]any)["artifactLocation"].(map[string]any)
	if bin["uri"] != "file:///usr/local/go/bin" || bin["uriBaseId"] != nil {
		t.Errorf("GOROOT location %v", bin)
	}

	// An empty report is valid too, with an empty results array.
	b.Reset()
	SARIF(&b, &doctor.Report{})
	if p := sarifProblems(b.Bytes()); len(p) > 0 {
		t.Fatalf("invalid empty SARIF: %v", p)
	}
}

// The validator fails on what SARIF or code scanning rejects, so passing it
// means something.
func TestSARIFValidatorRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"no location":   `{"version":"2.1.0","$schema":"https://json.schemastore.org/sarif-2.1.0.json","runs":[{"tool":{"driver":{"name":"x","rules":[{"id":"A","shortDescription":{"text":"a"},"properties":{"security-severity":"1"}}]}},"results":[{"ruleId":"A","ruleIndex":0,"level":"error","message":{"text":"m"},"locations":[]}]}]}`,
		"web uri":       `{"version":"2.1.0","$schema":"https://json.schemastore.org/sarif-2.1.0.json","runs":[{"tool":{"driver":{"name":"x","rules":[{"id":"A","shortDescription":{"text":"a"},"properties":{"security-severity":"1"}}]}},"results":[{"ruleId":"A","ruleIndex":0,"level":"error","message":{"text":"m"},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"https://proxy.example"}}}]}]}]}`,
		"unknown rule":  `{"version":"2.1.0","$schema":"https://json.schemastore.org/sarif-2.1.0.json","runs":[{"tool":{"driver":{"name":"x","rules":[]}},"results":[{"ruleId":"A","level":"error","message":{"text":"m"},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"a"}}}]}]}]}`,
		"no message":    `{"version":"2.1.0","$schema":"https://json.schemastore.org/sarif-2.1.0.json","runs":[{"tool":{"driver":{"name":"x","rules":[{"id":"A","shortDescription":{"text":"a"},"properties":{"security-severity":"1"}}]}},"results":[{"ruleId":"A","ruleIndex":0,"level":"error","locations":[{"physicalLocation":{"artifactLocation":{"uri":"a"}}}]}]}]}`,
		"wrong version": `{"version":"2.0.0","$schema":"x","runs":[{"tool":{"driver":{"name":"x"}},"results":[]}]}`,
		"no driver":     `{"version":"2.1.0","$schema":"https://json.schemastore.org/sarif-2.1.0.json","runs":[{"tool":{},"results":[]}]}`,
	} {
		if p := sarifProblems([]byte(doc)); len(p) == 0 {
			t.Errorf("%s: validator accepted it", name)
		}
	}
}
