// Command bind opens n sessions on a proxy: it sends `uses` requests (one by
// default) for each of n distinct session ids (in the simpleClientSession
// header) over c keep-alive connections, so that the proxy's session table
// holds n sessions (with -uses 2, in its kept tier rather than on trial). The
// harness uses it to measure Caddy's memory with 1,000,000 sessions.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:9141/", "proxy URL")
	n := flag.Int("n", 1_000_000, "distinct session ids to send")
	c := flag.Int("c", 32, "concurrent connections")
	header := flag.String("header", "simpleClientSession", "session id header")
	uses := flag.Int("uses", 1, "requests per session id, one after the other")
	flag.Parse()

	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: *c},
	}
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range *c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(*n) {
					return
				}
				id := "bind-" + strconv.FormatInt(i, 10)
				for range *uses {
					if err := send(client, *url, *header, id); err != nil {
						if failed.Add(1) == 1 {
							log.Printf("session %d: %v", i, err)
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("sent %d requests for each of %d distinct session ids in %s, %d failed\n", *uses, *n, time.Since(start).Round(time.Millisecond), failed.Load())
	if failed.Load() > 0 {
		os.Exit(1)
	}
}

func send(client *http.Client, url, header, id string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set(header, id)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}
