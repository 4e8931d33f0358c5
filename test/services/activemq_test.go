//go:build services

package services_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
)

func TestActiveMQStomp(t *testing.T) {
	a := addr("WEIR_STOMP_PORT", "61613")
	conn, err := stomp.Dial("tcp", a, stomp.ConnOpt.Host("localhost"), stomp.ConnOpt.HeartBeat(0, 0))
	if err != nil {
		hint(t, "activemq", err)
	}
	defer conn.Disconnect()

	queue := "/queue/" + unique("weir.smoke")
	sub, err := conn.Subscribe(queue, stomp.AckClientIndividual)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3
	for i := 0; i < n; i++ {
		if err := conn.Send(queue, "text/plain", []byte(fmt.Sprintf("msg-%d", i)), stomp.SendOpt.Receipt); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		select {
		case m := <-sub.C:
			if m.Err != nil {
				t.Fatal(m.Err)
			}
			if got, want := string(m.Body), fmt.Sprintf("msg-%d", i); got != want {
				t.Fatalf("message %d = %q, want %q", i, got, want)
			}
			if err := conn.Ack(m); err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("timed out waiting for message %d", i)
		}
	}
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}

	// Client acks really matter: a message received but not acked is
	// redelivered to the next subscriber.
	if err := conn.Send(queue, "text/plain", []byte("unacked"), stomp.SendOpt.Receipt); err != nil {
		t.Fatal(err)
	}
	c2, err := stomp.Dial("tcp", a, stomp.ConnOpt.Host("localhost"))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := c2.Subscribe(queue, stomp.AckClient)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-s2.C:
		if m.Err != nil || string(m.Body) != "unacked" {
			t.Fatalf("first delivery: %q %v", m.Body, m.Err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for first delivery")
	}
	c2.MustDisconnect() // without ack
	s3, err := conn.Subscribe(queue, stomp.AckClient)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-s3.C:
		if m.Err != nil || string(m.Body) != "unacked" {
			t.Fatalf("redelivery: %q %v", m.Body, m.Err)
		}
		if err := conn.Ack(m); err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for redelivery of the unacked message")
	}
	if err := s3.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
}
