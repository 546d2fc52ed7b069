package caddymodule

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestSlowClientTiesUpOnlyItsOwnRequest trickles a SOAP request's Header at
// one byte per 50 ms (the policy waits for it to find the ClientID) while
// other sessions' requests go on: their median latency stays near what it was
// before, and Caddy's read_body timeout cuts the trickler off.
func TestSlowClientTiesUpOnlyItsOwnRequest(t *testing.T) {
	const readBody = 2 * time.Second
	bs := startBackends(t, 2)
	initCaddy(t, testConfigWith(fmt.Sprintf("\tservers {\n\t\ttimeouts {\n\t\t\tread_body %s\n\t\t}\n\t}", readBody),
		fmt.Sprintf("\treverse_proxy %s {\n\t\tlb_policy simple_client_session\n\t}", addrs(bs))))

	latencies := func(n int) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			start := time.Now()
			servedBy(t, withSession("busy-"+strconv.Itoa(i%10)), 1)
			out[i] = time.Since(start)
		}
		return out
	}
	before := median(latencies(100))

	body := soapRequest("1.1", "trickled").body
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n", len(body))
	trickleStart := time.Now()
	trickled := make(chan time.Duration, 1)
	go func() {
		for _, c := range body {
			if _, err := conn.Write([]byte{c}); err != nil {
				break // cut off
			}
			time.Sleep(50 * time.Millisecond)
		}
		trickled <- time.Since(trickleStart)
	}()
	cutOff := make(chan string, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			cutOff <- err.Error()
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		cutOff <- resp.Status
	}()

	time.Sleep(300 * time.Millisecond) // the trickle is under way
	during := median(latencies(100))
	var answer string
	select {
	case answer = <-cutOff:
	case <-time.After(readBody + 5*time.Second):
		t.Fatalf("the trickling request (%d bytes at 50 ms each) was not cut off within %s of read_body %s", len(body), readBody+5*time.Second, readBody)
	}
	cutAfter := time.Since(trickleStart)
	t.Logf("median latency of other sessions: %s before, %s during the trickle; trickler cut off after %s (%q); its %d body bytes would have taken %s",
		before, during, cutAfter.Round(time.Millisecond), answer, len(body), time.Duration(len(body))*50*time.Millisecond)
	if during > 10*before+20*time.Millisecond {
		t.Errorf("other sessions slowed down by the trickle: median %s during, %s before", during, before)
	}
	if cutAfter < readBody-200*time.Millisecond {
		t.Errorf("trickler cut off after %s, before read_body %s", cutAfter, readBody)
	}
	for _, b := range bs {
		for _, rec := range b.Received() {
			if rec.BodyLen == len(body) && string(rec.Body) == string(body) {
				t.Errorf("backend %s received the whole trickled body, which never finished arriving", b.name)
			}
		}
	}
	conn.Close()
	<-trickled
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
