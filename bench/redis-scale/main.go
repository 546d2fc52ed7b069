// Command redis-scale is one Caddy node's Redis store without the proxy
// around it: it binds sessions in Redis, or reads them all as a node that
// serves them does (cached reads, which Redis tracks for this node), so
// that run.sh can measure what Redis holds per session and what its
// client-side caching table costs with several nodes.
//
//	redis-scale -addr 127.0.0.1:6379 -mode bind   -n 1000000
//	redis-scale -addr 127.0.0.1:6379 -mode follow -n 1000000
//
// bind binds n sessions (ids as UUIDs, over three upstreams) and exits.
// follow looks every session up once, prints "ready", and keeps its
// connections, and so Redis's tracking of what it read, until it is
// interrupted or terminated.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity/redisstore"
)

// keyPrefix is the prefix of the two-node example's policy: key_prefix's
// default and the policy name.
const keyPrefix = "soap_affinity:LoadBalanceProxy:"

var upstreams = []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "Redis host:port")
	mode := flag.String("mode", "bind", "bind or follow")
	n := flag.Int("n", 1_000_000, "sessions")
	c := flag.Int("c", 64, "concurrent requests")
	flag.Parse()

	client, err := redisstore.NewClient(redisstore.ClientOptions{Addresses: []string{*addr}})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	// Expiry fixed: a slide would rewrite the key, and Redis forgets who
	// tracks a key it invalidates, so every node would have to read it again.
	local, err := sessionaffinity.NewTable(sessionaffinity.TableConfig{
		MaxSessions: *n, Timeout: time.Hour, Expiry: sessionaffinity.ExpiryFixed,
	})
	if err != nil {
		log.Fatal(err)
	}
	store, err := redisstore.New(redisstore.Config{
		Client: client, KeyPrefix: keyPrefix, Local: local, CommandTimeout: 10 * time.Second,
		OnError: func(err error) { log.Printf("redis: %v", err) },
	})
	if err != nil {
		log.Fatal(err)
	}

	var missing atomic.Int64
	do := func(i int) {
		id := sessionID(i)
		switch *mode {
		case "bind":
			store.Bind(id, upstreams[i%len(upstreams)])
		default:
			if _, ok := store.Lookup(id); !ok {
				missing.Add(1)
			}
		}
	}
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range *c {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < *n; i = int(next.Add(1)) - 1 {
				do(i)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	fmt.Printf("%s: %d sessions in %s (%.0f/s), %d not found\n", *mode, *n, elapsed.Round(time.Millisecond),
		float64(*n)/elapsed.Seconds(), missing.Load())
	if *mode == "follow" {
		fmt.Println("ready")
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		<-ctx.Done()
	}
}

// sessionID is session i's id, shaped as a UUID (36 bytes), as WS-Addressing
// and most clients make them.
func sessionID(i int) string {
	return fmt.Sprintf("6e8bc430-9c3a-11d9-9669-%012d", i)
}
