package server_test

import (
	"crypto/tls"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Over TLS and HTTP/2, a stream whose client grants no more flow-control
// window (the HTTP/2 form of "stops reading") is cut off after
// WriteTimeout too; its handler returns and the request is logged.
func TestSlowHTTP2ReaderIsCutOff(t *testing.T) {
	up, s, done := bigZipServer(t, 2<<20, 300*time.Millisecond)
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	// Stored first, so that the stalled request is a hit.
	resp, err := srv.Client().Get(srv.URL + "/example.com/big/@v/v1.0.0.zip")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	want := int64(len(up.Artifacts("example.com/big", "v1.0.0").Zip))
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 || n != want {
		t.Fatalf("reading client: %d %s, %d bytes of %d", resp.StatusCode, resp.Proto, n, want)
	}
	<-done

	conn, err := tls.Dial("tcp", strings.TrimPrefix(srv.URL, "https://"), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if conn.ConnectionState().NegotiatedProtocol != "h2" {
		t.Fatalf("negotiated %q", conn.ConnectionState().NegotiatedProtocol)
	}
	io.WriteString(conn, http2.ClientPreface)
	fr := http2.NewFramer(conn, conn)
	fr.WriteSettings()
	var hb strings.Builder
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "x"}, {":path", "/example.com/big/@v/v1.0.0.zip"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte(hb.String()), EndStream: true, EndHeaders: true})
	// Frames are read (so TCP does not push back) but no WINDOW_UPDATE
	// is ever sent: the server may send 64 KiB and must then wait.
	go func() {
		for {
			if _, err := fr.ReadFrame(); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	select {
	case e := <-done:
		if e.Bytes >= want {
			t.Errorf("the stalled stream was sent all %d bytes", e.Bytes)
		}
		t.Logf("stalled HTTP/2 stream cut off after %v, %d of %d bytes written", time.Since(start).Round(time.Millisecond), e.Bytes, want)
	case <-time.After(10 * time.Second):
		t.Fatal("an HTTP/2 client that grants no window still holds its handler after 10s")
	}
}
