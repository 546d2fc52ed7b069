// Command backend is the harness's upstream: one process serving several
// loopback ports with a short fixed answer, fast enough that the proxies, not
// the backends, set the pace. It reads and discards request bodies so that
// every proxy forwards whole SOAP requests.
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
	"strings"
	"sync"
)

func main() {
	addrs := flag.String("listen", "127.0.0.1:9151,127.0.0.1:9152,127.0.0.1:9153", "comma-separated addresses to serve")
	cookie := flag.Bool("cookie", false, "set the request's JSESSIONID cookie again on every response, as many servers do (for session http)")
	flag.Parse()

	var wg sync.WaitGroup
	for _, addr := range strings.Split(*addrs, ",") {
		answer := []byte("served by " + addr + "\n")
		handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "text/plain")
			if c, err := r.Cookie("JSESSIONID"); *cookie && err == nil {
				w.Header().Set("Set-Cookie", "JSESSIONID="+c.Value+"; Path=/; HttpOnly")
			}
			_, _ = w.Write(answer)
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			log.Fatal(http.ListenAndServe(addr, handler))
		}()
	}
	wg.Wait()
}
