package auth

import (
	"crypto/x509"
	"slices"
)

// A ClientCert maps a client certificate to groups: Match is compared with
// the certificate's subject common name and each of its DNS, email and URI
// subject alternative names.
type ClientCert struct {
	Match  string
	Groups []string
}

// CertIdentities turns verified client certificates into identities.
type CertIdentities struct {
	entries []ClientCert
}

// NewCertIdentities returns a mapper for entries.
func NewCertIdentities(entries []ClientCert) *CertIdentities {
	return &CertIdentities{entries: entries}
}

// certNames lists the names a certificate proves, the common name first.
func certNames(c *x509.Certificate) []string {
	var names []string
	if c.Subject.CommonName != "" {
		names = append(names, c.Subject.CommonName)
	}
	names = append(names, c.DNSNames...)
	names = append(names, c.EmailAddresses...)
	for _, u := range c.URIs {
		names = append(names, u.String())
	}
	return names
}

// Identity returns the identity of a client certificate that the TLS
// layer has already verified against the client CA. The name is the first
// configured Match the certificate carries, else its common name or first
// SAN; groups come from every matching entry.
func (m *CertIdentities) Identity(c *x509.Certificate) *Identity {
	names := certNames(c)
	if len(names) == 0 {
		return nil
	}
	id := &Identity{Name: names[0], Method: "mtls"}
	matched := false
	for _, e := range m.entries {
		if slices.Contains(names, e.Match) {
			if !matched {
				id.Name, matched = e.Match, true
			}
			for _, g := range e.Groups {
				if !slices.Contains(id.Groups, g) {
					id.Groups = append(id.Groups, g)
				}
			}
		}
	}
	return id
}
