package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// Private holds the settings of private modules (docs/private-modules.md)
// and of gatehouse's own checksum log. It is embedded in Serve.
type Private struct {
	Private                    List     `toml:"private"`
	PrivateHosts               List     `toml:"private_hosts"`
	PrivateTimeout             Duration `toml:"private_timeout"`
	PrivateFetches             Int      `toml:"private_fetches"`
	PrivateFetchesPerIdentity  Int      `toml:"private_fetches_per_identity"`
	PrivateQueuePerIdentity    Int      `toml:"private_queue_per_identity"`
	PrivateNotFoundTTL         Duration `toml:"private_not_found_ttl"`
	PrivateListTTL             Duration `toml:"private_list_ttl"`
	PrivateSSHKey              String   `toml:"private_ssh_key"`
	PrivateSSHKnownHosts       String   `toml:"private_ssh_known_hosts"`
	PrivateGitCredentialHelper String   `toml:"private_git_credential_helper"`
	// PrivateNetrc is file-only ([[private_netrc]] tables): https credentials.
	PrivateNetrc []NetrcEntry `toml:"private_netrc"`

	OwnSumDB    String `toml:"own_sumdb"`
	OwnSumDBKey String `toml:"own_sumdb_key"`
}

// NetrcEntry is one [[private_netrc]] table. The password (or access
// token) is given inline or, better, in a file only gatehouse can read.
type NetrcEntry struct {
	Machine      string `toml:"machine"`
	Login        string `toml:"login"`
	Password     string `toml:"password"`
	PasswordFile string `toml:"password_file"`
}

// String never shows the password.
func (e NetrcEntry) String() string {
	return "machine " + e.Machine + " login " + e.Login + " password [REDACTED]"
}

// DefaultPrivate returns the zero-config private settings: no private
// modules, and an own checksum log named "gatehouse".
func DefaultPrivate() Private {
	return Private{
		PrivateTimeout: Duration(5 * time.Minute),
		PrivateFetches: 4,
		// PrivateFetchesPerIdentity 0: half of PrivateFetches.
		PrivateQueuePerIdentity: 64,
		PrivateNotFoundTTL:      Duration(30 * time.Second),
		PrivateListTTL:          Duration(30 * time.Second),
		OwnSumDB:                "gatehouse",
	}
}

func (c *Private) privateKeys() []Key {
	return []Key{
		{Name: "private", Value: &c.Private, Usage: "GOPRIVATE-style `patterns` of private modules: fetched only from their own VCS, never looked up in a public checksum database"},
		{Name: "private-hosts", Value: &c.PrivateHosts, Usage: "`hosts` private fetches may contact (host, host:port or *.domain); default: the hosts named in --private"},
		{Name: "private-timeout", Value: &c.PrivateTimeout, Usage: "time limit for one private fetch (`duration`)"},
		{Name: "private-fetches", Value: &c.PrivateFetches, Usage: "private `fetches` (child go commands) at once"},
		{Name: "private-fetches-per-identity", Value: &c.PrivateFetchesPerIdentity, Usage: "private `fetches` one identity may run at once; its others wait (0: half of --private-fetches, at least 1)"},
		{Name: "private-queue-per-identity", Value: &c.PrivateQueuePerIdentity, Usage: "private `fetches` one identity may have waiting for a slot; more are refused with 429"},
		{Name: "private-not-found-ttl", Value: &c.PrivateNotFoundTTL, Usage: "how long a private source's \"not found\" is remembered (`duration`; 0s: not at all)"},
		{Name: "private-list-ttl", Value: &c.PrivateListTTL, Usage: "list-ttl for private modules (`duration`): each answer costs a child go command; 0: ask every time"},
		{Name: "private-ssh-key", Value: &c.PrivateSSHKey, Usage: "ssh deploy key `file` for git over ssh"},
		{Name: "private-ssh-known-hosts", Value: &c.PrivateSSHKnownHosts, Usage: "known_hosts `file` pinning the ssh hosts' keys (required with --private-ssh-key)"},
		{Name: "private-git-credential-helper", Value: &c.PrivateGitCredentialHelper, Usage: "git credential.helper `value` for private https fetches"},
		{Name: "own-sumdb", Value: &c.OwnSumDB, Usage: "`name` of gatehouse's own checksum log, which clients put in GOSUMDB"},
		{Name: "own-sumdb-key", Value: &c.OwnSumDBKey, Usage: "signer key `file` of the own checksum log (default: created in the data dir)"},
	}
}

