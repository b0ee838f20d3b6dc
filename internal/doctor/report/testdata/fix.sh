# gatehouse doctor --fix: the commands that fix the findings below.
# --fix alone changes nothing; --fix --apply runs only the go env -w ones.

# CRITICAL GH020 goroot-writable: /usr/local/go/bin is writable by others
chmod go-w /usr/local/go/bin

# HIGH GH001 gosumdb-off: GOSUMDB=off: module hashes are not checked against any checksum database
go env -w GOSUMDB=sum.golang.org

# HIGH GH007 goproxy-credentials: GOPROXY=https://xxxxx@proxy.corp.example,off contains credentials
# set GOPROXY=https://proxy.corp.example,off where it is set (shell profile, CI configuration); go env -w cannot override the environment
export GOPROXY=https://proxy.corp.example,off

# MEDIUM GH041 proxy-no-sumdb: https://gatehouse.corp.example/sumdb/sum.golang.org/supported: status 404 (want 200)
# Configure the proxy to proxy the checksum database (gatehouse does this by default).

# MEDIUM GH034 replace-local: replace example.com/lib => ../lib points at a local directory
# drop the replacement before committing; use a go.work file for local development:
# go mod edit -dropreplace=example.com/lib

# INFO GH012 gotoolchain-download: GOTOOLCHAIN=auto: the go command may download and run other toolchains
go env -w GOTOOLCHAIN=local
