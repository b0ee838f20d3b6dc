package report

import (
	"encoding/json"
	"io"

	"github.com/gatehouse-dev/gatehouse/internal/doctor"
)

// jsonReport is the JSON schema (version doctor.SchemaVersion): the report
// plus a count of findings by severity. Fields are only ever added within a
// schema version.
type jsonReport struct {
	*doctor.Report
	Summary jsonSummary `json:"summary"`
}

type jsonSummary struct {
	Total      int            `json:"total"`
	BySeverity map[string]int `json:"by_severity"`
}

// JSON writes the report as one indented JSON document.
func JSON(w io.Writer, r *doctor.Report) error {
	if r.Findings == nil {
		c := *r
		c.Findings = []doctor.Finding{}
		r = &c
	}
	counts := Counts(r)
	for s := doctor.Info; s <= doctor.Critical; s++ {
		counts[s.String()] += 0 // every severity present, so the shape never changes
	}
	out := jsonReport{Report: r, Summary: jsonSummary{Total: len(r.Findings), BySeverity: counts}}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}
