package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Client is the configuration of the client-side commands, gatehouse
// sidecar and gatehouse goauth. Both read the same file, so one file can
// serve a laptop's sidecar and its GOAUTH helper; each binds only the keys
// it uses as flags.
type Client struct {
	Listen      String `toml:"listen"`
	Upstream    String `toml:"upstream"`
	AllowRemote Bool   `toml:"allow_remote"`
	CAFile      String `toml:"ca_file"`
	ClientCert  String `toml:"client_cert"`
	ClientKey   String `toml:"client_key"`
	LogFormat   String `toml:"log_format"`
	LogLevel    String `toml:"log_level"`

	TokenEnv      String   `toml:"token_env"`
	TokenFile     String   `toml:"token_file"`
	TokenExec     String   `toml:"token_exec"`
	TokenExecTTL  Duration `toml:"token_exec_ttl"`
	GoogleKey     String   `toml:"google_key"`
	GCPMetadata   Bool     `toml:"gcp_metadata"`
	GitHubActions Bool     `toml:"github_actions"`
	Audience      String   `toml:"audience"`
	BasicUser     String   `toml:"basic_user"`
}

// DefaultClient returns the defaults of sidecar and goauth.
func DefaultClient() *Client {
	return &Client{
		Listen:       "127.0.0.1:9090",
		TokenExecTTL: Duration(5 * time.Minute),
		LogFormat:    "text",
		LogLevel:     "info",
	}
}

// TokenKeys are the token-source settings both commands share.
func (c *Client) TokenKeys() []Key {
	return []Key{
		{Name: "token-env", Value: &c.TokenEnv, Usage: "token source: the environment `variable` holding the token"},
		{Name: "token-file", Value: &c.TokenFile, Usage: "token source: `file` holding the token, re-read when it changes"},
		{Name: "token-exec", Value: &c.TokenExec, Usage: "token source: `command` (words split on spaces, no shell) whose output is the token"},
		{Name: "token-exec-ttl", Value: &c.TokenExecTTL, Usage: "how long (`duration`) a token-exec token is reused (less if it is a JWT that expires sooner)"},
		{Name: "google-key", Value: &c.GoogleKey, Usage: "token source: Google service-account JSON key `file`; sends ID tokens for --audience"},
		{Name: "gcp-metadata", Value: &c.GCPMetadata, Usage: "token source: ID tokens for --audience from the GCP metadata server"},
		{Name: "github-actions", Value: &c.GitHubActions, Usage: "token source: GitHub Actions OIDC tokens for --audience"},
		{Name: "audience", Value: &c.Audience, Usage: "`audience` of ID tokens (what gatehouse's OIDC config expects, often its URL)"},
		{Name: "basic-user", Value: &c.BasicUser, Usage: "send the token as the password of HTTP Basic auth for this `user` instead of as a Bearer token"},
	}
}

// SidecarKeys are the settings of gatehouse sidecar.
func (c *Client) SidecarKeys() []Key {
	return WithEnvPrefix(ClientEnvPrefix, append([]Key{
		{Name: "listen", Value: &c.Listen, Usage: "`address` to listen on (loopback only unless --allow-remote)"},
		{Name: "upstream", Value: &c.Upstream, Usage: "`URL` of the authenticated GOPROXY (gatehouse) to forward to"},
		{Name: "allow-remote", Value: &c.AllowRemote, Usage: "listen on a non-loopback address and accept any Host (e.g. a CI service container)"},
		{Name: "ca-file", Value: &c.CAFile, Usage: "PEM `file` of CA certificates to trust for the upstream, besides the system's"},
		{Name: "client-cert", Value: &c.ClientCert, Usage: "PEM client certificate `file` for mutual TLS to the upstream"},
		{Name: "client-key", Value: &c.ClientKey, Usage: "PEM private key `file` of --client-cert"},
		{Name: "log-format", Value: &c.LogFormat, Usage: "log `format`: text or json"},
		{Name: "log-level", Value: &c.LogLevel, Usage: "log `level`: debug, info, warn or error"},
	}, c.TokenKeys()...))
}

// GoAuthKeys are the settings of gatehouse goauth.
func (c *Client) GoAuthKeys() []Key {
	return WithEnvPrefix(ClientEnvPrefix, append([]Key{
		{Name: "upstream", Value: &c.Upstream, Usage: "https `URL` prefix of gatehouse: go gets the credentials for URLs under it"},
	}, c.TokenKeys()...))
}

// ClientEnvPrefix starts the environment variables of sidecar and goauth,
// apart from serve's GATEHOUSE_* ones.
const ClientEnvPrefix = "GATEHOUSE_CLIENT_"

// ValidateSidecar checks the settings gatehouse sidecar uses.
func (c *Client) ValidateSidecar() error {
	host, _, err := net.SplitHostPort(string(c.Listen))
	if err != nil {
		return &Error{Key: "listen", Err: fmt.Errorf("%q is not host:port", c.Listen)}
	}
	if !bool(c.AllowRemote) && !isLoopback(host) {
		return &Error{Key: "listen", Err: fmt.Errorf("%s is not a loopback address: the sidecar hands out your credentials to whoever connects; add --allow-remote if that is what you want", host)}
	}
	if err := checkUpstreamURL(string(c.Upstream)); err != nil {
		return &Error{Key: "upstream", Err: err}
	}
	if (c.ClientCert == "") != (c.ClientKey == "") {
		return &Error{Key: "client-cert", Err: fmt.Errorf("client-cert and client-key go together")}
	}
	return checkLogging(c.LogFormat, c.LogLevel)
}

// ValidateGoAuth checks the settings gatehouse goauth uses.
func (c *Client) ValidateGoAuth() error {
	if err := checkUpstreamURL(string(c.Upstream)); err != nil {
		return &Error{Key: "upstream", Err: err}
	}
	if !strings.HasPrefix(string(c.Upstream), "https://") {
		return &Error{Key: "upstream", Err: fmt.Errorf("%q is not https: the go command sends GOAUTH credentials only over https", c.Upstream)}
	}
	return nil
}

func checkUpstreamURL(s string) error {
	if s == "" {
		return fmt.Errorf("must be set to the URL of the authenticated proxy")
	}
	u, err := url.Parse(s)
	if strings.Contains(s, "@") {
		// Not quoted: the point of the sidecar is to keep these out of sight.
		return fmt.Errorf("the URL holds credentials; give them to a token source instead")
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q is not an http(s) URL without query or fragment", s)
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
