package direct

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// NetrcEntry is one machine's https credentials (a user name and a
// password or access token).
type NetrcEntry struct {
	Machine, Login, Password string
}

// Credentials for private sources. They are written only into files the
// child reads (mode 0600, in a directory only gatehouse can open) and are
// removed from anything the child prints before it is logged.
type Credentials struct {
	Netrc []NetrcEntry
	// SSHKeyFile is a deploy key for git over ssh; SSHKnownHosts pins the
	// hosts' keys (required with a key: host keys are checked strictly).
	SSHKeyFile, SSHKnownHosts string
	// GitCredentialHelper is a git credential.helper value, e.g.
	// "store --file /etc/gatehouse/git-credentials" or "!/usr/local/bin/helper".
	GitCredentialHelper string
}

// Redact replaces every secret in s.
func (c Credentials) Redact(s string) string {
	for _, e := range c.Netrc {
		if len(e.Password) >= 4 {
			s = strings.ReplaceAll(s, e.Password, "[REDACTED]")
		}
	}
	return s
}

// childEnv writes the child's home directory (netrc, git and ssh config)
// and returns its whole environment, built from scratch: nothing of
// gatehouse's own environment leaks in except the PATH and CA settings.
func childEnv(opts Options, home, proxyURL string) ([]string, error) {
	c := opts.Creds
	netrc := filepath.Join(home, ".netrc")
	var nb strings.Builder
	for _, e := range c.Netrc {
		for _, f := range []string{e.Machine, e.Login, e.Password} {
			if f == "" || strings.ContainsAny(f, " \t\r\n#\"") {
				return nil, errors.New("netrc entries need a machine, login and password without spaces, quotes or '#'")
			}
		}
		fmt.Fprintf(&nb, "machine %s login %s password %s\n", e.Machine, e.Login, e.Password)
	}
	if err := os.WriteFile(netrc, []byte(nb.String()), 0o600); err != nil {
		return nil, err
	}

	protocols := "https"
	var gitconfig strings.Builder
	if c.GitCredentialHelper != "" {
		if strings.ContainsAny(c.GitCredentialHelper, "\n\r") {
			return nil, errors.New("the git credential helper must be one line")
		}
		fmt.Fprintf(&gitconfig, "[credential]\n\thelper = %s\n", gitQuote(c.GitCredentialHelper))
	}
	env := []string{}
	if c.SSHKeyFile != "" {
		protocols = "https:ssh"
		cfg := filepath.Join(home, "ssh_config")
		if err := os.WriteFile(cfg, []byte(sshConfig(opts.Hosts, c)), 0o600); err != nil {
			return nil, err
		}
		env = append(env, "GIT_SSH_COMMAND=ssh -F "+shellQuote(cfg))
	}
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte(gitconfig.String()), 0o600); err != nil {
		return nil, err
	}
	goauth := "netrc"
	if c.GitCredentialHelper != "" {
		goauth += ";git " + home
	}
	env = append(env,
		"HOME="+home,
		"NETRC="+netrc,
		"GOENV=off", "GOFLAGS=-modcacherw", "GOTOOLCHAIN=local", "GOWORK=off", "GO111MODULE=on",
		"GOTELEMETRY=off", "CGO_ENABLED=0",
		// Straight to the source; never a public proxy or checksum database.
		"GOPROXY=direct", "GOSUMDB=off", "GONOSUMDB="+opts.Private, "GOPRIVATE="+opts.Private,
		"GONOPROXY=", "GOINSECURE=", "GOVCS=*:git", "GOAUTH="+goauth,
		"GIT_TERMINAL_PROMPT=0", "GCM_INTERACTIVE=never", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+filepath.Join(home, ".gitconfig"), "GIT_ALLOW_PROTOCOL="+protocols,
		// All HTTP(S) through the egress proxy, which allows listed hosts only.
		"HTTPS_PROXY="+proxyURL, "https_proxy="+proxyURL, "HTTP_PROXY="+proxyURL, "http_proxy="+proxyURL,
		"ALL_PROXY="+proxyURL, "all_proxy="+proxyURL, "NO_PROXY=", "no_proxy=",
	)
	for _, k := range []string{"PATH", "GOROOT", "SSL_CERT_FILE", "SSL_CERT_DIR", "GIT_SSL_CAINFO", "GIT_EXEC_PATH"} {
		if v := opts.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env, nil
}

// sshConfig pins ssh to the deploy key and known hosts, and makes every
// host not on the list unreachable (a ProxyCommand that fails before any
// connection is made).
func sshConfig(hosts Hosts, c Credentials) string {
	var b strings.Builder
	b.WriteString("Host *")
	for _, h := range hosts {
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
		b.WriteString(" !" + h)
	}
	b.WriteString("\n\tProxyCommand /bin/false\n")
	fmt.Fprintf(&b, "Host *\n\tIdentityFile %s\n\tIdentitiesOnly yes\n\tBatchMode yes\n\tStrictHostKeyChecking yes\n\tUserKnownHostsFile %s\n\tGlobalKnownHostsFile /dev/null\n\tForwardAgent no\n\tClearAllForwardings yes\n",
		sshQuote(c.SSHKeyFile), sshQuote(c.SSHKnownHosts))
	return b.String()
}

func sshQuote(s string) string   { return `"` + s + `"` }
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
func gitQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
