package report

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/doctor"
)

// SARIF 2.1.0, the subset GitHub code scanning reads. Every result has a
// physical location with a non-empty URI, as code scanning requires: a file
// inside the module directory is relative to %SRCROOT%, any other file is an
// absolute file: URI, and a setting from the environment or a proxy answer,
// which has no file, is named by a URI relative to the ENVIRONMENT or PROXY
// base (with a logical location naming the setting or URL).
const (
	SARIFVersion = "2.1.0"
	SARIFSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool               sarifTool                   `json:"tool"`
	OriginalURIBaseIDs map[string]sarifArtifactLoc `json:"originalUriBaseIds,omitempty"`
	Results            []sarifResult               `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	ShortDescription     sarifText      `json:"shortDescription"`
	FullDescription      sarifText      `json:"fullDescription"`
	Help                 sarifText      `json:"help"`
	DefaultConfiguration sarifRuleLevel `json:"defaultConfiguration"`
	Properties           sarifRuleProps `json:"properties"`
}

type sarifRuleLevel struct {
	Level string `json:"level"`
}

type sarifRuleProps struct {
	SecuritySeverity string   `json:"security-severity"`
	Tags             []string `json:"tags"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          map[string]string `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical  `json:"physicalLocation"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifactLoc `json:"artifactLocation"`
	Region           *sarifRegion     `json:"region,omitempty"`
}

type sarifArtifactLoc struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifLogical struct {
	Name               string `json:"name"`
	FullyQualifiedName string `json:"fullyQualifiedName,omitempty"`
	Kind               string `json:"kind"`
}

// Level maps a severity to a SARIF level.
func Level(s doctor.Severity) string {
	switch {
	case s >= doctor.High:
		return "error"
	case s == doctor.Medium:
		return "warning"
	}
	return "note"
}

// securitySeverity is the CVSS-like score GitHub uses to rank alerts.
func securitySeverity(s doctor.Severity) string {
	return map[doctor.Severity]string{
		doctor.Critical: "9.5", doctor.High: "8.0", doctor.Medium: "5.5", doctor.Low: "3.0", doctor.Info: "0.0",
	}[s]
}

// SARIF writes the report as a SARIF 2.1.0 log with one run. Every check
// is a rule, so rule indexes are stable across runs.
func SARIF(w io.Writer, r *doctor.Report) error {
	driver := sarifDriver{
		Name: "gatehouse doctor", Version: r.ToolVersion,
		InformationURI: "https://github.com/gatehouse-dev/gatehouse/blob/main/docs/doctor.md",
	}
	index := map[string]int{}
	for i, c := range doctor.Checks {
		index[c.ID] = i
		driver.Rules = append(driver.Rules, sarifRule{
			ID: c.ID, Name: c.Name,
			ShortDescription:     sarifText{Text: c.Title},
			FullDescription:      sarifText{Text: c.Why},
			Help:                 sarifText{Text: "Fix: " + c.Fix, Markdown: "**Fix:** " + markdownEscaper.Replace(c.Fix)},
			DefaultConfiguration: sarifRuleLevel{Level: Level(c.Severity)},
			Properties:           sarifRuleProps{SecuritySeverity: securitySeverity(c.Severity), Tags: []string{"security", "supply-chain"}},
		})
	}
	run := sarifRun{Tool: sarifTool{Driver: driver}, Results: []sarifResult{}}
	if r.ModuleDir != "" {
		run.OriginalURIBaseIDs = map[string]sarifArtifactLoc{"%SRCROOT%": {URI: fileURI(r.ModuleDir) + "/"}}
	}
	for _, f := range r.Findings {
		msg := f.Message
		if f.Fix != nil {
			if f.Fix.Command != "" {
				msg += "\nFix: " + f.Fix.Command
			} else {
				msg += "\nFix: " + f.Fix.Text
			}
		}
		res := sarifResult{
			RuleID: f.ID, RuleIndex: index[f.ID], Level: Level(f.Severity),
			Message:   sarifText{Text: msg},
			Locations: []sarifLocation{location(r, f)},
			PartialFingerprints: map[string]string{
				"gatehouseDoctor/v1": fingerprint(f),
			},
			Properties: map[string]string{"severity": f.Severity.String()},
		}
		if from := From(f); from != "" {
			res.Properties["from"] = from
		}
		run.Results = append(run.Results, res)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(sarifLog{Schema: SARIFSchema, Version: SARIFVersion, Runs: []sarifRun{run}})
}

// markdownEscaper keeps placeholders such as <proxy URL> from being read as
// HTML by code scanning's Markdown renderer.
var markdownEscaper = strings.NewReplacer("<", "&lt;", ">", "&gt;")

func location(r *doctor.Report, f doctor.Finding) sarifLocation {
	l := f.Location
	var loc sarifLocation
	switch {
	case l.Path != "":
		loc.PhysicalLocation.ArtifactLocation = fileLocation(r.ModuleDir, l.Path)
		if l.Line > 0 {
			loc.PhysicalLocation.Region = &sarifRegion{StartLine: l.Line}
		}
	case l.URL != "":
		loc.PhysicalLocation.ArtifactLocation = sarifArtifactLoc{URI: "proxy", URIBaseID: "PROXY"}
	default:
		loc.PhysicalLocation.ArtifactLocation = sarifArtifactLoc{URI: url.PathEscape(l.Setting), URIBaseID: "ENVIRONMENT"}
	}
	if l.Setting != "" {
		loc.LogicalLocations = append(loc.LogicalLocations, sarifLogical{Name: l.Setting, FullyQualifiedName: "go env " + l.Setting, Kind: "variable"})
	}
	if l.URL != "" {
		loc.LogicalLocations = append(loc.LogicalLocations, sarifLogical{Name: l.URL, Kind: "resource"})
	}
	return loc
}

// fileLocation names path relative to the module directory when it is
// inside it, else as an absolute file: URI.
func fileLocation(moduleDir, path string) sarifArtifactLoc {
	if moduleDir != "" {
		if rel, err := filepath.Rel(moduleDir, path); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel) {
			return sarifArtifactLoc{URI: (&url.URL{Path: filepath.ToSlash(rel)}).EscapedPath(), URIBaseID: "%SRCROOT%"}
		}
	}
	return sarifArtifactLoc{URI: fileURI(path)}
}

func fileURI(path string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String()
}

// fingerprint identifies a finding across runs: the check, where, and
// what was found.
func fingerprint(f doctor.Finding) string {
	l := f.Location
	sum := sha256.Sum256([]byte(strings.Join([]string{f.ID, l.Path, l.Setting, l.URL, f.Message}, "\x00")))
	return hex.EncodeToString(sum[:16])
}
