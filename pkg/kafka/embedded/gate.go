package embedded

import (
	"errors"
	"net"
	"sync"
)

// gate is a listener that can be closed and opened again on the same
// address without its user noticing: while it is down, Accept waits, the
// address refuses connections, and the connections it accepted are closed.
type gate struct {
	network, addr string

	mu     sync.Mutex
	ln     net.Listener // nil while down
	opened chan struct{}
	conns  map[net.Conn]struct{}
	closed bool
}

var errGateClosed = errors.New("embedded broker: listener closed")

func listenGate(network, addr string) (*gate, error) {
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	return &gate{network: network, addr: ln.Addr().String(), ln: ln, opened: make(chan struct{}), conns: map[net.Conn]struct{}{}}, nil
}

// Accept returns the next connection, waiting through a time down.
func (g *gate) Accept() (net.Conn, error) {
	for {
		g.mu.Lock()
		ln, opened, closed := g.ln, g.opened, g.closed
		g.mu.Unlock()
		if closed {
			return nil, errGateClosed
		}
		if ln == nil {
			<-opened
			continue
		}
		c, err := ln.Accept()
		if err != nil {
			g.mu.Lock()
			wentDown := g.ln != ln && !g.closed
			g.mu.Unlock()
			if wentDown {
				continue
			}
			return nil, err
		}
		g.mu.Lock()
		if g.ln != ln { // went down while accepting
			g.mu.Unlock()
			c.Close()
			continue
		}
		tc := &trackedConn{Conn: c, g: g}
		g.conns[tc] = struct{}{}
		g.mu.Unlock()
		return tc, nil
	}
}

// down closes the listener and every connection it accepted.
func (g *gate) down() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln == nil || g.closed {
		return
	}
	g.ln.Close()
	g.ln = nil
	for c := range g.conns {
		c.(*trackedConn).Conn.Close()
	}
	clear(g.conns)
}

// up listens again on the same address.
func (g *gate) up() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil || g.closed {
		return nil
	}
	ln, err := net.Listen(g.network, g.addr)
	if err != nil {
		return err
	}
	g.ln = ln
	close(g.opened)
	g.opened = make(chan struct{})
	return nil
}

// Close ends Accept for good.
func (g *gate) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	var err error
	if g.ln != nil {
		err = g.ln.Close()
		g.ln = nil
	}
	close(g.opened)
	return err
}

func (g *gate) Addr() net.Addr { return gateAddr{g.network, g.addr} }

type gateAddr struct{ network, addr string }

func (a gateAddr) Network() string { return a.network }
func (a gateAddr) String() string  { return a.addr }

// trackedConn forgets itself in its gate when closed.
type trackedConn struct {
	net.Conn
	g *gate
}

func (c *trackedConn) Close() error {
	c.g.mu.Lock()
	delete(c.g.conns, c)
	c.g.mu.Unlock()
	return c.Conn.Close()
}
