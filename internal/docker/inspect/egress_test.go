package inspect

import (
	"context"
	"net/url"
	"testing"
)

func TestEgressRules(t *testing.T) {
	in, _ := newInspector(t)
	ghcr := Scope{Registries: []string{"ghcr.io", "docker.io"}, LogDrivers: []string{"json-file", "syslog"}}
	for _, tc := range []struct {
		method, path, query, body string
		scope                     Scope
		rule                      string
	}{
		// pulls: Docker Hub only by default
		{"POST", "/images/create", "fromImage=busybox&tag=1", "", Scope{}, ""},
		{"POST", "/images/create", "fromImage=library/busybox", "", Scope{}, ""},
		{"POST", "/images/create", "fromImage=docker.io/library/busybox", "", Scope{}, ""},
		{"POST", "/images/create", "fromImage=index.docker.io/library/busybox", "", Scope{}, ""},
		{"POST", "/images/create", "fromImage=127.0.0.1:5000/x", "", Scope{}, "registry-allowlist"},
		{"POST", "/images/create", "fromImage=localhost/x", "", Scope{}, "registry-allowlist"},
		{"POST", "/images/create", "fromImage=LOCALHOST/x", "", Scope{}, "registry-allowlist"},
		{"POST", "/images/create", "fromImage=Evil/x", "", Scope{}, "registry-allowlist"},
		{"POST", "/images/create", "fromImage=[::1]:5000/x", "", Scope{}, "registry-allowlist"},
		{"POST", "/images/create", "fromImage=169.254.169.254/x", "", Scope{}, "registry-allowlist"},
		{"POST", "/images/create", "fromImage=busybox&fromImage=127.0.0.1:5000/x", "", Scope{}, "strict-query"},
		{"POST", "/images/create", "fromImage=ghcr.io/o/x", "", Scope{}, "registry-allowlist"},
		{"POST", "/images/create", "fromImage=GHCR.io/o/x", "", ghcr, ""},
		// imports: only where images/load is allowed
		{"POST", "/images/create", "fromSrc=-&repo=x", "", Scope{}, "no-import"},
		{"POST", "/images/create", "fromSrc=&repo=x", "", Scope{Import: true}, "no-remote-fetch"},
		{"POST", "/images/create", "fromSrc=-&repo=x", "", Scope{Import: true}, ""},
		// searches and manifest lookups reach registries too
		{"GET", "/images/search", "term=busybox", "", Scope{}, ""},
		{"GET", "/images/search", "term=127.0.0.1:5000/x", "", Scope{}, "registry-allowlist"},
		{"GET", "/distribution/busybox:1/json", "", "", Scope{}, ""},
		{"GET", "/distribution/127.0.0.1:5000/x/json", "", "", Scope{}, "registry-allowlist"},
		// pushes and logins
		{"POST", "/images/127.0.0.1:5000/x/push", "", "", Scope{}, "registry-allowlist"},
		{"POST", "/images/user/x/push", "", "", Scope{}, ""},
		{"POST", "/auth", "", `{"username":"u","password":"p","serveraddress":"https://index.docker.io/v1/"}`, Scope{}, ""},
		{"POST", "/auth", "", `{"username":"u","password":"p"}`, Scope{}, ""},
		{"POST", "/auth", "", `{"serveraddress":"http://127.0.0.1:5000"}`, Scope{}, "registry-allowlist"},
		{"POST", "/auth", "", `{"ServerAddress":"127.0.0.1:5000/v2/"}`, Scope{}, "registry-allowlist"},
		// builds
		{"POST", "/build", "version=2", "", Scope{}, "no-remote-fetch"},
		{"POST", "/build", "version=1", "", Scope{}, ""},
		{"POST", "/build", "dockerfile=a&dockerfile=b", "", Scope{}, "strict-query"},
		// log drivers
		{"POST", "/containers/create", "", `{"HostConfig":{"LogConfig":{"Type":"json-file","Config":{"max-size":"10m","max-file":"3"}}}}`, Scope{}, ""},
		{"POST", "/containers/create", "", `{"HostConfig":{"LogConfig":{"Type":"local"}}}`, Scope{}, ""},
		{"POST", "/containers/create", "", `{"HostConfig":{"LogConfig":{"Type":"","Config":{}}}}`, Scope{}, ""},
		{"POST", "/containers/create", "", `{"HostConfig":{"LogConfig":{"Type":"syslog","Config":{"syslog-address":"tcp://127.0.0.1:1"}}}}`, Scope{}, "log-driver"},
		{"POST", "/containers/create", "", `{"HostConfig":{"LogConfig":{"Type":"fluentd","Config":{"fluentd-address":"unix:///x.sock"}}}}`, Scope{}, "log-driver"},
		{"POST", "/containers/create", "", `{"HostConfig":{"logconfig":{"type":"gelf"}}}`, Scope{}, "log-driver"},
		{"POST", "/containers/create", "", `{"HostConfig":{"LogConfig":{"Type":"JSON-FILE"}}}`, Scope{}, "log-driver"},
		{"POST", "/containers/create", "", `{"HostConfig":{"LogConfig":{"Type":"json-file","Config":{"syslog-address":"tcp://127.0.0.1:1"}}}}`, Scope{}, "log-driver"},
		{"POST", "/containers/create", "", `{"HostConfig":{"LogConfig":{"Type":"syslog"}}}`, ghcr, ""},
		{"POST", "/containers/create", "", `{"HostConfig":{"LogConfig":{"Type":"syslog","Config":{"syslog-address":"udp://10.0.0.1:514"}}}}`, ghcr, "log-driver"},
		{"POST", "/containers/create", "", `{"HostConfig":{"LogConfig":"syslog"}}`, Scope{}, "log-driver"},
		{"POST", "/containers/create", "", `{"LogConfig":{"Type":"syslog"},"HostConfig":{}}`, Scope{}, "log-driver"},
		// host-wide effects of a container
		{"POST", "/containers/create", "", `{"HostConfig":{"OomScoreAdj":500,"OomKillDisable":false,"Cgroup":""}}`, Scope{}, ""},
		{"POST", "/containers/create", "", `{"HostConfig":{"OomScoreAdj":-1000}}`, Scope{}, "no-oom-protection"},
		{"POST", "/containers/create", "", `{"HostConfig":{"OomScoreAdj":"-1000"}}`, Scope{}, "no-oom-protection"},
		{"POST", "/containers/create", "", `{"HostConfig":{"OomKillDisable":true}}`, Scope{}, "no-oom-protection"},
		{"POST", "/containers/create", "", `{"HostConfig":{"Cgroup":"container:abc"}}`, Scope{}, "no-host-namespaces"},
		// networks
		{"POST", "/networks/create", "", `{"Name":"n","CheckDuplicate":true,"Driver":"bridge","Internal":false,"Attachable":false,"IPAM":{"Driver":"default","Config":[]},"Options":{},"Labels":{"com.docker.compose.project":"p"}}`, Scope{}, ""},
		{"POST", "/networks/create", "", `{"Name":"n"}`, Scope{}, ""},
		{"POST", "/networks/create", "", `{"Name":"n","Driver":"overlay","Attachable":true}`, Scope{}, ""},
		{"POST", "/networks/create", "", `{"Name":"n","Driver":"macvlan","Options":{"parent":"eth0"}}`, Scope{}, "network-driver"},
		{"POST", "/networks/create", "", `{"Name":"n","driver":"ipvlan"}`, Scope{}, "network-driver"},
		{"POST", "/networks/create", "", `{"Name":"n","Driver":"host"}`, Scope{}, "network-driver"},
		{"POST", "/networks/create", "", `{"Name":"n","Driver":"Bridge"}`, Scope{}, "network-driver"},
		{"POST", "/networks/create", "", `{"Name":"n","Options":{"com.docker.network.bridge.name":"docker0"}}`, Scope{}, "network-driver"},
		{"POST", "/networks/create", "", `{"Name":"n","Options":{"parent":"eth0"}}`, Scope{}, "network-driver"},
		{"POST", "/networks/create", "", `{"Name":"n","IPAM":{"Config":[{"Subnet":"192.168.1.0/24"}]}}`, Scope{}, "network-driver"},
		{"POST", "/networks/create", "", `{"Name":"n","IPAM":{"Driver":"plugin"}}`, Scope{}, "network-driver"},
		{"POST", "/networks/create", "", `{"Name":"n","ConfigFrom":{"Network":"admins-macvlan"}}`, Scope{}, "network-driver"},
		{"POST", "/networks/create", "", `{"Name":"n","Ingress":true}`, Scope{}, "network-driver"},
		{"POST", "/networks/create", "", `{"Name":"n","Driver":"bridge","driver":"macvlan"}`, Scope{}, "strict-json"},
	} {
		q, _ := url.ParseQuery(tc.query)
		e := endpoint(t, tc.method, tc.path)
		var body []byte
		if in.ReadsBody(e) {
			body = []byte(tc.body)
		}
		v := in.Check(context.Background(), Request{Endpoint: e, Path: tc.path, Query: q, Body: body, Scope: tc.scope})
		if (v == nil) != (tc.rule == "") || (v != nil && v.Rule != tc.rule) {
			t.Errorf("%s %s?%s %s: got %v, want rule %q", tc.method, tc.path, tc.query, tc.body, v, tc.rule)
		}
	}
}
