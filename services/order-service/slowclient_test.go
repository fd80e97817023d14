package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/eventshop/eventshop/pkg/httpserver"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
)

// readTimeout is how long the service's HTTP server gives a client to send a
// request, headers and body: the tests below wait it out.
var readTimeout = httpserver.DefaultLimits().ReadTimeout

// slowRequest is a request a client sends too slowly: fast at once, then
// slow a byte every interval, its last byte over and over, so that the
// request never ends.
type slowRequest struct {
	fast, slow string
	interval   time.Duration
}

// slowRequests are the two ways to hold a connection without finishing a
// request.
var slowRequests = map[string]slowRequest{
	"slowloris": {
		slow:     "POST /orders HTTP/1.1\r\nHost: order-service\r\nContent-Type: application/json\r\nX-Slow: a",
		interval: 250 * time.Millisecond,
	},
	"slow body": {
		fast: "POST /orders HTTP/1.1\r\nHost: order-service\r\nContent-Type: application/json\r\n" +
			"Content-Length: " + strconv.Itoa(len(sampleWithoutID)) + "\r\n\r\n",
		slow:     sampleWithoutID,
		interval: time.Second,
	},
}

// cut is how a slow client's connection ended.
type cut struct {
	// after is how long the server kept the connection, from the dial.
	after time.Duration
	// answer is all the server wrote before closing.
	answer []byte
	// err is why the client stopped without the server closing.
	err error
}

// send sends req on a new connection to addr, dialled within ctx, until the
// server closes it, or gives up after giveUp.
func (req slowRequest) send(ctx context.Context, addr string, giveUp time.Duration) cut {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return cut{err: err}
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, req.fast); err != nil {
		return cut{err: fmt.Errorf("send the first part at once: %w", err)}
	}
	var answer []byte
	buf := make([]byte, 512)
	for i := 0; time.Since(start) < giveUp; i++ {
		if _, err := conn.Write([]byte{req.slow[min(i, len(req.slow)-1)]}); err != nil {
			return cut{after: time.Since(start), answer: answer}
		}
		// Reading until the interval is over paces the bytes and sees the
		// server close the connection.
		_ = conn.SetReadDeadline(time.Now().Add(req.interval))
		for {
			n, err := conn.Read(buf)
			answer = append(answer, buf[:n]...)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				return cut{after: time.Since(start), answer: answer}
			}
		}
	}
	return cut{answer: answer, err: fmt.Errorf("the server kept the connection for %s", giveUp)}
}

// sendSlowRequests starts every slow request on its own connection to addr,
// dialled within ctx, and returns, for each, where its cut will be delivered.
func sendSlowRequests(ctx context.Context, addr string, giveUp time.Duration) map[string]<-chan cut {
	cuts := make(map[string]<-chan cut)
	for name, req := range slowRequests {
		c := make(chan cut, 1)
		go func() { c <- req.send(ctx, addr, giveUp) }()
		cuts[name] = c
	}
	return cuts
}

// checkAnswer fails the test unless a slow client heard nothing or a 4xx:
// the client is at fault, and nothing it sent can have placed an order.
func checkAnswer(t *testing.T, name string, answer []byte) {
	t.Helper()
	if len(answer) == 0 {
		return
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(answer)), nil)
	if err != nil {
		t.Errorf("%s: the server wrote %q, not an HTTP response: %v", name, answer, err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Errorf("%s: answered %q, want nothing or a 4xx", name, answer)
	}
	if bytes.Contains(answer, []byte("127.0.0.1")) {
		t.Errorf("%s: the answer names the server's sockets: %q", name, answer)
	}
}

// firstLine returns the status line of an answer, for the log.
func firstLine(answer []byte) []byte {
	line, _, _ := bytes.Cut(answer, []byte("\r\n"))
	return line
}

// postOrder posts the sample order to the service at addr, on a connection of
// its own, and checks that it is answered 202 within the client's timeout.
func postOrder(t *testing.T, addr string) {
	t.Helper()
	client := checkedClient(t, &http.Transport{DisableKeepAlives: true})
	client.Timeout = 5 * time.Second
	resp, err := postSample(t.Context(), client, "http://"+addr)
	if err != nil {
		t.Fatalf("POST /orders beside the slow clients: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST /orders beside the slow clients = %d %s, want 202", resp.StatusCode, b)
	}
}

// TestRunCutsSlowClients holds a slowloris (headers a byte at a time, never
// ended) and a slow body (a byte a second) against the running service: the
// server cuts each at its read timeout, while another client's order is
// answered 202 meanwhile, and the service then stops cleanly.
func TestRunCutsSlowClients(t *testing.T) {
	t.Parallel()
	svc, addr := startService(t, kafkatest.Config(t))
	svc.StopTimeout = integrationTimeout

	cuts := sendSlowRequests(t.Context(), addr, readTimeout+4*time.Second)
	// The order comes once the server holds both slow connections.
	time.Sleep(500 * time.Millisecond)
	postOrder(t, addr)
	for name, c := range cuts {
		got := <-c
		if got.err != nil {
			t.Errorf("%s: %v, want it cut after the read timeout, %s", name, got.err, readTimeout)
			continue
		}
		// A cut well before the read timeout would mean the request was
		// refused for something other than its slowness.
		if got.after < readTimeout-time.Second {
			t.Errorf("%s: cut after %s, before the read timeout, %s; the server said %q", name, got.after, readTimeout, got.answer)
		}
		t.Logf("%s: cut after %s, having heard %q", name, got.after.Round(time.Millisecond), firstLine(got.answer))
		checkAnswer(t, name, got.answer)
	}
	// The server is not worse for it.
	postOrder(t, addr)
	if err := svc.Stop(); err != nil {
		t.Errorf("run after stop: %v, want nil", err)
	}
}

// TestRunStopsWithSlowClientsConnected stops the service while a slowloris
// and a slow body are connected, as on SIGTERM: the slow clients are cut,
// by the read timeout at the latest, so run still returns nil within the
// shutdown timeout.
func TestRunStopsWithSlowClientsConnected(t *testing.T) {
	t.Parallel()
	shutdownTimeout := defaultConfig().ShutdownTimeout
	if shutdownTimeout <= readTimeout {
		t.Fatalf("shutdown timeout %s is not longer than the read timeout %s: a slow client outlasts the stop", shutdownTimeout, readTimeout)
	}
	svc, addr := startService(t, kafkatest.Config(t), "--shutdown-timeout", shutdownTimeout.String())
	svc.StopTimeout = shutdownTimeout

	cuts := sendSlowRequests(t.Context(), addr, shutdownTimeout+time.Second)
	postOrder(t, addr)
	// By now the slow body's headers are in and its handler waits for the
	// body: the stop finds a request in flight.
	time.Sleep(time.Second)
	start := time.Now()
	if err := svc.Stop(); err != nil {
		t.Errorf("run after a stop with slow clients connected: %v, want nil within the shutdown timeout, %s", err, shutdownTimeout)
	}
	t.Logf("run returned %s after the stop", time.Since(start).Round(time.Millisecond))
	for name, c := range cuts {
		got := <-c
		if got.err != nil {
			t.Errorf("%s: %v, want it cut by the stop", name, got.err)
			continue
		}
		t.Logf("%s: cut after %s, having heard %q", name, got.after.Round(time.Millisecond), firstLine(got.answer))
		checkAnswer(t, name, got.answer)
	}
}
