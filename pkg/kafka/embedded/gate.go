package embedded

import (
	"context"
	"errors"
	"net"
	"sync"
)

// gate is a listener that can be closed and opened again on the same
// address without its user noticing: while it is down, Accept waits, the
// address refuses connections, and the connections it accepted are closed.
// It can also be frozen: connections stay open and are accepted, and no
// byte goes through them until it thaws.
type gate struct {
	network, addr string

	mu     sync.Mutex
	ln     net.Listener // nil while down
	opened chan struct{}
	conns  map[net.Conn]struct{}
	closed bool
	// thawed is closed when the gate is not frozen; while it is frozen,
	// what the connections read and write waits for it.
	thawed chan struct{}
}

var errGateClosed = errors.New("embedded broker: listener closed")

func listenGate(network, addr string) (*gate, error) {
	ln, err := net.Listen(network, addr) //nolint:noctx // kfake's ListenFn, the caller, has no context
	if err != nil {
		return nil, err
	}
	thawed := make(chan struct{})
	close(thawed)
	return &gate{network: network, addr: ln.Addr().String(), ln: ln, opened: make(chan struct{}),
		conns: map[net.Conn]struct{}{}, thawed: thawed}, nil
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
		tc := &trackedConn{Conn: c, g: g, closed: make(chan struct{})}
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
		tc := c.(*trackedConn)
		tc.closeOnce.Do(func() { close(tc.closed) })
		tc.Conn.Close()
	}
	clear(g.conns)
}

// up listens again on the same address.
func (g *gate) up(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil || g.closed {
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, g.network, g.addr)
	if err != nil {
		return err
	}
	g.ln = ln
	close(g.opened)
	g.opened = make(chan struct{})
	return nil
}

// freeze holds every byte read or written on the gate's connections, old
// and new, until thaw: the broker answers nothing, as a stopped process
// does, while its port still takes connections.
func (g *gate) freeze() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.thawed:
		g.thawed = make(chan struct{})
	default: // frozen already
	}
}

// thaw lets what freeze held through.
func (g *gate) thaw() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.thawed:
	default:
		close(g.thawed)
	}
}

// wait returns once the gate is not frozen, or c is closed.
func (g *gate) wait(c *trackedConn) {
	g.mu.Lock()
	thawed := g.thawed
	g.mu.Unlock()
	select {
	case <-thawed:
	case <-c.closed:
	}
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

// trackedConn forgets itself in its gate when closed, and holds its bytes
// while the gate is frozen.
type trackedConn struct {
	net.Conn
	g         *gate
	closeOnce sync.Once
	closed    chan struct{}
}

// Read returns what the client sent once the gate is not frozen: a request
// that arrives while it is frozen is not seen before the thaw.
func (c *trackedConn) Read(b []byte) (int, error) {
	c.g.wait(c)
	n, err := c.Conn.Read(b)
	c.g.wait(c)
	return n, err
}

func (c *trackedConn) Write(b []byte) (int, error) {
	c.g.wait(c)
	return c.Conn.Write(b)
}

func (c *trackedConn) Close() error {
	c.g.mu.Lock()
	delete(c.g.conns, c)
	c.g.mu.Unlock()
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}
