package dist

import (
	"bufio"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

const root = "../../.."

// units run serve; dockerUnits the socket-activated Docker guard.
var (
	units       = []string{"gatehouse.service", "gatehouse@.service"}
	dockerUnits = []string{"gatehouse-docker.socket", "gatehouse-docker.service"}
)

// systemdAnalyze returns the path of systemd-analyze, or skips (fails under
// make test) without it.
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if testutil.Strict() {
			t.Fatal("systemd-analyze not found (apt-get install systemd)")
		}
		t.Skip("systemd-analyze not found")
	}
	return bin
}

// unitCopy writes unit into a temp dir (as name) with ExecStart's binary
// replaced by one that exists, since verify checks it; a template is
// written as an instance, gatehouse@test.service.
func unitCopy(t *testing.T, unit, edit string) string {
	t.Helper()
	return unitCopyIn(t, t.TempDir(), unit, edit)
}

// unitCopyIn is unitCopy into dir, for units that need each other.
func unitCopyIn(t *testing.T, dir, unit, edit string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "dist/systemd", unit))
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(b), "/usr/local/bin/gatehouse ", exe+" ")
	s += edit
	name := strings.Replace(unit, "@.", "@test.", 1)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSystemdUnitsVerify(t *testing.T) {
	bin := systemdAnalyze(t)
	for _, u := range units {
		out, err := exec.Command(bin, "verify", "--man=no", unitCopy(t, u, "")).CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", u, err, out)
		}
	}
	// The socket and its service, side by side as installed.
	dir := t.TempDir()
	args := []string{"verify", "--man=no"}
	for _, u := range dockerUnits {
		args = append(args, unitCopyIn(t, dir, u, ""))
	}
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify %v: %v\n%s", dockerUnits, err, out)
	}
	// verify does find mistakes: a misspelled setting.
	out, _ := exec.Command(bin, "verify", "--man=no", unitCopy(t, units[0], "ProtectSytem=strict\n")).CombinedOutput()
	if !strings.Contains(string(out), "ProtectSytem") {
		t.Errorf("verify missed a misspelled setting:\n%s", out)
	}
}

// maxExposure is the highest systemd-analyze security score accepted (0 is
// fully locked down, 10 unprotected; "OK" is below 2). docs/deployment.md
// quotes the measured scores. The Docker guard cannot have PrivateUsers:
// it needs the docker group to reach the daemon's socket.
const maxExposure = 1.5

var exposureLimit = map[string]float64{"gatehouse.service": maxExposure, "gatehouse@.service": maxExposure, "gatehouse-docker.service": 1.8}

var exposureRE = regexp.MustCompile(`Overall exposure level for \S+: (\d+\.\d+)`)

func TestSystemdSecurityExposure(t *testing.T) {
	bin := systemdAnalyze(t)
	for _, u := range append(units, dockerUnits[1]) {
		out, err := exec.Command(bin, "security", "--offline=yes", "--no-pager", unitCopy(t, u, "")).CombinedOutput()
		m := exposureRE.FindStringSubmatch(string(out))
		if m == nil {
			if strings.Contains(string(out), "offline") {
				t.Skipf("this systemd-analyze has no --offline: %s", out)
			}
			t.Fatalf("systemd-analyze security %s: %v\n%s", u, err, out)
		}
		score, _ := strconv.ParseFloat(m[1], 64)
		t.Logf("%s: exposure %.1f", u, score)
		if score > exposureLimit[u] {
			t.Errorf("%s: exposure %.1f, more than %.1f:\n%s", u, score, exposureLimit[u], out)
		}
	}
	// The score does see a weaker unit.
	out, _ := exec.Command(bin, "security", "--offline=yes", "--no-pager", unitCopy(t, units[0], "[Service]\nProtectSystem=no\nCapabilityBoundingSet=~\nPrivateUsers=no\nSystemCallFilter=\nRestrictAddressFamilies=\n")).CombinedOutput()
	if m := exposureRE.FindStringSubmatch(string(out)); m == nil {
		t.Errorf("no score for the weakened unit:\n%s", out)
	} else if s, _ := strconv.ParseFloat(m[1], 64); s <= maxExposure {
		t.Errorf("weakened unit still scores %.1f", s)
	}
}

// unitSettings reads a unit's Key=Value lines (the last of a repeated key).
func unitSettings(t *testing.T, unit string) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "dist/systemd", unit))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			m[k] = v
		}
	}
	return m
}

// The units run serve as docs/deployment.md says: notify with a watchdog,
// SIGHUP on reload, and a writable directory for the audit file that the
// sample config on that page names (the old snippet had none).
func TestSystemdUnitsMatchDocs(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(root, "docs/deployment.md"))
	if err != nil {
		t.Fatal(err)
	}
	sample := regexp.MustCompile("(?s)A minimal `/etc/gatehouse/serve.toml`.*?```toml\n(.*?)```").FindSubmatch(doc)
	if sample == nil {
		t.Fatal("docs/deployment.md: no sample serve.toml")
	}
	var cfg struct {
		AuditFile string `toml:"audit_file"`
	}
	if _, err := toml.Decode(string(sample[1]), &cfg); err != nil {
		t.Fatalf("sample serve.toml: %v", err)
	}
	for _, u := range units {
		s := unitSettings(t, u)
		for k, want := range map[string]string{"Type": "notify", "ExecReload": "/bin/kill -HUP $MAINPID", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "CapabilityBoundingSet": ""} {
			if got, ok := s[k]; !ok || got != want {
				t.Errorf("%s: %s=%q, want %q", u, k, got, want)
			}
		}
		if s["WatchdogSec"] == "" || s["LogsDirectory"] == "" || s["StateDirectory"] == "" {
			t.Errorf("%s: WatchdogSec, LogsDirectory or StateDirectory missing", u)
		}
		if !strings.Contains(s["ExecStart"], " serve ") {
			t.Errorf("%s: ExecStart %q", u, s["ExecStart"])
		}
		if u == "gatehouse.service" {
			if dir := path.Dir(cfg.AuditFile); dir != "/var/log/"+s["LogsDirectory"] {
				t.Errorf("the sample config's audit_file %q is not in the unit's LogsDirectory /var/log/%s", cfg.AuditFile, s["LogsDirectory"])
			}
			if s["Environment"] != "GATEHOUSE_DATA=/var/lib/"+s["StateDirectory"] {
				t.Errorf("data %q is not the StateDirectory %q", s["Environment"], s["StateDirectory"])
			}
		}
	}
}

// The guard's service listens where its socket unit does: gatehouse takes
// the passed socket only for a --listen address that names it.
func TestSystemdDockerSocketMatches(t *testing.T) {
	sock := unitSettings(t, "gatehouse-docker.socket")["ListenStream"]
	svc := unitSettings(t, "gatehouse-docker.service")
	if sock == "" || !strings.Contains(svc["ExecStart"], " docker ") || !strings.Contains(svc["ExecStart"], "--listen unix://"+sock+" ") {
		t.Errorf("socket %q, ExecStart %q", sock, svc["ExecStart"])
	}
	if svc["ExecReload"] != "/bin/kill -HUP $MAINPID" || svc["CapabilityBoundingSet"] != "" {
		t.Errorf("ExecReload %q, CapabilityBoundingSet %q", svc["ExecReload"], svc["CapabilityBoundingSet"])
	}
}
