package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/verify"
	"golang.org/x/mod/module"
)

// DefaultKnownModule is the module version whose hashes --proxy checks
// against the checksum database when none is given: a small, old module
// that every public proxy carries.
const DefaultKnownModule = "rsc.io/quote@v1.5.2"

// Size caps for the known module's files: it is meant to be small.
const (
	maxModSize = 1 << 20
	maxZipSize = 64 << 20
)

// parseProxyURL checks a --proxy value.
func parseProxyURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSuffix(raw, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--proxy %q: want an http:// or https:// URL", raw)
	}
	if u.User != nil {
		return nil, errors.New("--proxy: give the URL without credentials")
	}
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// parseKnownModule checks a path@version value.
func parseKnownModule(s string) (module.Version, error) {
	path, vers, ok := strings.Cut(s, "@")
	if !ok {
		return module.Version{}, fmt.Errorf("--known-module %q: want path@version", s)
	}
	if err := module.Check(path, vers); err != nil {
		return module.Version{}, fmt.Errorf("--known-module: %v", err)
	}
	return module.Version{Path: path, Version: vers}, nil
}

// sumDBKey returns the name and verifier key of a GOSUMDB value ("name",
// "name+hash+key", each optionally followed by a URL).
func sumDBKey(gosumdb string) (name, vkey string, err error) {
	fields := strings.Fields(gosumdb)
	if len(fields) == 0 {
		return "", "", errors.New("GOSUMDB is empty")
	}
	vkey = fields[0]
	if k, ok := verify.KnownKeys[vkey]; ok {
		vkey = k
	}
	name, _, ok := strings.Cut(vkey, "+")
	if !ok {
		return "", "", fmt.Errorf("no verifier key known for GOSUMDB=%s", fields[0])
	}
	return name, vkey, nil
}

func checkProxy(ctx context.Context, e *GoEnv, client *http.Client, proxy *url.URL, known module.Version) []Finding {
	base := proxy.String()
	var out []Finding
	add := func(id, msg string, fix *Fix) *Finding {
		f := mustCheck(id).finding(msg)
		f.Source = FromProxy
		f.Location = Location{URL: base}
		f.Fix = fix
		out = append(out, f)
		return &out[len(out)-1]
	}

	// Is GOPROXY using it?
	entries := parseGOPROXY(e.Get("GOPROXY"))
	if len(entries) == 0 || entries[0].url == nil || !sameProxy(entries[0].url, proxy) {
		f := add("GH044", fmt.Sprintf("GOPROXY=%s does not start with %s", redactGOPROXY(e.Get("GOPROXY")), base),
			goEnvFix(e.Origin("GOPROXY"), "GOPROXY", base+",off"))
		f.Source = e.Origin("GOPROXY").Source
		f.Location = e.location("GOPROXY")
	}

	// Any answer but a server error will do; a redirect (proxy.golang.org
	// sends / to its documentation) is not followed off the proxy.
	noRedirect := *client
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	status, err := get(ctx, &noRedirect, base+"/", io.Discard, 1<<20)
	if err != nil || status >= 500 {
		why := fmt.Sprintf("status %d", status)
		if err != nil {
			why = err.Error()
		}
		add("GH040", fmt.Sprintf("%s does not answer: %s", base, why), nil)
		return out
	}

	gosumdb := e.Get("GOSUMDB")
	if strings.TrimSpace(gosumdb) == "off" {
		return out // GH001 reports it; there is no database to check through the proxy
	}
	name, vkey, err := sumDBKey(gosumdb)
	if err != nil {
		add("GH043", err.Error(), nil)
		return out
	}
	supported := base + "/sumdb/" + name + "/supported"
	status, err = get(ctx, client, supported, io.Discard, 1<<10)
	if err != nil || status != http.StatusOK {
		why := fmt.Sprintf("status %d", status)
		if err != nil {
			why = err.Error()
		}
		add("GH041", fmt.Sprintf("%s: %s (want 200)", supported, why), nil)
		return out
	}

	if f := checkKnownModule(ctx, client, base, name, vkey, known); f != nil {
		f.Location = Location{URL: base}
		out = append(out, *f)
	}
	return out
}

