package vulndb

import (
	"strings"

	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	gocvss40 "github.com/pandatix/go-cvss/40"
)

// severityFromScore rates an OSV severity entry. OSV gives CVSS as a
// vector, not a number, so the base score is computed (by go-cvss, the
// implementation OSV's own scanner uses) and mapped to the CVSS ratings.
// A vector that does not parse rates Unknown.
func severityFromScore(typ, score string) Severity {
	var s float64
	switch {
	case typ == "CVSS_V3" && strings.HasPrefix(score, "CVSS:3.1/"):
		v, err := gocvss31.ParseVector(score)
		if err != nil {
			return Unknown
		}
		s = v.BaseScore()
	case typ == "CVSS_V3" && strings.HasPrefix(score, "CVSS:3.0/"):
		v, err := gocvss30.ParseVector(score)
		if err != nil {
			return Unknown
		}
		s = v.BaseScore()
	case typ == "CVSS_V4":
		v, err := gocvss40.ParseVector(score)
		if err != nil {
			return Unknown
		}
		s = v.Score()
	default:
		return Unknown
	}
	switch {
	case s >= 9:
		return Critical
	case s >= 7:
		return High
	case s >= 4:
		return Medium
	case s > 0:
		return Low
	}
	return Unknown
}
