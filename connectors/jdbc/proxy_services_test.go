//go:build services

package jdbc

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// TestProxy (for tests only) forwards a loopback port to PostgreSQL; Down closes the listener
// and cuts every connection (clients see refused and reset connections,
// as when the server goes away), Up listens on the same port again.
type TestProxy struct {
	target string
	mu     sync.Mutex
	port   string
	ln     net.Listener
	conns  map[net.Conn]bool
}

func NewTestProxy(target string) (*TestProxy, error) {
	p := &TestProxy{target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	_, p.port, _ = net.SplitHostPort(ln.Addr().String())
	p.ln = ln
	go p.accept(ln)
	return p, nil
}

func (p *TestProxy) Addr() string { return "127.0.0.1:" + p.port }

func (p *TestProxy) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

func (p *TestProxy) serve(c net.Conn) {
	s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // went down meanwhile
		p.mu.Unlock()
		c.Close()
		s.Close()
		return
	}
	p.conns[c], p.conns[s] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) { io.Copy(dst, src); dst.Close(); src.Close(); done <- struct{}{} }
	go pipe(s, c)
	go pipe(c, s)
	<-done
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}

func (p *TestProxy) Down() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return errors.New("proxy already down")
	}
	p.ln.Close()
	p.ln = nil
	for c := range p.conns {
		c.Close()
	}
	return nil
}

func (p *TestProxy) Up() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return nil
	}
	var err error
	for i := 0; i < 50; i++ {
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.Addr()); err == nil {
			p.ln = ln
			go p.accept(ln)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("proxy: listen again on %s: %w", p.Addr(), err)
}

func (p *TestProxy) Close() {
	p.mu.Lock()
	ln := p.ln
	p.mu.Unlock()
	if ln != nil {
		p.Down()
	}
}