func sameProxy(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host) &&
		strings.TrimSuffix(a.Path, "/") == strings.TrimSuffix(b.Path, "/")
}

// checkKnownModule downloads known's .mod and .zip through the proxy and
// checks their hashes with x/mod's checksum-database client (via
// verify.SumDB), whose tiles and signed tree head also come through the
// proxy and are verified against vkey.
func checkKnownModule(ctx context.Context, client *http.Client, base, name, vkey string, known module.Version) *Finding {
	fail := func(id, msg string) *Finding {
		f := mustCheck(id).finding(msg)
		f.Source = FromProxy
		return &f
	}
	state, err := os.MkdirTemp("", "gatehouse-doctor-sumdb-")
	if err != nil {
		return fail("GH043", err.Error())
	}
	defer os.RemoveAll(state)
	db, err := verify.NewSumDB(verify.SumDBOptions{
		Key: vkey, URL: base + "/sumdb/" + name, StateDir: state, Client: client,
		Timeout: 30 * time.Second, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return fail("GH043", err.Error())
	}
	escPath, err := module.EscapePath(known.Path)
	if err != nil {
		return fail("GH043", err.Error())
	}
	escVers, err := module.EscapeVersion(known.Version)
	if err != nil {
		return fail("GH043", err.Error())
	}
	prefix := base + "/" + escPath + "/@v/" + escVers
	mv := known.Path + "@" + known.Version

	var mod strings.Builder
	status, err := get(ctx, client, prefix+".mod", &mod, maxModSize)
	if err != nil || status != http.StatusOK {
		return fail("GH043", fmt.Sprintf("%s.mod through the proxy: %s", mv, statusOrErr(status, err)))
	}
	modHash, err := verify.HashMod([]byte(mod.String()))
	if err != nil {
		return fail("GH043", err.Error())
	}
	if f := checkHash(ctx, db, known.Path, known.Version+"/go.mod", modHash, mv+" go.mod"); f != nil {
		return f
	}

	zf, err := os.Create(filepath.Join(state, "module.zip"))
	if err != nil {
		return fail("GH043", err.Error())
	}
	status, err = get(ctx, client, prefix+".zip", zf, maxZipSize)
	zf.Close()
	if err != nil || status != http.StatusOK {
		return fail("GH043", fmt.Sprintf("%s.zip through the proxy: %s", mv, statusOrErr(status, err)))
	}
	zipHash, err := verify.CheckZipFile(known.Path, known.Version, zf.Name())
	if err != nil {
		f := fail("GH042", fmt.Sprintf("%s: the proxy serves an invalid zip: %v", mv, err))
		return f
	}
	return checkHash(ctx, db, known.Path, known.Version, zipHash, mv+" zip")
}

func checkHash(ctx context.Context, db *verify.SumDB, path, version, h1, what string) *Finding {
	err := db.Check(ctx, path, version, h1)
	if err == nil {
		return nil
	}
	var mismatch *verify.MismatchError
	var security *verify.SecurityError
	var f Finding
	switch {
	case errors.As(err, &mismatch):
		f = mustCheck("GH042").finding(fmt.Sprintf("%s from the proxy hashes to %s; the checksum database says %s", what, mismatch.Got, mismatch.Want))
	case errors.As(err, &security):
		f = mustCheck("GH043").finding(fmt.Sprintf("%s: checksum database through the proxy: %s", what, security.Msg))
		f.Severity = Critical
	default:
		f = mustCheck("GH043").finding(fmt.Sprintf("%s: %v", what, err))
	}
	f.Source = FromProxy
	return &f
}

func statusOrErr(status int, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("status %d", status)
}

// get fetches url into w, at most limit bytes, and returns the status.
// The body is copied only for 200 answers.
func get(ctx context.Context, client *http.Client, url string, w io.Writer, limit int64) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return resp.StatusCode, err
	}
	if n > limit {
		return resp.StatusCode, fmt.Errorf("answer larger than %d bytes", limit)
	}
	return resp.StatusCode, nil
}
