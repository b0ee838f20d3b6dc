package audit

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/reqlog"
)

func TestProxyRecordKeepsTheRawPathAndClientID(t *testing.T) {
	r := ProxyRecord(&reqlog.Entry{ID: "g1", ClientRequestID: "c1", Path: "/example.com/!caps/@v/list",
		RawURI: "/example.com/%21caps/@v/list", Module: "example.com/Caps", Kind: "list"})
	if r.RequestID != "g1" || r.ClientRequestID != "c1" {
		t.Errorf("ids: %q %q", r.RequestID, r.ClientRequestID)
	}
	if r.Path != "/example.com/!caps/@v/list" || r.RawPath != "/example.com/%21caps/@v/list" {
		t.Errorf("paths: %q %q", r.Path, r.RawPath)
	}
	same := ProxyRecord(&reqlog.Entry{Path: "/example.com/a/@v/list", RawURI: "/example.com/a/@v/list", Module: "example.com/a"})
	if same.Path != "" || same.RawPath != "" {
		t.Errorf("a plain request repeats its path: %q %q", same.Path, same.RawPath)
	}
}