// PrivateHostList returns the hosts private fetches may contact: the
// configured list, or else the literal hosts of the private patterns.
func (c *Private) PrivateHostList() []string {
	if len(c.PrivateHosts) > 0 {
		return c.PrivateHosts
	}
	var hosts []string
	for _, p := range c.Private {
		host, _, _ := strings.Cut(p, "/")
		if !strings.ContainsAny(host, "*?[") {
			hosts = append(hosts, host)
		}
	}
	return hosts
}

// NetrcPassword returns an entry's password, read from its file if given.
func (e NetrcEntry) NetrcPassword() (string, error) {
	if e.PasswordFile == "" {
		return e.Password, nil
	}
	data, err := os.ReadFile(e.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("cannot read password_file of machine %s: %v", e.Machine, errors.Unwrap(err))
	}
	return strings.TrimSpace(string(data)), nil
}

func (c *Private) validatePrivate() error {
	bad := func(key, format string, args ...any) error {
		return &Error{Key: key, Err: fmt.Errorf(format, args...)}
	}
	for _, p := range c.Private {
		if err := CheckPattern(p); err != nil {
			return &Error{Key: "private", Err: err}
		}
	}
	for _, h := range c.PrivateHosts {
		host := h
		if hh, port, err := net.SplitHostPort(h); err == nil {
			if port == "" || strings.Trim(port, "0123456789") != "" {
				return bad("private-hosts", "%q has an invalid port", h)
			}
			host = hh
		}
		host = strings.TrimPrefix(host, "*.")
		if host == "" || strings.ContainsAny(host, "/*?[ @") || !strings.Contains(host, ".") {
			return bad("private-hosts", "%q is not a host name (host, host:port or *.domain)", h)
		}
	}
	if len(c.Private) > 0 && len(c.PrivateHostList()) == 0 {
		return bad("private-hosts", "must list the hosts private modules are fetched from (the private patterns name none literally)")
	}
	if c.PrivateTimeout == 0 {
		return bad("private-timeout", "must be more than 0")
	}
	if c.PrivateFetches < 1 || c.PrivateFetches > 256 {
		return bad("private-fetches", "%d is outside 1..256", c.PrivateFetches)
	}
	if c.PrivateFetchesPerIdentity < 0 || c.PrivateFetchesPerIdentity > c.PrivateFetches {
		return bad("private-fetches-per-identity", "%d is outside 0..%d (private-fetches)", c.PrivateFetchesPerIdentity, c.PrivateFetches)
	}
	if c.PrivateQueuePerIdentity < 1 {
		return bad("private-queue-per-identity", "must be at least 1")
	}
	if c.PrivateNotFoundTTL < 0 {
		return bad("private-not-found-ttl", "must not be negative")
	}
	if (c.PrivateSSHKey == "") != (c.PrivateSSHKnownHosts == "") {
		return bad("private-ssh-known-hosts", "give both --private-ssh-key and --private-ssh-known-hosts (host keys are checked strictly)")
	}
	for _, f := range []struct{ key, file string }{{"private-ssh-key", string(c.PrivateSSHKey)}, {"private-ssh-known-hosts", string(c.PrivateSSHKnownHosts)}} {
		if f.file != "" {
			if _, err := os.Stat(f.file); err != nil {
				return bad(f.key, "cannot read %s", f.file)
			}
		}
	}
	if strings.ContainsAny(string(c.PrivateGitCredentialHelper), "\r\n") {
		return bad("private-git-credential-helper", "must be one line")
	}
	for i, e := range c.PrivateNetrc {
		key := fmt.Sprintf("private_netrc[%d]", i)
		if e.Machine == "" || e.Login == "" {
			return bad(key, "needs machine and login")
		}
		if (e.Password == "") == (e.PasswordFile == "") {
			return bad(key, "needs exactly one of password and password_file")
		}
		pw, err := e.NetrcPassword()
		if err != nil {
			return bad(key, "%v", err)
		}
		for _, f := range []string{e.Machine, e.Login, pw} {
			if f == "" || strings.ContainsAny(f, " \t\r\n#\"") {
				return bad(key, "machine, login and password must be non-empty, without spaces, quotes or '#'")
			}
		}
	}
	name := string(c.OwnSumDB)
	if name == "" || strings.ContainsAny(name, "+ \t\r\n/") {
		return bad("own-sumdb", "%q is not a checksum database name (no spaces, '+' or '/')", name)
	}
	return nil
}
